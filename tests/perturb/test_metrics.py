from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import mean_squared_error

from biobft.perturb.metrics import (
    METRICS,
    auroc_per_gene,
    compute_metrics,
    frac_wrong_direction_de,
    l2_top_expressed,
    mse_de,
    pearson,
    pearson_delta,
    pearson_delta_de,
    rmse,
)


@pytest.fixture
def profiles():
    rng = np.random.default_rng(0)
    ctrl = rng.gamma(2.0, size=50)
    obs = ctrl + rng.normal(size=50)
    pred = ctrl + 0.5 * (obs - ctrl) + rng.normal(scale=0.5, size=50)
    de = np.array([3, 7, 11, 20, 42])
    return pred, obs, ctrl, de


def test_pearson_metrics_match_scipy(profiles):
    pred, obs, ctrl, de = profiles
    assert pearson_delta(pred, obs, ctrl) == pytest.approx(
        stats.pearsonr(pred - ctrl, obs - ctrl)[0]
    )
    ref = stats.pearsonr((pred - ctrl)[de], (obs - ctrl)[de])[0]
    assert pearson_delta_de(pred, obs, ctrl, de) == pytest.approx(ref)
    assert np.isnan(pearson(np.ones(5), np.arange(5.0)))
    assert np.isnan(pearson(1e-17 * np.arange(5.0), np.arange(5.0)))  # rounding noise only


def test_error_metrics_match_references(profiles):
    pred, obs, ctrl, de = profiles
    assert mse_de(pred, obs, ctrl, de) == pytest.approx(mean_squared_error(obs[de], pred[de]))
    assert rmse(pred, obs) == pytest.approx(np.sqrt(mean_squared_error(obs, pred)))
    top = np.argsort(ctrl)[::-1][:10]
    ref = np.linalg.norm(pred[top] - obs[top])
    assert l2_top_expressed(pred, obs, ctrl, n_top=10) == pytest.approx(ref)
    assert l2_top_expressed(pred, obs, ctrl) == pytest.approx(np.linalg.norm(pred - obs))


def test_frac_wrong_direction_naive_loop(profiles):
    pred, obs, ctrl, de = profiles
    wrong = sum(np.sign(pred[i] - ctrl[i]) != np.sign(obs[i] - ctrl[i]) for i in de)
    assert frac_wrong_direction_de(pred, obs, ctrl, de) == pytest.approx(wrong / len(de))
    assert frac_wrong_direction_de(ctrl, obs, ctrl, de) == 1.0  # "no change" is always wrong


def test_compute_metrics_table(profiles):
    pred, obs, ctrl, de = profiles
    df = compute_metrics(
        np.stack([pred, obs]), np.stack([obs, obs]), ctrl, [de, None], index=["a", "b"]
    )
    assert list(df.columns) == list(METRICS)
    assert df.loc["a", "rmse"] == pytest.approx(rmse(pred, obs))
    assert df.loc["b", "pearson_delta"] == pytest.approx(1.0)
    assert np.isnan(df.loc["b", "mse_de"])
    with pytest.raises(ValueError, match="unknown metric"):
        compute_metrics(pred, obs, ctrl, metrics=["mse"])
    with pytest.raises(ValueError, match="needs the top DE"):
        mse_de(pred, obs, ctrl, None)


def _auc_per_gene_loop(genes, labels, scores):
    """Independent reference: PerturbQA's definition, one sklearn call per readout gene."""
    from sklearn.metrics import roc_auc_score

    out = {}
    for g in sorted(set(genes)):
        idx = [i for i, x in enumerate(genes) if x == g]
        y = [labels[i] for i in idx]
        if sum(y) == 0 or sum(y) == len(y):
            continue
        out[g] = roc_auc_score(y, [scores[i] for i in idx])
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auroc_per_gene_matches_sklearn_loop(seed):
    rng = np.random.default_rng(seed)
    n = 600
    genes = [f"G{i}" for i in rng.integers(0, 40, n)]
    labels = rng.integers(0, 2, n).tolist()
    # rounded scores: many ties, which roc_auc_score counts one half
    scores = np.round(rng.normal(size=n) + 0.5 * np.asarray(labels), 1).tolist()
    genes += ["ALL0"] * 5 + ["ALL1"] * 4  # skipped: one class only
    labels += [0] * 5 + [1] * 4
    scores += rng.normal(size=9).tolist()
    ref = _auc_per_gene_loop(genes, labels, scores)
    per_gene = auroc_per_gene(genes, labels, scores, reduce=False)
    assert list(per_gene.index) == sorted(ref)
    np.testing.assert_allclose(per_gene.to_numpy(), [ref[g] for g in sorted(ref)], atol=1e-12)
    assert auroc_per_gene(genes, labels, scores) == pytest.approx(np.mean(list(ref.values())))


def test_auroc_per_gene_constant_per_gene_is_half():
    genes = ["A", "A", "A", "B", "B", "B", "B"]
    labels = [0, 1, 1, 1, 0, 0, 1]
    base = {"A": 0.9, "B": 0.1}
    assert auroc_per_gene(genes, labels, [base[g] for g in genes]) == 0.5
    assert np.isnan(auroc_per_gene(["A", "A"], [1, 1], [0.3, 0.4]))


def test_auroc_per_gene_rejects_bad_input():
    with pytest.raises(ValueError, match="one entry per pair"):
        auroc_per_gene(["A"], [0, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match="0 or 1"):
        auroc_per_gene(["A", "A"], [0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="NaN"):
        auroc_per_gene(["A", "A"], [0, 1], [0.1, np.nan])


# --- metrics on data where the right quantity and a plausible wrong one disagree -------------


@pytest.fixture
def shifted():
    """Profiles sharing a strong control baseline: raw-profile Pearson ~1, delta Pearson low."""
    rng = np.random.default_rng(3)
    ctrl = rng.gamma(2.0, scale=3.0, size=200)
    obs = ctrl + rng.normal(size=200)
    pred = ctrl + 0.3 * (obs - ctrl) + rng.normal(size=200)
    return pred, obs, ctrl


def test_pearson_delta_is_on_changes_not_raw_profiles(shifted):
    pred, obs, ctrl = shifted
    right = stats.pearsonr(pred - ctrl, obs - ctrl)[0]
    wrong = stats.pearsonr(pred, obs)[0]
    assert wrong - right > 0.3  # the data separate the two
    df = compute_metrics(pred, obs, ctrl, [np.arange(20)])
    assert df.loc[0, "pearson_delta"] == pytest.approx(right, rel=1e-12)
    assert df.loc[0, "pearson_delta_de"] == pytest.approx(
        stats.pearsonr((pred - ctrl)[:20], (obs - ctrl)[:20])[0], rel=1e-12
    )


def test_no_change_gives_nan_pearson_and_rms_of_the_delta(shifted):
    _, obs, ctrl = shifted
    de = np.arange(30)
    df = compute_metrics(ctrl, obs, ctrl, [de])
    assert np.isnan(df.loc[0, "pearson_delta"]) and np.isnan(df.loc[0, "pearson_delta_de"])
    assert df.loc[0, "rmse"] == pytest.approx(np.sqrt(np.mean((obs - ctrl) ** 2)), rel=1e-12)
    assert df.loc[0, "mse_de"] == pytest.approx(np.mean((obs - ctrl)[de] ** 2), rel=1e-12)
    assert df.loc[0, "frac_wrong_direction_de"] == 1.0


def test_pearson_is_float64_exact_on_float32_input():
    rng = np.random.default_rng(1)
    a = (1000 + rng.normal(size=5000)).astype(np.float32)
    b = (a + rng.normal(size=5000)).astype(np.float32)
    ref = stats.pearsonr(a.astype(np.float64), b.astype(np.float64))[0]
    assert pearson(a, b) == pytest.approx(ref, rel=1e-12, abs=0)
    assert pearson(b, a) == pytest.approx(ref, rel=1e-12, abs=0)


def test_pearson_nan_threshold_is_for_rounding_noise_only():
    # a tiny but real spread is a correlation, not "constant"
    assert pearson(np.array([0.0, 0.1, 0.2]), np.array([0.0, 0.2, 0.1])) == pytest.approx(0.5)


def test_pearson_is_clipped_to_minus_one_one():
    """Exact linear relations give +-1 (up to rounding), never beyond. Whether the unclipped formula
    overshoots a given input depends on the CPU's BLAS rounding (a fixed seed overshot on an
    Intel Xeon, not on an AMD EPYC), so many inputs are tried and some must overshoot."""
    rng = np.random.default_rng(15)
    overshoots = 0
    for _ in range(300):
        x = rng.normal(size=int(rng.integers(3, 40)))
        slope = rng.choice([-1, 1]) * rng.uniform(0.01, 100)
        y = slope * x + rng.normal()
        a, b = x - x.mean(), y - y.mean()
        over = abs((a @ b) / np.sqrt((a @ a) * (b @ b))) > 1.0
        r = pearson(x, y)
        assert -1.0 <= r <= 1.0 and r == pytest.approx(np.sign(slope), abs=1e-12)
        if over:  # clipped to exactly +-1
            assert r == np.sign(slope)
        overshoots += over
    assert overshoots > 0  # the clip was exercised on this machine


def test_l2_top_expressed_default_n_top_and_ties():
    rng = np.random.default_rng(2)
    n = 1500
    # many ties in the control: the top genes are the first in (-ctrl, index) order
    ctrl = rng.integers(0, 4, size=n).astype(np.uint16)  # counts: -ctrl must not wrap around
    pred, obs = rng.normal(size=n), rng.normal(size=n)
    order = sorted(range(n), key=lambda i: (-int(ctrl[i]), i))
    for n_top, kw in ((1000, {}), (700, {"n_top": 700})):
        top = order[:n_top]
        ref = np.sqrt(np.sum((pred[top] - obs[top]) ** 2))
        assert l2_top_expressed(pred, obs, ctrl, **kw) == pytest.approx(ref, rel=1e-12)


def test_compute_metrics_defaults_and_float_columns(profiles):
    pred, obs, ctrl, de = profiles
    df = compute_metrics(np.stack([pred, pred]), np.stack([obs, obs]), ctrl)  # no de, no index
    assert list(df.index) == [0, 1] and list(df.columns) == list(METRICS)
    for m in ("pearson_delta_de", "mse_de", "frac_wrong_direction_de"):
        assert df[m].dtype == np.float64 and df[m].isna().all()
    assert df.loc[1, "rmse"] == pytest.approx(np.sqrt(np.mean((pred - obs) ** 2)))
    # DE indices given (here as floats, as read back from JSON) are used
    df = compute_metrics(pred, obs, ctrl, [de.astype(float)], metrics=["mse_de", "rmse"])
    assert list(df.columns) == ["mse_de", "rmse"]
    assert df.loc[0, "mse_de"] == pytest.approx(np.mean((pred[de] - obs[de]) ** 2))
    empty = compute_metrics(np.zeros((0, 5)), np.zeros((0, 5)), np.zeros(5))
    assert list(empty.columns) == list(METRICS) and len(empty) == 0


def test_compute_metrics_errors_say_what_is_wrong(profiles):
    pred, obs, ctrl, _ = profiles
    with pytest.raises(ValueError, match=r"same shape; got \(1, 49\) vs \(1, 50\)"):
        compute_metrics(pred[:49], obs, ctrl)
    msg = r"^this metric needs the top DE gene indices \(de=\.\.\.\)$"
    with pytest.raises(ValueError, match=msg):
        pearson_delta_de(pred, obs, ctrl, None)


def test_auroc_per_gene_series_labels_and_exact_errors():
    """reduce=False: a Series named ``auroc`` indexed by ``gene``; errors say what and how many."""
    per_gene = auroc_per_gene(
        ["B", "A", "A", "B"], [1, 0, 1, 0], [0.9, 0.2, 0.1, 0.3], reduce=False
    )
    assert per_gene.name == "auroc" and per_gene.index.name == "gene"
    assert per_gene.to_dict() == {"A": 0.0, "B": 1.0}
    with pytest.raises(ValueError, match=r"^labels must be 0 or 1$"):
        auroc_per_gene(["A", "A"], [0, 2], [0.1, 0.2])
    msg = r"^2 score\(s\) are NaN or infinite; score every pair$"
    with pytest.raises(ValueError, match=msg):
        auroc_per_gene(["A"] * 5, [0, 1, 0, 1, 1], [0.1, np.inf, np.nan, 0.4, 0.5])
