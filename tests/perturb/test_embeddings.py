from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from biobft.perturb.embeddings import emap_table, string_table
from biobft.perturb.predictors import PREDICTORS, Shrink


def _emap(rng, genes):
    x = rng.normal(size=(len(genes), len(genes)))
    x = x + x.T
    return pd.DataFrame(x, index=genes, columns=genes)


def test_emap_table_rows_zero_diagonal_and_alias():
    rng = np.random.default_rng(0)
    e = _emap(rng, ["A", "KIAA1804", "C"])
    tab = emap_table(e)
    assert list(tab.index) == ["A", "MAP3K21", "C"]
    ref = e.to_numpy().copy()
    np.fill_diagonal(ref, 0)
    np.testing.assert_allclose(tab.to_numpy(), ref.astype(np.float32))
    keep = emap_table(e, diagonal="keep", aliases={})
    assert list(keep.index) == ["A", "KIAA1804", "C"]
    np.testing.assert_allclose(keep.to_numpy(), e.to_numpy().astype(np.float32))


def test_emap_table_bad_input():
    with pytest.raises(ValueError, match="square"):
        emap_table(pd.DataFrame(np.zeros((2, 3))))
    e = _emap(np.random.default_rng(1), ["A", "B"])
    with pytest.raises(ValueError, match="diagonal"):
        emap_table(e, diagonal="drop")
    e.iloc[0, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        emap_table(e)


def test_string_table_matches_dense_rwr():
    edges = pd.DataFrame(
        {
            "gene_a": ["A", "A", "B", "C", "D"],
            "gene_b": ["B", "C", "C", "D", "E"],
            "combined_score": [900, 400, 700, 800, 500],
        }
    )
    tab = string_table(edges, ["C", "A", "ZZZ"], restart=0.3, n_iter=500, tol=1e-14)
    assert list(tab.index) == ["C", "A"]  # absent gene left out
    nodes = ["A", "B", "C", "D", "E"]  # columns: nodes in order of first appearance
    n = len(nodes)
    A = np.zeros((n, n))
    for a, b, s in edges.itertuples(index=False):
        i, j = nodes.index(a), nodes.index(b)
        A[i, j] = A[j, i] = s / 1000
    W = A / A.sum(axis=0, keepdims=True)
    for g in ["C", "A"]:
        e = np.zeros(n)
        e[nodes.index(g)] = 1
        p = np.linalg.solve(np.eye(n) - 0.7 * W, 0.3 * e)  # closed-form RWR
        p[nodes.index(g)] = 0
        np.testing.assert_allclose(tab.loc[g].to_numpy(), p, rtol=1e-4, atol=1e-6)
    with pytest.raises(KeyError, match="combined_score"):
        string_table(edges.drop(columns="combined_score"), ["A"])
    with pytest.raises(ValueError, match="restart"):
        string_table(edges, ["A"], restart=0)


def _planted(rng, n_pert=12, n_genes=40, noise=0.0):
    genes = [f"G{i}" for i in range(n_pert)]
    emb = rng.normal(size=(n_pert, 6))
    W = rng.normal(size=(6, n_genes))
    table = pd.DataFrame(emb.astype(np.float32), index=genes)
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    delta = unit @ W + noise * rng.normal(size=(n_pert, n_genes))
    return genes, table, delta


def test_shrink_matches_naive_inner_loo_and_limits():
    rng = np.random.default_rng(2)
    genes, table, delta = _planted(rng, noise=0.5)
    perts = [(g,) for g in genes]
    lambdas = (0.0, 0.5, 1.0)
    model = Shrink(embedding=table, lambdas=lambdas).fit(perts, delta)
    # naive reference: inner leave-one-out with the base ridge, mean Pearson per lambda
    ref = np.zeros(len(lambdas))
    for i in range(len(perts)):
        tr = [j for j in range(len(perts)) if j != i]
        base = PREDICTORS["ridge"](embedding=table).fit([perts[j] for j in tr], delta[tr])
        mu = delta[tr].mean(axis=0)
        r = base.predict([perts[i]])[0] - mu
        ref += [np.corrcoef(mu + lam * r, delta[i])[0, 1] for lam in lambdas]
    ref /= len(perts)
    np.testing.assert_allclose(model.cv_scores_, ref, rtol=1e-10)
    assert model.lambda_ == lambdas[int(np.argmax(ref))]
    # prediction is mean + lambda * (ridge - mean)
    full = PREDICTORS["ridge"](embedding=table).fit(perts, delta)
    new = [("G0",), ("G3",)]
    expect = delta.mean(0) + model.lambda_ * (full.predict(new) - delta.mean(0))
    np.testing.assert_allclose(model.predict(new), expect)
    # lambda = 0 only -> train_mean exactly
    zero = Shrink(embedding=table, lambdas=(0.0,)).fit(perts, delta)
    np.testing.assert_allclose(zero.predict(new), np.tile(delta.mean(0), (2, 1)))


def test_shrink_keeps_signal_when_planted_and_bad_base():
    rng = np.random.default_rng(3)
    genes, table, delta = _planted(rng, n_pert=20, noise=0.0)
    model = Shrink(embedding=table).fit([(g,) for g in genes], delta)
    assert model.lambda_ >= 0.8
    with pytest.raises(ValueError, match="shrink base"):
        Shrink(embedding=table, base="nope")


# --- mutation-tested details (issue 15) -------------------------------------------------------


def test_emap_table_metadata_and_exact_errors():
    from biobft.embed.table import table_metadata

    e = _emap(np.random.default_rng(4), ["A", "B", "C"])
    before = e.copy()
    assert table_metadata(emap_table(e))["model"] == "emap"
    assert table_metadata(emap_table(e))["source"] == "emap"
    assert table_metadata(emap_table(e, source="norman2019"))["source"] == "norman2019"
    with pytest.raises(TypeError, match=r"^emap must be a pandas DataFrame, got ndarray$"):
        emap_table(e.to_numpy())
    swapped = e.set_axis(["C", "B", "A"], axis=1)  # square, but columns != index
    msg = "emap must be a square gene x gene matrix with equal index and columns; got shape (3, 3)"
    with pytest.raises(ValueError, match="^" + re.escape(msg) + "$"):
        emap_table(swapped)
    with pytest.raises(ValueError, match=r"^diagonal must be 'zero' or 'keep', got 'drop'$"):
        emap_table(e, diagonal="drop")
    pd.testing.assert_frame_equal(e, before)  # the diagonal was zeroed on a copy, not in e
    e.iloc[1, 2] = np.inf
    nan = "emap has NaN/inf entries; fill them (e.g. emap.fillna(0)) first"
    with pytest.raises(ValueError, match="^" + re.escape(nan) + "$"):
        emap_table(e)


def _dense_rwr(nodes, edges, seed, restart, n_iter=None, return_walk=False):
    """RWR by hand: closed form, or ``n_iter`` plain power steps; seed entry zeroed."""
    n = len(nodes)
    A = np.zeros((n, n))
    for a, b, s in edges:
        i, j = nodes.index(a), nodes.index(b)
        A[i, j] = A[j, i] = s
    deg = A.sum(axis=0)
    W = np.zeros_like(A)
    W[:, deg > 0] = A[:, deg > 0] / deg[deg > 0]
    if return_walk:
        return W
    e = np.zeros(n)
    e[nodes.index(seed)] = 1.0
    if n_iter is None:
        p = np.linalg.solve(np.eye(n) - (1 - restart) * W, restart * e)
    else:
        p = e.copy()
        for _ in range(n_iter):
            p = (1 - restart) * W @ p + restart * e
    p[nodes.index(seed)] = 0.0
    return p


def test_string_table_limits_weights_metadata_and_errors():
    from biobft.embed.table import table_metadata

    rows = [("A", "B", 900), ("A", "C", 300), ("B", "C", 600), ("C", "D", 800), ("D", "E", 0)]
    edges = pd.DataFrame(rows, columns=["gene_a", "gene_b", "w"])
    nodes = ["A", "B", "C", "D", "E"]
    one = string_table(edges, ["A", "A", "E"], score="w", restart=0.4, n_iter=1)
    assert list(one.index) == ["A", "E"]  # de-duplicated, in request order
    for g in ("A", "E"):  # E's only edge has weight 0: no walk leaves it, no NaN
        want = _dense_rwr(nodes, rows, g, 0.4, n_iter=1)
        np.testing.assert_allclose(one.loc[g].to_numpy(), want, rtol=1e-6, atol=1e-7)
    # a huge tol stops after the first step whatever n_iter is
    early = string_table(edges, ["A"], score="w", restart=0.4, n_iter=50, tol=1e9)
    np.testing.assert_allclose(early.to_numpy(), one.loc[["A"]].to_numpy())
    # the stop rule: the first step whose largest change is below tol; else n_iter (default 50)
    for restart, tol, kw in [(0.4, 1e-2, {"tol": 1e-2}), (0.05, 1e-8, {})]:
        W = _dense_rwr(nodes, rows, "A", restart, n_iter=0, return_walk=True)
        e = np.eye(5)[0]
        p = e.copy()
        for _ in range(50):
            new = (1 - restart) * W @ p + restart * e
            done = np.abs(new - p).max() < tol
            p = new
            if done:
                break
        p[0] = 0.0
        got = string_table(edges, ["A"], score="w", restart=restart, **kw)
        np.testing.assert_allclose(got.loc["A"].to_numpy(), p, rtol=1e-6, atol=1e-8)
    full = string_table(edges, ["A"], score="w", restart=0.4, n_iter=2000, tol=1e-15)
    want = _dense_rwr(nodes, rows, "A", 0.4)
    np.testing.assert_allclose(full.loc["A"].to_numpy(), want, rtol=1e-5, atol=1e-7)
    meta = table_metadata(string_table(edges, ["A"], score="w", restart=1.0, source="net"))
    assert (meta["model"], meta["source"], meta["restart"]) == ("rwr", "net", 1.0)
    assert table_metadata(full)["source"] == "string"
    with pytest.raises(ValueError, match=r"^none of the requested genes is a node of the network$"):
        string_table(edges, ["Z"], score="w")
    msg = (
        "edges has no column(s) ['gene_b', 'w']; a network needs one row per edge with columns "
        "['gene_a', 'gene_b'] (gene symbols) and a weight column 'w' (columns: ['gene_a'])"
    )
    with pytest.raises(KeyError, match=re.escape(msg)):
        string_table(edges.drop(columns=["gene_b", "w"]), ["A"], score="w")
    for bad in (0.0, 1.5, -0.1):
        with pytest.raises(ValueError, match=rf"^restart must lie in \(0, 1\], got {bad}$"):
            string_table(edges, ["A"], score="w", restart=bad)


def test_perturbation_embedder_errors_missing_and_fill():
    from biobft.embed.table import make_table
    from biobft.perturb.embeddings import PerturbationEmbedder

    vec = np.array([[3.0, 4.0], [0.0, 0.0], [1.0, 0.0]])
    table = make_table(vec, ["A", "Z0", "B"], model="m", source="s")
    emb = PerturbationEmbedder(table)
    feats, ok = emb.transform([("A",), ("Z0",), ("A", "A"), ("A", "B")])
    s = np.array([0.6, 0.8]) + np.array([1.0, 0.0])
    np.testing.assert_allclose(feats, [[0.6, 0.8], [0, 0], [0.6, 0.8], s / np.linalg.norm(s)])
    assert ok.tolist() == [True, True, True, True]  # a zero vector is still a vector
    ghosts = [f"x{i:02d}" for i in range(12)]
    msg = (
        f"12 perturbed gene(s) absent from the embedding table: {ghosts[:10]}; "
        "use a table that covers them or pass missing='skip' or 'mean' (command line: "
        "--missing skip)"
    )
    with pytest.raises(KeyError, match=re.escape(msg)):
        emb.check([(g,) for g in ghosts])
    both = PerturbationEmbedder(table, var_names=["A", "B"])
    with pytest.raises(KeyError, match=r"absent from the embedding table and adata\.var_names: "):
        both.check([("x",), ("y",)])
    one_measured = PerturbationEmbedder(table, var_names=["A", "x"])
    with pytest.raises(KeyError, match=r"absent from the embedding table: \['x', 'y'\]"):
        one_measured.check([("x",), ("y",)])
    with pytest.raises(
        ValueError, match=r"^missing must be 'error', 'skip' or 'mean'; got 'drop'$"
    ):
        PerturbationEmbedder(table, missing="drop")
    skip = PerturbationEmbedder(table, missing="skip")
    assert skip.check([("y", "A"), ("x",)]) == ["x", "y"]
    skip.check([("w",)])
    assert skip.missing_ == ["w", "x", "y"]  # accumulated, sorted
    mean = PerturbationEmbedder(table, missing="mean")
    assert mean.fill_ is None
    feats, ok = mean.transform([("q",), ("A",)])  # before any fit: no fill to use
    assert ok.tolist() == [False, True] and not feats[0].any()
    feats, ok = mean.fit_transform([("q",), ("r",)])  # nothing embedded: no fill
    assert mean.fill_ is None and not ok.any() and not feats.any()
    mean.fit_transform([("A",), ("q",)])
    np.testing.assert_allclose(mean.fill_, [0.6, 0.8])
    mean.fit_transform([("B",)])  # refitting replaces the fill
    np.testing.assert_allclose(mean.fill_, [1.0, 0.0])


def test_response_table_ids_source_and_empty():
    from biobft.embed.table import table_metadata
    from biobft.perturb._synthetic import synthetic_perturbation_data
    from biobft.perturb.embeddings import response_table
    from biobft.perturb.pseudobulk import pseudobulk

    adata, _, _ = synthetic_perturbation_data(n_perturbed=5, n_doubles=1, seed=5)
    pb = pseudobulk(adata, control="control", n_top_de=0)
    singles = pb.perturbations(kind="single")
    tab = response_table(pb, ids=singles[:2], source="norman")
    assert list(tab.index) == sorted(g[0] for g in pb.genes_of(singles[:2]))
    np.testing.assert_allclose(
        tab.loc[pb.genes_of(singles[:1])[0][0]].to_numpy(), pb.delta(singles[:1])[0], rtol=1e-6
    )
    meta = table_metadata(tab)
    assert (meta["model"], meta["source"]) == ("response", "norman")
    full = response_table(pb)  # default: every single, never a double
    assert table_metadata(full)["source"] == "pseudobulk"
    assert list(full.index) == sorted(g[0] for g in pb.genes_of(singles))
    assert pb.perturbations(kind="double")  # there is a double that must be left out
    for t in singles:
        np.testing.assert_allclose(
            full.loc[pb.genes_of([t])[0][0]].to_numpy(), pb.delta([t])[0], rtol=1e-5, atol=1e-7
        )
    with pytest.raises(
        ValueError, match=r"^response_table needs at least one single perturbation$"
    ):
        response_table(pb, ids=[])
