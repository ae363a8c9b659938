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
