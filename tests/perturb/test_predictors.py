from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from biobft.embed.table import concat_tables, make_table
from biobft.perturb._synthetic import synthetic_perturbation_data
from biobft.perturb.embeddings import PerturbationEmbedder, response_table
from biobft.perturb.evaluate import evaluate_split
from biobft.perturb.predictors import PREDICTORS, get_predictor
from biobft.perturb.pseudobulk import pseudobulk
from biobft.perturb.splits import leave_one_out


def _planted(n=30, d=5, g=40, seed=0):
    """Deltas exactly linear in the L2-normalised gene embedding."""
    rng = np.random.default_rng(seed)
    emb = rng.normal(size=(n, d))
    genes = [f"g{i}" for i in range(n)]
    W = rng.normal(size=(d, g))
    delta = (emb / np.linalg.norm(emb, axis=1, keepdims=True)) @ W
    return make_table(emb, genes, model="m", source="s"), genes, delta


def test_registry_and_unknown():
    assert set(PREDICTORS) == {
        "no_change",
        "train_mean",
        "additive",
        "ridge",
        "linear",
        "knn",
        "shrink",
    }
    with pytest.raises(ValueError, match="unknown predictor 'gears'"):
        get_predictor("gears")
    with pytest.raises(ValueError, match="needs a gene embedding table"):
        get_predictor("ridge")


def test_baselines_analytic():
    perts = [("A",), ("B",), ("A", "B")]
    delta = np.array([[1.0, 0.0], [0.0, 2.0], [5.0, 5.0]])
    assert np.all(get_predictor("no_change").fit(perts, delta).predict([("C",)]) == 0)
    np.testing.assert_allclose(
        get_predictor("train_mean").fit(perts, delta).predict([("C",)])[0], [2.0, 7 / 3]
    )
    add = get_predictor("additive").fit(perts[:2], delta[:2])
    np.testing.assert_allclose(add.predict([("A", "B")])[0], [1.0, 2.0])
    np.testing.assert_allclose(add.predict([("A", "Z")])[0], [1.5, 1.0])  # Z: mean single
    assert add.n_fallback_ == 1
    with pytest.raises(ValueError, match="not fitted"):
        get_predictor("train_mean").predict([("A",)])


def test_ridge_recovers_planted_linear_effect():
    table, genes, delta = _planted()
    perts = [(g,) for g in genes]
    model = get_predictor("ridge", embedding=table).fit(perts[:25], delta[:25])
    pred = model.predict(perts[25:])
    base = get_predictor("train_mean").fit(perts[:25], delta[:25]).predict(perts[25:])
    err, err_base = np.abs(pred - delta[25:]).mean(), np.abs(base - delta[25:]).mean()
    assert err < 0.1 * err_base
    assert model.alpha_ == min(model.alphas)  # noiseless: the smallest penalty wins inner CV


@pytest.mark.parametrize("name", ["linear", "knn"])
def test_embedding_predictors_beat_train_mean(name):
    table, genes, delta = _planted(n=60, seed=1)
    perts = [(g,) for g in genes]
    model = get_predictor(name, embedding=table).fit(perts[:50], delta[:50])
    pred = model.predict(perts[50:])
    base = np.tile(delta[:50].mean(0), (10, 1))
    r = [np.corrcoef(p, t)[0, 1] for p, t in zip(pred, delta[50:])]
    r0 = [np.corrcoef(p, t)[0, 1] for p, t in zip(base, delta[50:])]
    assert np.mean(r) > np.mean(r0) + 0.2


def test_linear_closed_form_matches_lstsq():
    """With no penalty and full-rank G, P: K solves the least-squares problem exactly."""
    rng = np.random.default_rng(3)
    genes = [f"g{i}" for i in range(8)]
    table = make_table(rng.normal(size=(8, 3)), genes, model="m", source="s")
    perts = [(g,) for g in genes]
    delta = rng.normal(size=(8, 6))
    model = get_predictor("linear", embedding=table, ridge=1e-10, n_components=6).fit(perts, delta)
    P = PerturbationEmbedder(table).transform(perts)[0]
    b = delta.mean(0)
    coef, *_ = np.linalg.lstsq(P, delta - b, rcond=None)
    np.testing.assert_allclose(model.predict(perts), P @ coef + b, atol=1e-6)


def test_linear_pca_mode_uses_var_names():
    adata, _, _ = synthetic_perturbation_data(seed=4)
    pb = pseudobulk(adata, control="control", n_top_de=0)
    ids = pb.perturbations()
    model = get_predictor("linear", var_names=pb.var_names).fit(pb.genes_of(ids), pb.delta(ids))
    assert model.predict([("P1",)]).shape == (1, adata.n_vars)
    with pytest.raises(KeyError, match=r"absent from both the embedding table and adata\.var_"):
        model.predict([("NOTAGENE",)])


def test_missing_policies():
    table, genes, delta = _planted(n=10)
    perts = [(g,) for g in genes] + [("ghost",)]
    d = np.vstack([delta, delta[0]])
    with pytest.raises(KeyError, match=r"absent from the embedding table: \['ghost'\]"):
        get_predictor("ridge", embedding=table).fit(perts, d)
    skip = get_predictor("ridge", embedding=table, missing="skip").fit(perts, d)
    assert skip.missing_ == ["ghost"]
    np.testing.assert_allclose(skip.predict([("ghost",)])[0], skip.mean_delta_)
    mean = get_predictor("knn", embedding=table, missing="mean").fit(perts, d)
    assert mean.predict([("ghost", "g1")]).shape == (1, delta.shape[1])
    with pytest.raises(ValueError, match="missing must be"):
        get_predictor("knn", embedding=table, missing="random")


def test_response_table_and_concat():
    adata, _, _ = synthetic_perturbation_data(n_cell_types=2, seed=6)
    pb = pseudobulk(adata, control="control", cell_type_key="cell_type", n_top_de=0)
    tab = response_table(pb)
    ids = [i for i in pb.perturbations(kind="single") if i.endswith("::P0")]
    np.testing.assert_allclose(tab.loc["P0"].to_numpy(), pb.delta(ids).mean(0), rtol=1e-5)
    other = make_table(np.ones((2, 2)), ["P0", "ZZ"], model="x", source="y")
    both = concat_tables([tab, other], normalize=True)
    assert list(both.index) == ["P0"] and both.shape[1] == tab.shape[1] + 2
    assert both.attrs["biobft"]["source"].endswith(",y")
    np.testing.assert_allclose(np.linalg.norm(both.to_numpy()), np.sqrt(2), rtol=1e-5)
    assert concat_tables([tab, other], normalize=True, how="outer").shape[0] == tab.shape[0] + 1


def test_evaluate_split_rows():
    adata, table, _ = synthetic_perturbation_data(seed=7)
    pb = pseudobulk(adata, control="control")
    split = leave_one_out(pb)
    df = evaluate_split(pb, split, ["train_mean", "ridge"], embedding=table)
    assert len(df) == 2 * len(split.folds)
    assert {"predictor", "condition", "group", "pearson_delta", "rmse"} <= set(df.columns)
    means = df.groupby("predictor")["pearson_delta"].mean()
    assert means["ridge"] > means["train_mean"] + 0.3
    labelled = evaluate_split(pb, split, {"r10": {"predictor": "knn", "k": 1}}, embedding=table)
    assert set(labelled["predictor"]) == {"r10"}
    assert isinstance(labelled, pd.DataFrame)


def test_linear_gene_axes_match_svd():
    rng = np.random.default_rng(8)
    Y = rng.normal(size=(12, 40))
    Yc = Y - Y.mean(0)
    model = PREDICTORS["linear"](n_components=3, var_names=[f"v{i}" for i in range(40)])
    G = model._gene_matrix(Yc)
    U = np.linalg.svd(Yc.T, full_matrices=False)[0][:, :3]
    np.testing.assert_allclose(np.abs(G.T @ U), np.eye(3), atol=1e-8)  # same axes up to sign


# --- every option is tested by what it changes; every score against an independent computation --


@pytest.fixture(scope="module")
def toy_pb():
    adata, table, _ = synthetic_perturbation_data(n_perturbed=12, n_doubles=6, seed=9)
    return pseudobulk(adata, control="control", n_top_de=10), table


def test_evaluate_split_scores_changes_from_control(toy_pb):
    """no_change: NaN Pearson and RMSE = RMS of the observed delta; train_mean: scipy on deltas."""
    from scipy import stats

    pb, _ = toy_pb
    split = leave_one_out(pb)
    df, preds = evaluate_split(pb, split, ["no_change", "train_mean"], return_predictions=True)
    X = np.asarray(pb.X, dtype=np.float64)
    ctrl = X[list(pb.obs.index).index("control")]
    gaps = []
    for k, fold in enumerate(split.folds):
        (t,) = fold["test"]
        obs = X[list(pb.obs.index).index(t)]
        rows = df[(df["fold"] == k)].set_index("predictor")
        assert np.isnan(rows.loc["no_change", "pearson_delta"])
        assert rows.loc["no_change", "rmse"] == pytest.approx(np.sqrt(np.mean((obs - ctrl) ** 2)))
        train = np.stack([X[list(pb.obs.index).index(i)] for i in fold["train"]]) - ctrl
        mean = train.mean(axis=0)
        np.testing.assert_allclose(preds[("train_mean", t)], ctrl + mean, rtol=1e-6, atol=1e-9)
        right = stats.pearsonr(mean, obs - ctrl)[0]
        assert rows.loc["train_mean", "pearson_delta"] == pytest.approx(right, rel=1e-6)
        gaps.append(stats.pearsonr(preds[("train_mean", t)], obs)[0] - right)
    # on these data the raw-profile Pearson (the plausible wrong one) is far from the right one
    assert np.mean(np.abs(gaps)) > 0.1


def test_linear_pca_mode_matches_closed_form_and_is_not_train_mean(toy_pb):
    pb, _ = toy_pb
    ids = pb.perturbations(kind="single")
    train, test = ids[:9], ids[9:]
    Y = pb.delta(train).astype(np.float64)
    b = Y.mean(axis=0)
    Yc = Y - b
    k, lam = 4, 0.1
    G = np.linalg.svd(Yc.T, full_matrices=False)[0][:, :k]  # principal gene axes
    pos = {g: i for i, g in enumerate(map(str, pb.var_names))}
    P = np.stack([G[pos[g[0]]] for g in pb.genes_of(train)])
    K = (
        np.linalg.inv(G.T @ G + lam * np.eye(k))
        @ G.T
        @ Yc.T
        @ P
        @ np.linalg.inv(P.T @ P + lam * np.eye(k))
    )
    Pt = np.stack([G[pos[g[0]]] for g in pb.genes_of(test)])
    expected = b + (G @ K @ Pt.T).T
    model = get_predictor("linear", var_names=pb.var_names, n_components=k, ridge=lam)
    pred = model.fit(pb.genes_of(train), Y).predict(pb.genes_of(test))
    np.testing.assert_allclose(pred, expected, atol=1e-8)
    assert np.abs(pred - b).max() > 0.05  # it is not the training mean


def test_missing_mean_and_skip_differ_as_documented():
    table, genes, delta = _planted(n=10)
    perts = [(g,) for g in genes] + [("ghost",)]
    d = np.vstack([delta, delta[0]])
    unit = table.to_numpy(np.float64)
    unit = unit / np.linalg.norm(unit, axis=1, keepdims=True)
    fill = unit.mean(axis=0)
    fill /= np.linalg.norm(fill)
    skip = PerturbationEmbedder(table, missing="skip")
    mean = PerturbationEmbedder(table, missing="mean")
    skip.fit_transform(perts)
    mean.fit_transform(perts)
    np.testing.assert_allclose(mean.fill_, fill, atol=1e-12)
    f_skip, ok_skip = skip.transform([("ghost",), ("ghost", "g1")])
    f_mean, ok_mean = mean.transform([("ghost",), ("ghost", "g1")])
    assert list(ok_skip) == [False, True] and list(ok_mean) == [True, True]
    np.testing.assert_allclose(f_skip[1], unit[1], atol=1e-12)
    np.testing.assert_allclose(f_mean[0], fill, atol=1e-12)
    both = fill + unit[1]
    np.testing.assert_allclose(f_mean[1], both / np.linalg.norm(both), atol=1e-12)
    # and through a predictor: skip gives the training mean for a ghost, mean does not
    p_skip = get_predictor("knn", embedding=table, missing="skip").fit(perts, d)
    p_mean = get_predictor("knn", embedding=table, missing="mean").fit(perts, d)
    np.testing.assert_allclose(p_skip.predict([("ghost",)])[0], d.mean(axis=0))
    assert np.abs(p_mean.predict([("ghost",)])[0] - d.mean(axis=0)).max() > 1e-3


def test_per_predictor_params_reach_the_predictor(toy_pb):
    pb, table = toy_pb
    split = leave_one_out(pb, doubles=False)
    spec = {"k1": {"predictor": "knn", "k": 1}, "k5": {"predictor": "knn", "k": 5}}
    _, preds = evaluate_split(pb, split, spec, embedding=table, return_predictions=True)
    unit = table.to_numpy(np.float64)
    unit = pd.DataFrame(unit / np.linalg.norm(unit, axis=1, keepdims=True), index=table.index)
    n_diff = 0
    for fold in split.folds:
        (t,) = fold["test"]
        (g,) = pb.obs.at[t, "genes"]
        train = fold["train"]
        emb = np.stack([unit.loc[list(pb.obs.at[i, "genes"])].sum(0) for i in train])
        emb /= np.linalg.norm(emb, axis=1, keepdims=True)
        nearest = train[int(np.argmax(emb @ unit.loc[g].to_numpy()))]
        ctrl = pb.controls([t])[0]
        np.testing.assert_allclose(preds[("k1", t)], ctrl + pb.delta([nearest])[0], atol=1e-6)
        n_diff += not np.allclose(preds[("k1", t)], preds[("k5", t)])
    assert n_diff == len(split.folds)


def test_shrink_lambda_by_inner_leave_one_gene_out_cv():
    """cv_scores_ and lambda_ re-derived with a plain loop over the documented inner folds."""
    table, genes, delta = _planted(n=12, d=4, g=15, seed=5)
    rng = np.random.default_rng(5)
    perts = [(g,) for g in genes[:8]] + [(genes[0], genes[1]), (genes[2], genes[3])]
    d = np.vstack([delta[:8], delta[0] + delta[1], delta[2] + delta[3]])
    d += rng.normal(scale=0.5, size=d.shape)
    lambdas = (0.0, 0.5, 1.0)
    model = get_predictor("shrink", embedding=table, base="knn", base_params={"k": 2},
                          lambdas=lambdas).fit(perts, d)  # fmt: skip
    scores = []
    for i in range(8):  # every training single, held out with every condition involving its gene
        train = [j for j, p in enumerate(perts) if genes[i] not in p]
        base = get_predictor("knn", embedding=table, k=2).fit([perts[j] for j in train], d[train])
        mu = d[train].mean(axis=0)
        resid = base.predict([perts[i]])[0] - mu
        scores.append([np.corrcoef(mu + lam * resid, d[i])[0, 1] for lam in lambdas])
    cv = np.mean(scores, axis=0)
    np.testing.assert_allclose(model.cv_scores_, cv, rtol=1e-8)
    assert model.lambda_ == lambdas[int(np.argmax(cv))]
    full = get_predictor("knn", embedding=table, k=2).fit(perts, d)
    new = [(genes[9],), (genes[10], genes[11])]
    mean = d.mean(axis=0)
    np.testing.assert_allclose(
        model.predict(new), mean + model.lambda_ * (full.predict(new) - mean), rtol=1e-10
    )
    with pytest.raises(ValueError, match=r"shrink base must be one of"):
        get_predictor("shrink", embedding=table, base="shrink")
    with pytest.raises(ValueError, match="at least one candidate lambda"):
        get_predictor("shrink", embedding=table, lambdas=())


def test_shrink_falls_back_to_the_mean_when_the_base_does_not_generalise():
    table, genes, _ = _planted(n=14, d=4, g=12, seed=6)
    noise = np.random.default_rng(7).normal(size=(14, 12))  # deltas unrelated to the embedding
    perts = [(g,) for g in genes]
    model = get_predictor("shrink", embedding=table, base="ridge").fit(perts, noise)
    assert model.lambda_ < 0.5
    table2, genes2, planted = _planted(n=14, d=4, g=12, seed=6)
    model2 = get_predictor("shrink", embedding=table2, base="ridge").fit(
        [(g,) for g in genes2], planted
    )
    assert model2.lambda_ == 1.0  # an exactly linear effect: the base predictor is kept
