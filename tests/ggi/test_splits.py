from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from biobft.ggi.splits import check_pairs, clean_pairs, gene_disjoint_split, pairs_from_graph


def test_clean_pairs_policy():
    pairs = pd.DataFrame(
        {
            "gene_a": ["A", "B", "A", "C", "C", "D", "E", "F", "E"],
            "gene_b": ["B", "A", "A", "D", "D", "C", "F", "E", "G"],
            "label": [1, 1, 0, 1, 1, 0, 0, 0, 1],
        }
    )
    # (A,B)+(B,A) same label -> one; (A,A) self; {C,D} with both labels -> all dropped;
    # (E,F)+(F,E) -> one; (E,G) kept
    out, counts = clean_pairs(pairs)
    assert out.to_dict("list") == {
        "gene_a": ["A", "E", "E"],
        "gene_b": ["B", "F", "G"],
        "label": [1, 0, 1],
    }
    assert out["label"].dtype == np.int8
    assert counts == {"n_raw": 9, "n_self": 1, "n_conflict": 3, "n_duplicate": 2, "n_clean": 3}
    kept, counts = clean_pairs(pairs, drop_self=False)
    assert ("A", "A") in set(zip(kept.gene_a, kept.gene_b))
    assert counts["n_self"] == 0


def _naive_clean_size(pairs):
    keys = {}
    for a, b, y in pairs.itertuples(index=False):
        if a != b:
            keys.setdefault(frozenset((a, b)), set()).add(y)
    return sum(len(v) == 1 for v in keys.values())


def test_clean_pairs_matches_naive_on_random():
    rng = np.random.default_rng(1)
    g = np.array(list("ABCDEFGH"))
    pairs = pd.DataFrame(
        {
            "gene_a": g[rng.integers(0, 8, 300)],
            "gene_b": g[rng.integers(0, 8, 300)],
            "label": rng.integers(0, 2, 300),
        }
    )
    out, counts = clean_pairs(pairs)
    assert len(out) == _naive_clean_size(pairs) == counts["n_clean"]
    keys = [frozenset(k) for k in zip(out.gene_a, out.gene_b)]
    assert len(set(keys)) == len(keys)
    assert sum(counts[k] for k in ("n_self", "n_conflict", "n_duplicate", "n_clean")) == 300


def test_check_pairs_errors():
    ok = pd.DataFrame({"gene_a": ["A", "B"], "gene_b": ["C", "D"], "label": [1, 0]})
    check_pairs(ok)
    with pytest.raises(ValueError, match=r"all 1 .*both"):
        check_pairs(ok.assign(label=[1, 1]))
    with pytest.raises(ValueError, match="must be 0 or 1"):
        check_pairs(ok.assign(label=[1, 2]))
    with pytest.raises(KeyError, match="no column"):
        check_pairs(ok.drop(columns="label"))
    with pytest.raises(ValueError, match="empty"):
        check_pairs(ok.iloc[:0])
    with pytest.raises(TypeError, match="DataFrame"):
        check_pairs([("A", "B", 1)])


def _graph():
    G = nx.barabasi_albert_graph(300, 3, seed=0)
    return nx.relabel_nodes(G, {i: f"G{i}" for i in G.nodes})


@pytest.mark.parametrize("negatives", ["uniform", "degree_matched"])
def test_pairs_from_graph(negatives):
    G = _graph()
    pairs = pairs_from_graph(G, negatives=negatives, ratio=2.0, seed=3)
    pos, neg = pairs[pairs.label == 1], pairs[pairs.label == 0]
    assert len(pos) == G.number_of_edges() and len(neg) == 2 * G.number_of_edges()
    assert {frozenset(e) for e in zip(pos.gene_a, pos.gene_b)} == {frozenset(e) for e in G.edges}
    neg_keys = [frozenset(e) for e in zip(neg.gene_a, neg.gene_b)]
    assert len(set(neg_keys)) == len(neg_keys)
    assert all(len(k) == 2 and not G.has_edge(*k) for k in neg_keys)
    assert pairs.label.dtype == np.int8
    again = pairs_from_graph(G, negatives=negatives, ratio=2.0, seed=3)
    pd.testing.assert_frame_equal(pairs, again)


def test_degree_matched_negatives_follow_degree():
    G = _graph()
    deg = pd.Series(dict(G.degree()))

    def neg_degree(negatives):
        neg = pairs_from_graph(G, negatives=negatives, seed=0).query("label == 0")
        counts = pd.concat([neg.gene_a, neg.gene_b]).value_counts()
        return spearmanr(deg, counts.reindex(deg.index, fill_value=0))[0]

    assert neg_degree("degree_matched") > 0.6
    assert neg_degree("uniform") < 0.3


def test_pairs_from_graph_bad_input():
    G = _graph()
    G.add_edge("G1", "G1")
    with pytest.raises(ValueError, match="self-loop"):
        pairs_from_graph(G)
    with pytest.raises(ValueError, match="at least 3 nodes"):
        pairs_from_graph(nx.Graph([("A", "B")]))
    with pytest.raises(ValueError, match="non-edges"):
        pairs_from_graph(nx.complete_graph(5), ratio=1.0)
    with pytest.raises(ValueError, match="directed"):
        pairs_from_graph(nx.DiGraph([("A", "B"), ("B", "C")]))
    with pytest.raises(ValueError, match="negatives must be"):
        pairs_from_graph(_graph(), negatives="random")


def test_gene_disjoint_split():
    pairs = pairs_from_graph(_graph(), seed=0)
    train, test = gene_disjoint_split(pairs, test_size=0.3, seed=1)
    g_train = set(train.gene_a) | set(train.gene_b)
    g_test = set(test.gene_a) | set(test.gene_b)
    assert not g_train & g_test
    # a dropped pair never has both genes on one side: it is a cross pair
    kept = set(zip(train.gene_a, train.gene_b)) | set(zip(test.gene_a, test.gene_b))
    dropped = [(a, b) for a, b in zip(pairs.gene_a, pairs.gene_b) if (a, b) not in kept]
    assert len(dropped) == len(pairs) - len(train) - len(test) > 0
    for a, b in dropped:
        assert not ({a, b} <= g_train or {a, b} <= g_test)
    # a 30% gene split keeps roughly 0.3**2 and 0.7**2 of the pairs
    assert 0.03 < len(test) / len(pairs) < 0.2 and 0.35 < len(train) / len(pairs) < 0.65
    assert set(train.label) == set(test.label) == {0, 1}


def test_gene_disjoint_split_bad_input():
    pairs = pd.DataFrame({"gene_a": ["A", "B", "C"], "gene_b": ["B", "C", "A"], "label": [1, 0, 1]})
    with pytest.raises(ValueError, match="too few for a gene-disjoint split"):
        gene_disjoint_split(pairs, test_size=0.5)
    big = pairs_from_graph(_graph(), seed=0)
    with pytest.raises(ValueError, match="test_size"):
        gene_disjoint_split(big, test_size=1.5)
    with pytest.raises(ValueError, match="all 1"):
        gene_disjoint_split(big.assign(label=1))


@pytest.mark.realdata
def test_gene2vec_cleaning_counts(data_mirror):
    from biobft.datasets.gene2vec import gene2vec_pairs

    _, counts = clean_pairs(gene2vec_pairs("test"))
    # 6 self pairs; 30 unordered pairs carry both labels; the file has 21,448 lines
    assert counts["n_raw"] == 21448 and counts["n_self"] == 6
    assert counts["n_clean"] == 21448 - 6 - counts["n_conflict"] - counts["n_duplicate"]
    assert counts["n_conflict"] >= 60  # >= 2 rows for each of the 30 contradictory pairs


def test_pairs_from_graph_ignores_graph_iteration_order():
    rng = np.random.default_rng(3)
    edges = [(f"G{a}", f"G{b}") for a, b in rng.integers(0, 40, size=(80, 2)) if a != b]
    g1 = nx.Graph(edges)
    g2 = nx.Graph()
    g2.add_nodes_from(sorted(g1.nodes(), reverse=True))
    g2.add_edges_from([(b, a) for a, b in reversed(edges)])
    for negatives in ("uniform", "degree_matched"):
        p1 = pairs_from_graph(g1, negatives=negatives, seed=5)
        p2 = pairs_from_graph(g2, negatives=negatives, seed=5)
        pd.testing.assert_frame_equal(p1, p2)
