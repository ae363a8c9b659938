from __future__ import annotations

import re

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


# --- mutation-tested details (issue 15): each test re-derives the behaviour independently ------

TRAIN_MEAN_FALLBACK = "train_mean (no gene of the perturbation has a vector)"


def _unit_rows(table, perts):
    """GenePert features by hand: L2-normalised sum of L2-normalised gene rows (0 if none)."""
    vec = table.to_numpy(np.float64)
    vec = vec / np.linalg.norm(vec, axis=1, keepdims=True)
    pos = {g: i for i, g in enumerate(table.index)}
    out = np.zeros((len(perts), vec.shape[1]))
    for i, p in enumerate(perts):
        rows = [vec[pos[g]] for g in p if g in pos]
        if rows:
            s = np.sum(rows, axis=0)
            out[i] = s / np.linalg.norm(s)
    return out


def _linear_closed_form(G, P_train, Y, P_test, lam):
    """b + G K Pᵀ with K = (GᵀG + λI)⁻¹ Gᵀ (Y − b)ᵀ P (PᵀP + λI)⁻¹, written with inverses."""
    b = Y.mean(axis=0)
    k, d = G.shape[1], P_train.shape[1]
    K = (
        np.linalg.inv(G.T @ G + lam * np.eye(k))
        @ G.T
        @ (Y - b).T
        @ P_train
        @ np.linalg.inv(P_train.T @ P_train + lam * np.eye(d))
    )
    return b + (G @ K @ P_test.T).T


def test_fit_checks_its_input_and_always_works_in_float64():
    perts = [("A",), ("B",), ("C",)]
    msg = "fit needs one delta row per perturbation; got 3 perturbations and delta of shape {}"
    for bad in (np.zeros((2, 4)), np.zeros(3), np.zeros((3, 4, 1))):
        with pytest.raises(ValueError, match="^" + re.escape(msg.format(bad.shape)) + "$"):
            get_predictor("train_mean").fit(perts, bad)
    with pytest.raises(ValueError, match=re.escape("got 0 perturbations")):
        get_predictor("train_mean").fit([], np.zeros((0, 4)))
    # one training perturbation is enough
    one = get_predictor("train_mean").fit([("A",)], np.array([[1.0, -2.0]]))
    np.testing.assert_array_equal(one.predict([("Z",)]), [[1.0, -2.0]])
    # float32 deltas are averaged in float64 (exactly the float64 mean of the same values)
    d32 = np.random.default_rng(0).normal(size=(500, 7)).astype(np.float32)
    pred = get_predictor("train_mean").fit([(f"g{i}",) for i in range(500)], d32).predict([("Z",)])
    assert pred.dtype == np.float64
    np.testing.assert_array_equal(pred[0], d32.astype(np.float64).mean(axis=0))


def test_constructor_options_are_kept_and_errors_are_exact():
    table, _, _ = _planted(n=6)
    model = get_predictor("knn", embedding=table, missing="skip", var_names=["x"])
    assert model.embedding is table and model.missing == "skip" and model.var_names == ["x"]
    assert (model.k, model.temperature) == (5, 0.1)  # the documented defaults
    need = (
        "predictor 'ridge' needs a gene embedding table: pass embedding=TABLE "
        "(biobft.embed.read_table(path)) or choose no_change/train_mean/additive/linear"
    )
    with pytest.raises(ValueError, match="^" + re.escape(need) + "$"):
        get_predictor("ridge")
    knn = "^" + re.escape("knn needs k >= 1 and temperature > 0") + "$"
    for bad in ({"k": 0}, {"temperature": 0.0}, {"temperature": -1.0}):
        with pytest.raises(ValueError, match=knn):
            get_predictor("knn", embedding=table, **bad)
    bases = [p for p in PREDICTORS if p != "shrink"]
    with pytest.raises(ValueError, match="^" + re.escape(f"shrink base must be one of {bases}")):
        get_predictor("shrink", embedding=table, base="nope")
    with pytest.raises(ValueError, match=r"^shrink needs at least one candidate lambda$"):
        get_predictor("shrink", embedding=table, lambdas=[])


def test_var_names_word_the_missing_gene_error():
    """A gene absent from both the table and the measured genes is named as such."""
    table, genes, delta = _planted(n=6)
    perts = [(g,) for g in genes]
    with pytest.raises(KeyError, match=r"absent from the embedding table and adata\.var_names"):
        get_predictor("ridge", embedding=table, var_names=genes).fit(
            [*perts, ("zz",)], np.vstack([delta, delta[0]])
        )
    # measured (in var_names) but not embedded: only the table is named
    with pytest.raises(KeyError, match=r"absent from the embedding table: \['zz'\]"):
        get_predictor("ridge", embedding=table, var_names=[*genes, "zz"]).fit(
            [*perts[:5], ("zz",)], delta[:6]
        )


def test_additive_fill_is_the_mean_single_delta_and_fallbacks_are_named():
    perts = [("A",), ("B",), ("A", "B"), ("C", "D")]
    delta = np.array([[1.0, 0.0, 2.0], [0.0, 4.0, 2.0], [9.0, 9.0, 9.0], [-3.0, 5.0, 1.0]])
    model = get_predictor("additive").fit(perts, delta)
    fill = (delta[0] + delta[1]) / 2  # mean single delta, not the training mean
    pred = model.predict([("A", "B"), ("A", "Z"), ("Y", "Z"), ("B",)])
    np.testing.assert_allclose(pred, [delta[0] + delta[1], delta[0] + fill, 2 * fill, delta[1]])
    assert model.fallback_ == [
        "",
        "mean single delta for Z (no training single)",
        "mean single delta for Y+Z (no training single)",
        "",
    ]
    assert model.n_fallback_ == 3
    doubles = get_predictor("additive").fit(perts[2:], delta[2:])  # no singles: the training mean
    np.testing.assert_allclose(doubles.predict([("Y", "Z")])[0], 2 * delta[2:].mean(axis=0))
    assert doubles.fallback_ == ["train_mean for Y+Z (no training single)"]


def test_ridge_alpha_by_sklearn_ridgecv_from_three_perturbations_median_below():
    from sklearn.linear_model import Ridge as SkRidge
    from sklearn.linear_model import RidgeCV

    table, genes, delta = _planted(n=8, d=5, g=6, seed=11)
    delta = delta + np.random.default_rng(11).normal(scale=0.3, size=delta.shape)
    perts = [(g,) for g in genes]
    F = _unit_rows(table, perts)
    alphas = tuple(np.logspace(-2, 3, 11))
    ref = RidgeCV(alphas=alphas).fit(F[:3], delta[:3])
    assert ref.alpha_ != np.median(alphas)  # the data tell the two rules apart
    three = get_predictor("ridge", embedding=table).fit(perts[:3], delta[:3])
    assert three.alpha_ == ref.alpha_
    np.testing.assert_allclose(three.predict(perts[5:]), ref.predict(F[5:]), rtol=1e-10)
    two = get_predictor("ridge", embedding=table).fit(perts[:2], delta[:2])
    assert two.alpha_ == np.median(alphas)
    sk = SkRidge(alpha=np.median(alphas)).fit(F[:2], delta[:2])
    np.testing.assert_allclose(two.predict(perts[5:]), sk.predict(F[5:]), rtol=1e-10)


@pytest.mark.parametrize("name", ["ridge", "knn"])
def test_no_embedded_training_perturbation_gives_the_training_mean(name):
    table, genes, delta = _planted(n=6)
    model = get_predictor(name, embedding=table, missing="skip")
    model.fit([("x1",), ("x2",), ("x3",)], delta[:3])
    pred = model.predict([(genes[0],), ("x9",)])
    np.testing.assert_allclose(pred, np.tile(delta[:3].mean(axis=0), (2, 1)))
    assert model.fallback_ == [TRAIN_MEAN_FALLBACK] * 2


@pytest.mark.parametrize("name", ["ridge", "knn", "linear"])
def test_fallback_names_exactly_the_rows_without_a_vector(name):
    table, genes, delta = _planted(n=10)
    model = get_predictor(name, embedding=table, missing="skip").fit(
        [(g,) for g in genes[:8]], delta[:8]
    )
    pred = model.predict([(genes[8],), ("ghost",), (genes[9], "ghost")])
    assert model.fallback_ == ["", TRAIN_MEAN_FALLBACK, ""]
    np.testing.assert_allclose(pred[1], delta[:8].mean(axis=0))


def _knn_reference(F_train, D_train, F_test, k, temperature):
    """Loop: cosine similarities, the k best (ties: earlier training row), scipy softmax(s / T)."""
    from scipy.special import softmax

    out = []
    for f in F_test:
        sim = F_train @ f
        best = sorted(range(len(sim)), key=lambda j: (-sim[j], j))[:k]
        w = softmax(sim[best] / temperature)
        out.append(w @ D_train[best])
    return np.array(out)


def test_knn_defaults_match_a_softmax_loop():
    table, genes, delta = _planted(n=20, d=5, g=7, seed=12)
    perts = [(g,) for g in genes]
    model = get_predictor("knn", embedding=table).fit(perts[:14], delta[:14])
    F = _unit_rows(table, perts)
    ref = _knn_reference(F[:14], delta[:14], F[14:], k=5, temperature=0.1)
    np.testing.assert_allclose(model.predict(perts[14:]), ref, rtol=1e-10, atol=1e-12)
    # one embedded training perturbation: its delta (not the training mean), no fallback
    one = get_predictor("knn", embedding=table, missing="skip")
    one.fit([perts[0], ("x1",), ("x2",)], delta[:3])
    np.testing.assert_allclose(one.predict(perts[5:7]), np.tile(delta[0], (2, 1)))
    assert one.fallback_ == ["", ""]


def test_knn_small_temperature_is_stable_row_by_row():
    """T = 1e-3: the softmax is taken per test row (no underflow to 0/0 or overflow to inf)."""
    vecs = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [1, 1, 0, 0], [1, 0.01, 0, 0], [-0.1, 0, 1, 0]])
    table = make_table(vecs, ["a", "b", "c", "near", "far"], model="m", source="s")
    delta = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]])
    model = get_predictor("knn", embedding=table, k=3, temperature=1e-3)
    pred = model.fit([("a",), ("b",), ("c",)], delta).predict([("near",), ("far",)])
    F = _unit_rows(table, [("a",), ("b",), ("c",), ("near",), ("far",)])
    ref = _knn_reference(F[:3], delta, F[3:], k=3, temperature=1e-3)
    assert np.isfinite(ref).all()
    np.testing.assert_allclose(pred, ref, rtol=1e-9)
    np.testing.assert_allclose(pred[1], delta[1], atol=1e-6)  # far's nearest is b (sim 0)


def test_knn_ties_go_to_the_earlier_training_perturbation():
    """Equal similarities (the same gene measured several times) are ranked in training order."""
    rng = np.random.default_rng(1)
    table = make_table(rng.normal(size=(3, 4)), ["A", "B", "C"], model="m", source="s")
    perts = [("A",)] * 24 + [("B",)] * 8 + [("C",)] * 8
    perts = [perts[i] for i in rng.permutation(40)]
    delta = np.random.default_rng(100).normal(size=(40, 5))
    model = get_predictor("knn", embedding=table, k=4).fit(perts, delta)
    F = _unit_rows(table, perts)
    want = _knn_reference(F, delta, _unit_rows(table, [("A",)]), k=4, temperature=0.1)
    np.testing.assert_allclose(model.predict([("A",)]), want, rtol=1e-10)


def _pca_data(n_train=14, n_vars=30, seed=14, scale=1.0):
    rng = np.random.default_rng(seed)
    var_names = [f"v{i}" for i in range(n_vars)]
    perts = [(v,) for v in var_names[:n_train]]
    return var_names, perts, scale * rng.normal(size=(n_train, n_vars))


def _pca_reference(var_names, perts, Y, test, k, lam):
    Yc = Y - Y.mean(axis=0)
    U, s, _ = np.linalg.svd(Yc.T, full_matrices=False)
    G = U[:, : min(k, int((s > 1e-6 * s[0]).sum()))]
    pos = {g: i for i, g in enumerate(var_names)}
    P = np.stack([G[pos[p[0]]] for p in perts])
    Pt = np.stack([G[pos[p[0]]] for p in test])
    return _linear_closed_form(G, P, Y, Pt, lam)


def test_linear_pca_defaults_and_one_component_match_the_svd_closed_form():
    var_names, perts, Y = _pca_data()
    test = [("v20",), ("v21",), ("v3",)]
    model = get_predictor("linear", var_names=var_names).fit(perts, Y)
    want = _pca_reference(var_names, perts, Y, test, k=10, lam=0.1)
    np.testing.assert_allclose(model.predict(test), want, atol=1e-10)
    assert model.fallback_ == ["", "", ""]
    one = get_predictor("linear", var_names=var_names, n_components=1).fit(perts, Y)
    want1 = _pca_reference(var_names, perts, Y, test, k=1, lam=0.1)
    np.testing.assert_allclose(one.predict(test), want1, atol=1e-10)
    # rank-deficient training (6 perturbations: 5 axes) with the default 10 components
    few = get_predictor("linear", var_names=var_names).fit(perts[:6], Y[:6])
    want6 = _pca_reference(var_names, perts[:6], Y[:6], test, k=10, lam=0.1)
    np.testing.assert_allclose(few.predict(test), want6, atol=1e-10)


def test_linear_pca_is_scale_equivariant():
    """G is orthonormal and P its rows, so scaling the deltas scales the prediction exactly."""
    var_names, perts, Y = _pca_data()
    test = [("v20",), ("v2",)]
    base = get_predictor("linear", var_names=var_names).fit(perts, Y).predict(test)
    tiny = get_predictor("linear", var_names=var_names).fit(perts, 1e-7 * Y).predict(test)
    np.testing.assert_allclose(tiny, 1e-7 * base, rtol=1e-6, atol=1e-20)
    assert np.abs(base - Y.mean(axis=0)).max() > 0.1  # not just the training mean


def test_linear_pca_with_identical_training_deltas_predicts_that_delta():
    """No spread at all (deltas exactly equal, mean exact): no axis, the training delta."""
    var_names, perts, Y = _pca_data(n_train=4)
    Y[0] = np.round(Y[0] * 8) / 8  # dyadic: the mean of four copies is exact, Y - mean is 0
    same = np.tile(Y[0], (4, 1))
    assert not (same - same.mean(axis=0)).any()
    model = get_predictor("linear", var_names=var_names).fit(perts, same)
    np.testing.assert_allclose(model.predict([("v9",), ("v1",)]), np.tile(Y[0], (2, 1)))


def test_linear_gene_embedding_mode_matches_closed_form():
    """G = the table's rows for the measured genes (0 for genes without a row), P = rows of G."""
    rng = np.random.default_rng(15)
    var_names, perts, Y = _pca_data(n_train=12, n_vars=30, seed=15)
    covered = [*var_names[:25], "not_measured"]
    gtab = make_table(rng.normal(size=(26, 6)), covered, model="m", source="s")
    G = np.zeros((30, 6))
    G[:25] = gtab.to_numpy(np.float64)[:25]
    test = [("v12",), ("v27",), ("v3",)]
    idx = [var_names.index(p[0]) for p in perts]
    tidx = [var_names.index(p[0]) for p in test]
    want = _linear_closed_form(G, G[idx], Y, G[tidx], 0.1)
    model = get_predictor("linear", var_names=var_names, gene_embedding=gtab).fit(perts, Y)
    np.testing.assert_allclose(model.predict(test), want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(model.predict([("v27",)])[0], Y.mean(axis=0))  # zero row of G
    msg = "^" + re.escape("linear with gene_embedding needs var_names (measured genes)") + "$"
    with pytest.raises(ValueError, match=msg):
        get_predictor("linear", gene_embedding=gtab).fit(perts, Y)


def test_linear_missing_mean_uses_the_training_fill_in_fit_and_predict():
    table, genes, delta = _planted(n=10, d=4, g=6, seed=16)
    perts = [(g,) for g in genes[:7]] + [("ghost",)]
    D = delta[:8]
    model = get_predictor("linear", embedding=table, missing="mean").fit(perts, D)
    unit = _unit_rows(table, perts[:7])
    fill = unit.mean(axis=0)
    fill /= np.linalg.norm(fill)  # mean training embedding, normalised (from training only)
    P = np.vstack([unit, fill])
    test = [("ghost2",), (genes[8],)]
    Pt = np.vstack([fill, _unit_rows(table, [(genes[8],)])])
    # embedding-table mode: G = principal axes of the training deltas, P = GenePert features
    Yc = D - D.mean(axis=0)
    U, s, _ = np.linalg.svd(Yc.T, full_matrices=False)
    G = U[:, : int((s > 1e-6 * s[0]).sum())]
    want = _linear_closed_form(G, P, D, Pt, 0.1)
    np.testing.assert_allclose(model.predict(test), want, atol=1e-10)


def test_linear_pca_mode_records_every_missing_gene_and_words_its_errors():
    var_names, perts, Y = _pca_data(n_train=8)
    model = get_predictor("linear", var_names=var_names, missing="skip")
    model.fit([*perts, ("X",)], np.vstack([Y, Y[0]]))
    assert model.missing_ == ["X"]
    pred = model.predict([("Y",), ("v9",)])
    assert model.missing_ == ["X", "Y"]  # accumulated over fit and predict
    assert model.fallback_ == [TRAIN_MEAN_FALLBACK, ""]
    np.testing.assert_allclose(pred[0], np.vstack([Y, Y[0]]).mean(axis=0))
    no_names = (
        "linear without an embedding table embeds a perturbation by its gene's row of G: "
        "pass var_names (the measured genes) or embedding=TABLE"
    )
    with pytest.raises(ValueError, match="^" + re.escape(no_names) + "$"):
        get_predictor("linear").fit(perts, Y)
    ghosts = [f"z{i:02d}" for i in range(12)]
    strict = get_predictor("linear", var_names=var_names).fit(perts, Y)
    msg = (
        f"perturbed gene(s) {ghosts[:10]} are absent from both the embedding table and "
        "adata.var_names; pass embedding=TABLE covering them or pass missing='skip' (command "
        "line: --missing skip)"
    )
    with pytest.raises(KeyError, match=re.escape(msg)):
        strict.predict([(g,) for g in ghosts])


def _shrink_reference(perts, D, make_base, lambdas):
    """Inner folds by hand (leave one gene out, or one perturbation without singles; >= 2 train)."""

    def r(a, b):
        a, b = a - a.mean(), b - b.mean()
        den = np.sqrt((a @ a) * (b @ b))
        return a @ b / den if den > 0 else np.nan

    singles = [i for i, p in enumerate(perts) if len(p) == 1]
    if singles:
        folds = [([j for j, p in enumerate(perts) if perts[i][0] not in p], i) for i in singles]
    else:
        folds = [([j for j in range(len(perts)) if j != i], i) for i in range(len(perts))]
    rows = []
    for tr, i in folds:
        if len(tr) < 2:
            continue
        m = make_base().fit([perts[j] for j in tr], D[tr])
        mu = D[tr].mean(axis=0)
        resid = m.predict([perts[i]])[0] - mu
        rows.append([r(mu + lam * resid, D[i]) for lam in lambdas])
    return np.array(rows)


def test_shrink_without_singles_small_deltas_and_a_flat_fold():
    """Doubles only: leave-one-perturbation-out; tiny deltas (Pearson is scale-free); a held-out
    delta that is constant gives NaN for that fold only."""
    table, genes, _ = _planted(n=10, d=4, g=15, seed=17)
    rng = np.random.default_rng(17)
    perts = [(genes[i], genes[i + 1]) for i in range(8)]
    D = 1e-3 * rng.normal(size=(8, 15))
    D[3] = 0.0  # a double without effect
    lambdas = (0.0, 0.3, 1.0)
    model = get_predictor(
        "shrink", embedding=table, base="knn", base_params={"k": 2}, lambdas=lambdas
    ).fit(perts, D)
    rows = _shrink_reference(perts, D, lambda: get_predictor("knn", embedding=table, k=2), lambdas)
    assert (
        rows.shape == (8, 3)
        and np.isnan(rows[3]).all()
        and np.isfinite(np.delete(rows, 3, 0)).all()
    )
    np.testing.assert_allclose(model.cv_scores_, np.delete(rows, 3, 0).mean(axis=0), rtol=1e-8)


def test_shrink_folds_with_two_training_rows_count_and_no_folds_gives_the_mean():
    table, genes, delta = _planted(n=6, d=4, g=9, seed=18)
    D = delta + np.random.default_rng(18).normal(scale=0.5, size=delta.shape)
    three = [(g,) for g in genes[:3]]  # each inner fold trains on exactly 2
    lambdas = (0.0, 0.5, 1.0)
    model = get_predictor("shrink", embedding=table, base="knn", lambdas=lambdas).fit(three, D[:3])
    rows = _shrink_reference(three, D[:3], lambda: get_predictor("knn", embedding=table), lambdas)
    assert rows.shape == (3, 3)
    np.testing.assert_allclose(model.cv_scores_, rows.mean(axis=0), rtol=1e-8)
    two = get_predictor("shrink", embedding=table, base="knn", lambdas=lambdas)
    two.fit(three[:2], D[:2])  # one training row per inner fold: no fold at all
    assert two.cv_scores_.shape == (3,) and np.isnan(two.cv_scores_).all()
    assert two.lambda_ == 0.0
    np.testing.assert_allclose(two.predict([(genes[4],)])[0], D[:2].mean(axis=0))


def test_shrink_passes_missing_and_var_names_to_its_base():
    table, genes, delta = _planted(n=8, d=4, g=6, seed=19)
    perts = [(g,) for g in genes[:6]] + [("ghost",)]
    D = np.vstack([delta[:6], delta[0]])
    skip = get_predictor("shrink", embedding=table, missing="skip", base="ridge").fit(perts, D)
    pred = skip.predict([("ghost",), (genes[7],)])
    assert skip.fallback_ == [TRAIN_MEAN_FALLBACK, ""]
    np.testing.assert_allclose(pred[0], D.mean(axis=0))
    var_names, vperts, Y = _pca_data(n_train=10)
    model = get_predictor("shrink", base="linear", var_names=var_names).fit(vperts, Y)
    lin = get_predictor("linear", var_names=var_names).fit(vperts, Y)
    test = [("v20",), ("v1",)]
    b = Y.mean(axis=0)
    np.testing.assert_allclose(
        model.predict(test), b + model.lambda_ * (lin.predict(test) - b), rtol=1e-10
    )
