from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from biobft.perturb._synthetic import synthetic_perturbation_data
from biobft.perturb.interactions import (
    additivity_deviation,
    compare_gi_fits,
    fit_gi_coefficients,
    interaction_table,
    seen_doubles,
)
from biobft.perturb.pseudobulk import pseudobulk


def test_fit_gi_coefficients_recovers_planted():
    rng = np.random.default_rng(0)
    da, db = rng.normal(size=100), rng.normal(size=100)
    c1, c2 = fit_gi_coefficients(2.0 * da + 0.5 * db, da, db)
    assert (c1, c2) == pytest.approx((2.0, 0.5))
    np.testing.assert_allclose(additivity_deviation(da + db, da, db), 0.0, atol=1e-12)


def test_interaction_table_and_norman_comparison():
    adata, _, _ = synthetic_perturbation_data(n_doubles=5, cells_per_condition=200, seed=2)
    pb = pseudobulk(adata, control="control", n_top_de=0)
    pairs = seen_doubles(pb)
    assert len(pairs) == 5
    dbl = pairs["id"].iloc[0]
    perfect = {dbl: pb.profiles([dbl])[0]}
    table = interaction_table(pb, perfect)
    assert table.loc[dbl, "pearson_dev"] == pytest.approx(1.0)
    assert np.isnan(table["pearson_dev"]).sum() == 4  # no prediction for the others
    # synthetic doubles are additive: both coefficients near 1
    assert table[["coef_a", "coef_b"]].to_numpy().mean() == pytest.approx(1.0, abs=0.2)
    # Norman index "A_B" in either order; coefficients aligned to Norman's order
    r = table.iloc[0]
    fits = pd.DataFrame(
        {"ts_coef_first": [r["coef_b"], 1.0], "ts_coef_second": [r["coef_a"], 2.0]},
        index=[f"{r['gene_b']}_{r['gene_a']}", "X_Y"],
    )
    matched, stats = compare_gi_fits(table, fits)
    assert stats["n"] == 1
    assert matched.loc[0, "coef_first"] == pytest.approx(matched.loc[0, "ts_coef_first"])
    with pytest.raises(KeyError, match="no column"):
        compare_gi_fits(table, fits.drop(columns="ts_coef_first"))


@pytest.fixture(scope="module")
def gi_pb():
    adata, _, _ = synthetic_perturbation_data(
        n_doubles=5, cells_per_condition=60, interaction=0.5, seed=3
    )
    return pseudobulk(adata, control="control", n_top_de=0)


def test_pearson_dev_is_on_deviations_from_additivity(gi_pb):
    from scipy import stats

    pb = gi_pb
    X = np.asarray(pb.X, dtype=np.float64)
    row = {i: X[k] for k, i in enumerate(pb.obs.index)}
    rng = np.random.default_rng(0)
    pairs = seen_doubles(pb)
    # a prediction that is additive plus a weak, noisy share of the interaction
    preds = {}
    for _, r in pairs.iterrows():
        ctrl, a, b, ab = row["control"], row[r["id_a"]], row[r["id_b"]], row[r["id"]]
        noise = rng.normal(scale=0.5, size=X.shape[1])
        preds[r["id"]] = a + b - ctrl + 0.3 * (ab - a - b + ctrl) + noise
    table = interaction_table(pb, preds)
    gaps = []
    for _, r in pairs.iterrows():
        ctrl = row["control"]
        da, db = row[r["id_a"]] - ctrl, row[r["id_b"]] - ctrl
        obs_dev = row[r["id"]] - ctrl - da - db
        pred_dev = preds[r["id"]] - ctrl - da - db
        right = stats.pearsonr(pred_dev, obs_dev)[0]
        assert table.loc[r["id"], "pearson_dev"] == pytest.approx(right, rel=1e-6)
        assert table.loc[r["id"], "obs_dev_norm"] == pytest.approx(np.linalg.norm(obs_dev))
        gaps.append(stats.pearsonr(preds[r["id"]] - ctrl, row[r["id"]] - ctrl)[0] - right)
    assert np.mean(gaps) > 0.2  # the raw-delta correlation (the wrong one) is higher


def test_compare_gi_fits_spearman_is_a_rank_correlation(gi_pb):
    from scipy import stats

    table = interaction_table(gi_pb)
    # Norman's coefficients a monotone but very non-linear function of ours
    first, second = np.exp(8 * table["coef_a"]), np.exp(8 * table["coef_b"])
    fits = pd.DataFrame({"ts_coef_first": first, "ts_coef_second": second})
    fits.index = [f"{a}_{b}" for a, b in zip(table["gene_a"], table["gene_b"])]
    _, res = compare_gi_fits(table, fits)
    x = np.r_[table["coef_a"], table["coef_b"]]
    y = np.r_[fits["ts_coef_first"], fits["ts_coef_second"]]
    assert res["n"] == 5
    assert res["spearman_coef"] == pytest.approx(stats.spearmanr(x, y)[0]) == pytest.approx(1.0)
    assert res["pearson_coef"] == pytest.approx(stats.pearsonr(x, y)[0])
    assert res["pearson_coef"] < 0.99  # the two statistics disagree on these data
