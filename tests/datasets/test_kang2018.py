from __future__ import annotations

from biobft.datasets import kang2018


def test_kang2018(data_mirror):
    adata = kang2018()
    assert adata.shape == (1_975, 6_998)
    assert set(adata.obs["condition"].astype(str)) == {"control", "stimulated"}
    assert adata.obs["cell_type"].nunique() == 7
    assert adata.var_names.is_unique
