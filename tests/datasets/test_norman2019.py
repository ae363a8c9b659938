from __future__ import annotations

import numpy as np

from biobft.datasets import norman2019_emap, norman2019_gears_subset, norman2019_gi_fits


def test_gi_fits(data_mirror):
    df = norman2019_gi_fits()
    assert df.shape == (125, 53)
    assert df.index.name == "name" and df.index[0] == "AHR_FEV" and df.index.is_unique
    assert (df.dtypes == np.float64).all()
    assert {"ts_coef_first", "ts_coef_second", "dcor", "mad_explained", "score"} <= set(df.columns)
    genes = {g for name in df.index for g in name.split("_")}
    assert len(genes) == 67


def test_emap(data_mirror):
    df = norman2019_emap()
    assert df.shape == (112, 112)
    assert list(df.index) == list(df.columns)
    np.testing.assert_allclose(df.to_numpy(), df.to_numpy().T, atol=1e-12)
    assert df.loc["AHR", "ARID1A"] == df.loc["ARID1A", "AHR"]
    assert abs(df.loc["AHR", "ARID1A"] - (-0.821762)) < 1e-6


def test_gears_subset(data_mirror):
    adata = norman2019_gears_subset()
    assert adata.shape == (50, 50)
    assert "counts" in adata.layers
    conds = set(adata.obs["condition"].astype(str))
    assert all(c == "ctrl" or "+" in c for c in conds)
    assert any(c.endswith("+ctrl") for c in conds)
