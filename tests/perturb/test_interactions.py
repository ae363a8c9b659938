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
