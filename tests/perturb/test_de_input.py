from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from biobft.perturb import DE_PREDICTORS, check_de_pairs, de_input, de_pairs, evaluate_de_pairs


@pytest.fixture(scope="module")
def toy(de_toy):
    return de_toy


def test_door_is_reexported_from_de_pairs():
    assert de_pairs.check_de_pairs is de_input.check_de_pairs is check_de_pairs
    assert de_pairs.DEPairs is de_input.DEPairs


def _bad(pairs: pd.DataFrame, kind: str) -> pd.DataFrame:
    df = pairs.copy()
    if kind == "missing_column":
        return df.drop(columns="split")
    if kind == "labels":
        df.loc[0, "label"] = 2
        return df
    if kind == "no_test":
        return df.assign(split="train")
    if kind == "leak":
        p = df.loc[df["split"] == "test", "pert"].iloc[0]
        extra = df.loc[df["pert"] == p].head(1).assign(split="train", gene="GX")
        return pd.concat([df, extra], ignore_index=True)
    if kind == "empty_gene":
        return df.assign(gene="")
    if kind == "nan":
        df["pert"] = df["pert"].astype(object)
        df.loc[3, "pert"] = None
        return df
    if kind == "conflict":
        return pd.concat([df, df.head(1).assign(label=1 - df["label"].iloc[0])], ignore_index=True)
    raise AssertionError(kind)


@pytest.mark.parametrize(
    ("kind", "error", "match"),
    [
        ("missing_column", KeyError, "no column"),
        ("labels", ValueError, "must be 0 or 1"),
        ("no_test", ValueError, "no 'test' rows"),
        ("leak", ValueError, "allow_shared_perturbations"),
        ("empty_gene", ValueError, "empty in every row"),
        ("nan", ValueError, "NaN"),
        ("conflict", ValueError, "both labels"),
    ],
)
def test_bad_pairs_one_clear_error_before_any_fit(toy, kind, error, match, monkeypatch):
    pairs, table, network = toy
    bad = _bad(pairs, kind)

    def boom(*a, **k):  # any fit would be work done before the error
        raise AssertionError("a predictor was fitted before the input was rejected")

    for cls in DE_PREDICTORS.values():
        monkeypatch.setattr(cls, "fit", boom)
    with pytest.raises(error, match=match):
        check_de_pairs(bad)
    with pytest.raises(error, match=match):
        evaluate_de_pairs(bad, embedding=table, network=network)


def test_leak_allowed_on_request_and_duplicates_collapse(toy):
    pairs, _, _ = toy
    data = check_de_pairs(pd.concat([pairs, pairs.head(3)], ignore_index=True))
    assert data.n_duplicates == 3
    assert len(data.train) + len(data.test) == len(pairs)
    leak = _bad(pairs, "leak")
    shared = check_de_pairs(leak, allow_shared_perturbations=True)
    assert set(shared.train["pert"]) & set(shared.test["pert"])


# --------------------------------------------------------------------------- networks (trial bug 2)
def _bad_network(network: pd.DataFrame, kind: str):
    net = network.copy()
    if kind == "not_a_frame":
        return net.to_numpy().tolist()
    if kind == "other_columns":  # the trial's case: crashed with a bare KeyError after knn's fit
        return net.rename(columns={"gene_a": "a", "gene_b": "b"})
    if kind == "no_edges":
        return net.head(0)
    if kind == "nan_gene":
        net.loc[2, "gene_b"] = None
        return net
    if kind == "numeric_ids":
        return net.assign(gene_a=range(len(net)))
    if kind == "empty_gene":
        net.loc[1, "gene_a"] = "  "
        return net
    if kind == "text_weight":
        return net.assign(combined_score="high")
    if kind == "negative_weight":
        net.loc[0, "combined_score"] = -5
        return net
    if kind == "nan_weight":
        net["combined_score"] = net["combined_score"].astype(float)
        net.loc[0, "combined_score"] = float("nan")
        return net
    raise AssertionError(kind)


NETWORK_CASES = [
    ("not_a_frame", TypeError, r"network must be a pandas DataFrame with columns \['gene_a'"),
    ("other_columns", KeyError, r"network has no column\(s\) \['gene_a', 'gene_b'\].*rename"),
    ("no_edges", ValueError, "network has no edges"),
    ("nan_gene", ValueError, r"network\['gene_b'\] has 1 NaN/None value.*dropna"),
    ("numeric_ids", TypeError, r"network\['gene_a'\] must hold gene symbols \(str\)"),
    ("empty_gene", ValueError, r"network\['gene_a'\] is empty in 1 row"),
    ("text_weight", ValueError, r"network\['combined_score'\] must be numeric"),
    ("negative_weight", ValueError, "1 NaN, infinite or negative weight"),
    ("nan_weight", ValueError, "1 NaN, infinite or negative weight"),
]


@pytest.mark.parametrize(("kind", "error", "match"), NETWORK_CASES)
def test_bad_network_one_clear_error_before_any_fit(toy, kind, error, match, monkeypatch):
    from biobft.perturb import de_neighbours

    pairs, table, network = toy
    bad = _bad_network(network, kind)

    def boom(*a, **k):
        raise AssertionError("a predictor was fitted before the network was rejected")

    for cls in DE_PREDICTORS.values():
        monkeypatch.setattr(cls, "fit", boom)
    with pytest.raises(error, match=match):
        de_input.check_network(bad)
    # knn first: before, the graph's KeyError came only after knn had been fitted
    with pytest.raises(error, match=match):
        evaluate_de_pairs(pairs, embedding=table, network=bad, predictors=["knn", "graph"])
    with pytest.raises(error, match=match):  # the ensemble's graph member reads it too
        evaluate_de_pairs(pairs, embedding=table, network=bad, predictors=["knn", "ensemble"])
    with pytest.raises(error, match=match):  # and a graph made directly refuses it when made
        de_neighbours.GraphPairs(network=bad)
    with pytest.raises(error, match=r"the network of 'g'.*" + match):  # per-spec network
        evaluate_de_pairs(pairs, embedding=table, predictors={"g": {"predictor": "graph",
                                                                  "network": bad}})  # fmt: skip


def test_network_without_perturbed_genes_or_named_weight_is_refused(toy, monkeypatch):
    pairs, table, network = toy
    for cls in DE_PREDICTORS.values():
        monkeypatch.setattr(cls, "fit", lambda *a, **k: pytest.fail("fitted before the error"))
    other = network.assign(gene_a="X" + network["gene_a"], gene_b="X" + network["gene_b"])
    with pytest.raises(ValueError, match=r"has none of the \d+ perturbed genes .* as a node"):
        evaluate_de_pairs(pairs, embedding=table, network=other, predictors=["knn", "graph"])
    with pytest.raises(KeyError, match=r"no column\(s\) \['weight'\].*and a weight column") as err:
        spec = {"g": {"predictor": "graph", "score_col": "weight"}}
        evaluate_de_pairs(pairs, embedding=table, network=network, predictors=spec)
    # the fix offered is about the weight column, not a rename of the gene columns
    assert "pass score_col=" in str(err.value) and "rename" not in str(err.value)
    # without predictors that read it, a network is not looked at (no graph, no ensemble)
    monkeypatch.undo()
    res = evaluate_de_pairs(pairs, embedding=table, network=other, predictors=["knn"],
                            baselines=False, n_folds=2)  # fmt: skip
    assert list(res["predictor"]) == ["knn"]


def test_check_network_returns_what_graph_uses(toy):
    import networkx as nx
    import numpy as np

    _, _, network = toy
    edges = de_input.check_network(network.assign(gene_a=" " + network["gene_a"]))
    assert list(edges.columns) == ["gene_a", "gene_b", "w"]
    assert edges["gene_a"].tolist() == network["gene_a"].tolist()  # stripped
    np.testing.assert_array_equal(edges["w"], network["combined_score"].astype(float))
    # no weight column: every edge weighs 1 (documented); score_col=None ignores it
    assert (de_input.check_network(network.drop(columns="combined_score"))["w"] == 1).all()
    assert (de_input.check_network(network, score_col=None)["w"] == 1).all()
    g = nx.Graph()
    g.add_edge("A", "B", combined_score=700)
    g.add_edge("B", "C")
    got = de_input.check_network(g).sort_values("gene_a").reset_index(drop=True)
    assert got.to_dict("list") == {"gene_a": ["A", "B"], "gene_b": ["B", "C"], "w": [700.0, 1.0]}
    g.add_edge(1, "C")
    with pytest.raises(TypeError, match="must hold gene symbols"):
        de_input.check_network(g)


def test_check_network_property():
    """Any edge list of symbols and finite weights >= 0 passes unchanged; one NaN anywhere in a
    required column is one ValueError naming that column (hypothesis)."""
    import numpy as np
    from hypothesis import given, settings
    from hypothesis import strategies as st

    symbol = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-", min_size=1, max_size=6)
    edge = st.tuples(symbol, symbol, st.floats(0, 1000, allow_nan=False))

    @settings(max_examples=30, deadline=None)
    @given(st.lists(edge, min_size=1, max_size=12), st.data())
    def check(rows, data):
        net = pd.DataFrame(rows, columns=["gene_a", "gene_b", "combined_score"])
        if not (net["combined_score"] > 0).any():  # no edge would link anything
            with pytest.raises(ValueError, match="is 0 on every edge"):
                de_input.check_network(net)
            return
        got = de_input.check_network(net)
        assert got["gene_a"].tolist() == net["gene_a"].tolist()
        assert got["gene_b"].tolist() == net["gene_b"].tolist()
        np.testing.assert_array_equal(got["w"], net["combined_score"])
        col = data.draw(st.sampled_from(["gene_a", "gene_b", "combined_score"]))
        row = data.draw(st.integers(0, len(net) - 1))
        bad = net.astype({col: object})
        bad.loc[row, col] = None
        with pytest.raises(ValueError, match=rf"network\['{col}'\] has .*NaN"):
            de_input.check_network(bad)

    check()


def test_weights_under_another_name_are_not_ignored():
    """A fresh-user trial: a DataFrame column or graph attribute called "weight" was ignored
    (every edge weighed 1, results identical to an unweighted network)."""
    import networkx as nx

    net = pd.DataFrame({"gene_a": ["A", "B"], "gene_b": ["B", "C"], "weight": [0.9, 0.1]})
    with pytest.raises(ValueError, match=r"numeric column\(s\) \['weight'\].*score_col='weight'"):
        de_input.check_network(net)
    np.testing.assert_array_equal(de_input.check_network(net, score_col="weight")["w"], [0.9, 0.1])
    np.testing.assert_array_equal(de_input.check_network(net, score_col=None)["w"], [1.0, 1.0])
    g = nx.Graph()
    g.add_edge("A", "B", weight=0.9)
    with pytest.raises(ValueError, match=r"attribute\(s\) \['weight'\].*score_col='weight'"):
        de_input.check_network(g)
    assert de_input.check_network(g, score_col="weight")["w"].tolist() == [0.9]
    with pytest.raises(ValueError, match="is 0 on every edge"):
        de_input.check_network(net.assign(weight=0.0), score_col="weight")


def test_a_repeated_edge_counts_once_at_its_largest_weight():
    """A fresh-user trial: duplicate rows were added up by the sparse matrix (weights above the
    documented [0, 1] after scaling). The similarity must equal a hand-built max-weight graph."""
    from biobft.perturb.de_neighbours import GraphPairs

    perts = ["B", "C", "D", "E", "F", "G", "H", "I"]
    train = pd.DataFrame(
        [(p, g, (i + j) % 2) for i, p in enumerate(perts) for j, g in enumerate("xyz")],
        columns=["pert", "gene", "label"],
    )
    dup = pd.DataFrame({"gene_a": ["A", "A", "A"], "gene_b": ["B", "B", "C"],
                        "combined_score": [400.0, 400.0, 800.0]})  # fmt: skip
    once = dup.drop_duplicates()
    sims = []
    for net in (dup, once):
        model = GraphPairs(network=net)
        model._fit(train)
        sims.append(model._similarity(["A"], ["B", "C"])[0])
    np.testing.assert_array_equal(sims[0], sims[1])
    np.testing.assert_allclose(sims[1], [[0.5, 1.0]])  # 400 / 800, 800 / 800
