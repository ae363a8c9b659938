"""biobft.perturb.de_neighbours: the neighbour kernel against a naive loop, the graph similarity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from biobft.perturb.de_neighbours import GraphPairs, neighbour_scores


def test_neighbour_scores_match_a_naive_loop():
    rng = np.random.default_rng(3)
    n_t, n_q, n_g = 25, 6, 5
    sim = rng.normal(size=(n_q, n_t))
    t_pert = np.repeat(np.arange(n_t), n_g)
    t_gene = np.tile(np.arange(n_g), n_t)
    keep = rng.random(len(t_pert)) < 0.7
    t_pert, t_gene = t_pert[keep], t_gene[keep]
    t_y = rng.integers(0, 2, len(t_pert))
    q_pert = np.repeat(np.arange(n_q), n_g)
    q_gene = np.tile(np.arange(n_g), n_q)
    ks, temps = (3, 100), (0.1, 1.0)
    got = neighbour_scores(
        sim, t_pert, t_gene, t_y, q_pert, q_gene, ks=ks, temperatures=temps, fallback=np.zeros(30)
    )
    for row, (k, temp) in enumerate([(k, t) for k in ks for t in temps]):
        for i, (q, g) in enumerate(zip(q_pert, q_gene)):
            cand = np.flatnonzero(t_gene == g)
            s = sim[q, t_pert[cand]]
            top = cand[np.argsort(-s, kind="stable")[:k]]
            st = sim[q, t_pert[top]]
            w = np.exp((st - st.max()) / temp)
            assert got[row, i] == pytest.approx(w @ t_y[top] / w.sum(), abs=1e-12)


def test_graph_similarity_is_the_scaled_symmetric_edge_score():
    # any two of the four perturbations hold a readout gene with both labels (a finite CV score)
    train = pd.DataFrame(
        {
            "pert": ["A", "B", "C", "D"] * 2,
            "gene": ["g1"] * 4 + ["g2"] * 4,
            "label": [1, 0, 1, 0, 1, 1, 0, 0],
        }
    )
    network = pd.DataFrame(
        {"gene_a": ["A", "C", "D"], "gene_b": ["B", "A", "Z"], "combined_score": [400, 800, 200]}
    )
    model = GraphPairs(network=network, ks=(1,), temperatures=(0.1,), n_folds=2).fit(train)
    sim, has = model._similarity(["A", "B", "D", "Q"], ["A", "B", "C"])
    want = np.array(
        [
            [0.0, 0.5, 1.0],  # A-B 400/800, A-C 800/800
            [0.5, 0.0, 0.0],  # edges count in both directions
            [0.0, 0.0, 0.0],  # D is in the network, with no training neighbour
            [0.0, 0.0, 0.0],  # Q is not in the network
        ]
    )
    np.testing.assert_array_equal(sim, want)
    np.testing.assert_array_equal(has, [True, True, False, False])


def test_no_edge_is_no_neighbour_so_row_order_cannot_matter():
    """With min_similarity=0, candidates without an edge never fill the top k in row order: a
    query whose candidates are all unlinked gets the fallback, whatever the training order."""
    sim = np.array([[0.0, 0.0, 0.0, 0.9], [0.0, 0.0, 0.0, 0.0]])  # query 1 has no neighbour
    labels = np.array([1, 1, 0, 0])
    kw = dict(ks=(2,), temperatures=(0.1,), fallback=np.array([0.5, 0.5]), min_similarity=0.0)
    q = (np.array([0, 1]), np.array([0, 0]))
    got, empty = neighbour_scores(sim, np.arange(4), np.zeros(4, int), labels, *q,
                                  return_empty=True, **kw)  # fmt: skip
    # query 0: its one neighbour (label 0) only; query 1: the fallback, reported as empty
    np.testing.assert_allclose(got[0], [0.0, 0.5])
    assert empty.tolist() == [False, True]
    order = np.array([3, 2, 1, 0])  # the same training pairs in another row order
    again = neighbour_scores(sim[:, order], np.arange(4), np.zeros(4, int), labels[order], *q, **kw)
    np.testing.assert_allclose(again, got)
    # without the floor, zero-similarity rows fill the second slot in row order (the old bug)
    loose = {**kw, "min_similarity": None}
    a = neighbour_scores(sim, np.arange(4), np.zeros(4, int), labels, *q, **loose)
    b = neighbour_scores(sim[:, order], np.arange(4), np.zeros(4, int), labels[order], *q, **loose)
    assert not np.allclose(a, b)


def test_graph_scores_do_not_depend_on_the_row_order_of_training_pairs(de_toy):
    from biobft.perturb import check_de_pairs

    pairs, _, network = de_toy
    data = check_de_pairs(pairs)
    shuffled = data.train.sample(frac=1, random_state=3).reset_index(drop=True)
    kw = dict(network=network.iloc[::3], ks=(20,), temperatures=(0.5,))  # sparse: many ties
    a = GraphPairs(**kw).fit(data.train).predict(data.test)
    b = GraphPairs(**kw).fit(shuffled).predict(data.test)
    np.testing.assert_allclose(a, b, atol=1e-12)


@pytest.mark.parametrize("kind", ["graph", "knn"])
def test_tied_neighbours_do_not_depend_on_the_row_order(de_toy, kind):
    """Equal similarities (an unweighted network; duplicated embedding vectors) are broken by
    perturbation name, so shuffling the training rows changes no score."""
    from biobft.perturb import check_de_pairs, get_de_predictor

    pairs, table, network = de_toy
    data = check_de_pairs(pairs)
    shuffled = data.train.sample(frac=1, random_state=5).reset_index(drop=True)
    if kind == "graph":
        kw = dict(network=network.drop(columns="combined_score"), ks=(2,), temperatures=(0.5,))
    else:  # every perturbation of a programme shares one vector: ties everywhere
        tied = table.copy()
        tied.iloc[:] = np.round(tied.to_numpy(), 0)
        kw = dict(embedding=tied, ks=(2,), temperatures=(0.5,))
    a = get_de_predictor(kind, **kw).fit(data.train).predict(data.test)
    b = get_de_predictor(kind, **kw).fit(shuffled).predict(data.test)
    np.testing.assert_allclose(a, b, atol=1e-12)
