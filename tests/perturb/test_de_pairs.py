from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from biobft.perturb import DE_PREDICTORS, evaluate_de_pairs


@pytest.fixture(scope="module")
def toy(de_toy):
    return de_toy


def test_embedding_covering_no_perturbed_gene(toy):
    pairs, table, network = toy
    other = table.copy()
    other.index = [f"X{i}" for i in range(len(other))]
    with pytest.raises(ValueError, match="covers none"):
        evaluate_de_pairs(pairs, embedding=other, missing="skip", network=network)


def test_no_readout_gene_with_both_test_labels_is_an_error(toy):
    pairs, table, network = toy
    flat = pairs.copy()
    flat.loc[flat["split"] == "test", "label"] = 0  # the per-gene AUROC is undefined everywhere
    with pytest.raises(ValueError, match="no readout gene has both labels"):
        evaluate_de_pairs(flat, embedding=table, predictors=["knn"], network=network)


def test_one_name_is_one_predictor_and_nothing_to_run_is_an_error(toy, monkeypatch):
    pairs, table, _ = toy
    one = evaluate_de_pairs(pairs, embedding=table, predictors="knn", baselines=False, n_folds=2)
    ref = evaluate_de_pairs(pairs, embedding=table, predictors=["knn"], baselines=False, n_folds=2)
    assert list(one["predictor"]) == ["knn"]
    pd.testing.assert_frame_equal(one.drop(columns="seconds"), ref.drop(columns="seconds"))
    for cls in DE_PREDICTORS.values():
        monkeypatch.setattr(cls, "fit", lambda *a, **k: pytest.fail("fitted before the error"))
    with pytest.raises(ValueError, match=r"predictors is empty; name at least one of \['base_"):
        evaluate_de_pairs(pairs, embedding=table, predictors=[], baselines=False)


def test_unknown_predictor_and_missing_policy(toy):
    pairs, table, _ = toy
    with pytest.raises(ValueError, match="unknown DE-pair predictor"):
        evaluate_de_pairs(pairs, embedding=table, predictors=["nope"])
    with pytest.raises(ValueError, match="missing must be"):
        evaluate_de_pairs(pairs, embedding=table, predictors=["knn"], missing="drop")


# --------------------------------------------------------------------------- the kernel
# --------------------------------------------------------------------------- predictors
def test_evaluate_finds_planted_structure_beside_baselines(toy):
    pairs, table, network = toy
    name_table = table.iloc[:, :8]
    res = evaluate_de_pairs(
        pairs,
        embedding=table,
        predictors=["knn", "graph", "pair", "ensemble"],
        network=network,
        name_embedding=name_table,
        seed=0,
    )
    got = res.set_index("predictor")
    assert list(res["predictor"][:4]) == ["knn", "graph", "pair", "ensemble"]
    assert got.loc["base_rate", "auroc_per_gene"] == 0.5  # exactly, by construction
    best = res.attrs["best"]
    assert best == "knn"  # pair (one hold-out score) is not ranked against k-fold scores
    assert f"random ({best})" in got.index and f"name ({best})" in got.index
    random = got.loc[f"random ({best})", "auroc_per_gene"]
    for model in ("knn", "graph", "pair", "ensemble"):
        assert got.loc[model, "auroc_per_gene"] > 0.65, model
        assert got.loc[model, "auroc_per_gene"] > random + 0.1, model
    assert abs(got.loc[f"random ({best})", "auroc_per_gene"] - 0.5) < 0.12
    assert (got["coverage"] == 1.0).all()
    n_test = int((pairs["split"] == "test").sum())
    assert (got["n_test_pairs"] == n_test).all()
    assert (got["n_test_perturbations"] == pairs.loc[pairs.split == "test", "pert"].nunique()).all()
    weights = got.loc["ensemble", "params"]
    assert "knn" in weights and "graph" in weights
    per_gene = pd.DataFrame(res.attrs["per_gene"])
    assert per_gene["knn"].mean() == pytest.approx(got.loc["knn", "auroc_per_gene"])


def test_metric_equals_independent_sklearn_loop_on_returned_scores(toy):
    pairs, table, _ = toy
    res, scores = evaluate_de_pairs(
        pairs, embedding=table, predictors=["knn"], baselines=False, return_scores=True
    )
    from sklearn.metrics import roc_auc_score

    vals = []
    for _, grp in scores.groupby("gene"):
        if 0 < grp["label"].sum() < len(grp):
            vals.append(roc_auc_score(grp["label"], grp["knn"]))
    assert res.loc[0, "auroc_per_gene"] == pytest.approx(np.mean(vals), abs=1e-12)
    assert res.loc[0, "n_genes_scored"] == len(vals)


def test_test_labels_never_reach_the_fit(toy):
    """Shuffling the test labels changes no prediction (hyper-parameters included)."""
    pairs, table, network = toy
    shuffled = pairs.copy()
    test = shuffled["split"] == "test"
    rng = np.random.default_rng(1)
    shuffled.loc[test, "label"] = rng.permutation(shuffled.loc[test, "label"].to_numpy())
    kw = dict(embedding=table, predictors=["knn", "graph", "ensemble"], network=network)
    _, a = evaluate_de_pairs(pairs, baselines=False, return_scores=True, **kw)
    _, b = evaluate_de_pairs(shuffled, baselines=False, return_scores=True, **kw)
    for col in ("knn", "graph", "ensemble"):
        np.testing.assert_array_equal(a[col].to_numpy(), b[col].to_numpy())


def test_missing_policies(toy):
    pairs, table, _ = toy
    test_perts = sorted(pairs.loc[pairs.split == "test", "pert"].unique())
    partial = table.drop(index=test_perts[:3])
    with pytest.raises(KeyError, match="missing='skip'"):
        evaluate_de_pairs(pairs, embedding=partial, predictors=["knn"])
    skip = evaluate_de_pairs(
        pairs, embedding=partial, predictors=["knn"], missing="skip", baselines=False
    )
    n_left = int(pairs.loc[pairs.split == "test", "pert"].isin(test_perts[:3]).sum())
    n_test = int((pairs.split == "test").sum())
    assert skip.loc[0, "n_scored_pairs"] == n_test - n_left
    assert skip.loc[0, "coverage"] == pytest.approx((n_test - n_left) / n_test)
    assert skip.loc[0, "n_test_perturbations"] == len(test_perts) - 3
    mean = evaluate_de_pairs(
        pairs, embedding=partial, predictors=["knn"], missing="mean", baselines=False
    )
    assert mean.loc[0, "coverage"] == 1.0


@pytest.mark.parametrize("missing", ["skip", "mean"])
def test_low_coverage_warns_with_the_counts(toy, missing):
    """Under skip/mean a table covering under half the test perturbations is named, not silent."""
    pairs, table, _ = toy
    test_perts = sorted(pairs.loc[pairs.split == "test", "pert"].unique())
    n_drop = len(test_perts) // 2 + 1
    sparse = table.drop(index=test_perts[:n_drop])
    kw = dict(embedding=sparse, predictors=["knn"], missing=missing, baselines=False)
    with pytest.warns(
        UserWarning, match=rf"only {len(test_perts) - n_drop} of {len(test_perts)} test"
    ):
        evaluate_de_pairs(pairs, **kw)
    # at half coverage or more: no warning (filterwarnings=error would fail the call)
    evaluate_de_pairs(pairs, **{**kw, "embedding": table.drop(index=test_perts[: n_drop - 2])})


def test_fallback_pairs_are_reported_per_predictor(toy):
    """Test pairs scored by a fallback are counted in the row, by an independent count."""
    pairs, table, network = toy
    test = pairs[pairs.split == "test"]
    train_perts = set(pairs.loc[pairs.split == "train", "pert"])
    lonely = sorted(test["pert"].unique())[:4]  # no edge at all: the graph falls back for them
    net = network[~network["gene_a"].isin(lonely) & ~network["gene_b"].isin(lonely)]
    linked = set(net["gene_a"]) | set(net["gene_b"])
    train = pairs[pairs.split == "train"]
    measured = train.groupby("gene")["pert"].agg(set).to_dict()  # gene -> its training perts

    def neighbours(p):
        return (
            set(net.loc[net.gene_a == p, "gene_b"]) | set(net.loc[net.gene_b == p, "gene_a"])
        ) & train_perts

    # a pair falls back when no training knockdown that measured its readout gene is a
    # network neighbour of its knockdown (none at all for the lonely ones)
    want_graph = sum(
        not (neighbours(p) & measured.get(g, set())) for p, g in zip(test["pert"], test["gene"])
    )
    assert want_graph > int(test["pert"].isin(lonely).sum()) > 0 and linked
    readout = sorted(test["gene"].unique())[:3]  # readout genes without a vector
    res = evaluate_de_pairs(
        pairs,
        embedding=table.drop(index=readout),
        predictors=["graph", "pair", "knn"],
        network=net,
        baselines=False,
    ).set_index("predictor")
    assert res.loc["graph", "n_fallback_pairs"] == want_graph
    assert res.loc["pair", "n_fallback_pairs"] == int(test["gene"].isin(readout).sum())
    # every test knockdown has a vector and every readout gene a training pair
    assert set(test["gene"]) <= set(measured) and res.loc["knn", "n_fallback_pairs"] == 0


@pytest.mark.realdata
def test_perturbqa_k562_direction_name_table(data_mirror):
    """Real PerturbQA K562 direction pairs, name-only MiniLM table: above random and base rate."""
    from biobft.datasets import perturbqa
    from biobft.embed import embed_genes

    pairs = perturbqa(cell_line="k562", task="dir")
    table = embed_genes(sorted(pairs["pert"].unique()), source="name", model="minilm")
    res = evaluate_de_pairs(pairs, embedding=table, predictors=["knn"], missing="skip")
    got = res.set_index("predictor")
    assert got.loc["base_rate", "auroc_per_gene"] == 0.5
    assert got.loc["knn", "perturbation_coverage"] > 0.9
    assert got.loc["knn", "auroc_per_gene"] > 0.6
    assert got.loc["knn", "auroc_per_gene"] > got.loc["random (knn)", "auroc_per_gene"] + 0.05


def test_ensemble_alone_still_gets_its_random_baseline(toy):
    """With ``predictors=["ensemble"]`` the random baseline goes through the ensemble (it had
    no random row at all), whose members are fitted on the random table."""
    pairs, table, _ = toy
    # edges between random perturbations: only the embedding knows the programmes
    rng = np.random.default_rng(1)
    perts = pairs["pert"].unique()
    noise = pd.DataFrame({"gene_a": rng.choice(perts, 300), "gene_b": rng.choice(perts, 300)})
    res = evaluate_de_pairs(
        pairs, embedding=table, predictors=["ensemble"], network=noise, n_folds=2
    ).set_index("predictor")
    assert list(res.index) == ["ensemble", "base_rate", "random (ensemble)"]
    assert res.attrs["best"] == "ensemble"
    assert res.loc["base_rate", "auroc_per_gene"] == pytest.approx(0.5)
    # the real table's knn member knows the programmes; the random one's knows nothing
    gap = res.loc["ensemble", "auroc_per_gene"] - res.loc["random (ensemble)", "auroc_per_gene"]
    assert gap > 0.1


@pytest.mark.realdata
@pytest.mark.parametrize("predictor", ["knn", "pair", "ensemble"])
def test_too_few_training_knockdowns_is_one_clear_error(data_mirror, predictor):
    """Real PerturbQA K562 DE with 6 training knockdowns: no inner fold has a readout gene with
    both labels, so every CV score is NaN; numpy's bare 'All-NaN slice encountered' came out of
    the hyper-parameter choice. Now one message with the counts and the way out."""
    from biobft import datasets
    from biobft.embed import make_table

    pairs = datasets.perturbqa("k562", "de")
    train = pairs.loc[pairs["split"] == "train"]
    test = pairs.loc[pairs["split"] == "test"]
    sub = pd.concat(
        [
            train.loc[train["pert"].isin(sorted(train["pert"].unique())[:6])],
            test.loc[test["pert"].isin(sorted(test["pert"].unique())[:20])],
        ]
    )
    genes = sorted(set(sub["pert"]) | set(sub["gene"]))
    vectors = np.random.default_rng(0).normal(size=(len(genes), 16))
    table = make_table(vectors, genes, model="random", source="test")
    with pytest.raises(ValueError, match=r"inner cross-validation scored no setting with 6 "):
        evaluate_de_pairs(sub, embedding=table, predictors=[predictor], baselines=False)
    # one training knockdown, or one fold: the same kind of error before any fit (trial 7: a
    # NaN-score or a StandardScaler "0 sample(s)" error came out instead)
    one = sub.loc[(sub["split"] == "test") | (sub["pert"] == sub["pert"].iloc[0])]
    with pytest.raises(ValueError, match=r"inner cross-validation cannot run with 1 training"):
        evaluate_de_pairs(one, embedding=table, predictors=[predictor], baselines=False)
    with pytest.raises(ValueError, match=r"n_folds must be an integer >= 2"):
        evaluate_de_pairs(sub, embedding=table, predictors=[predictor], n_folds=1)
    # the way out the message names
    res = evaluate_de_pairs(sub, embedding=table, predictors=["base_rate"], baselines=False)
    assert res.loc[res["predictor"] == "base_rate", "auroc_per_gene"].iloc[0] == 0.5
