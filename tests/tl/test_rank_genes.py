from __future__ import annotations

from biobft.perturb._synthetic import synthetic_perturbation_data
from biobft.tl._rank_genes import rank_genes


def test_rank_genes_writes_uns():
    adata, _, _ = synthetic_perturbation_data(control="NTC", seed=11)
    adata.obs = adata.obs.rename(columns={"condition": "guide"})
    res = rank_genes(adata, condition_key="guide", control="NTC", n_genes=5, copy=True)
    assert "rank_genes_perturbation" not in adata.uns
    names = res.uns["rank_genes_perturbation"]["names"]
    assert "NTC" not in names.dtype.names and len(names) == 5
    assert "counts" in res.uns["rank_genes_perturbation"]["params"]["normalization"]
    from biobft.perturb.pseudobulk import pseudobulk

    pb = pseudobulk(adata, condition_key="guide", control="NTC", n_top_de=5)
    ours = set(pb.var_names[pb.de["P0"]])
    assert len(ours & set(names["P0"])) >= 4


def test_rank_genes_takes_sep_and_min_cells_and_drops_small_groups():
    import numpy as np
    import pytest

    adata, _, _ = synthetic_perturbation_data(control="NTC", seed=3)
    lab = adata.obs["condition"].astype(str).to_numpy().copy()
    lone = lab[lab != "NTC"][0]
    first = np.flatnonzero(lab == lone)
    lab[first[1:]] = "NTC"  # `lone` keeps one cell
    adata.obs["condition"] = lab
    with pytest.raises(ValueError, match="fewer than 2 cells"):
        rank_genes(adata, control="NTC", copy=True)
    with pytest.warns(UserWarning, match=rf"dropped 1 condition group.*{lone!r}: 1"):
        res = rank_genes(adata, control="NTC", n_genes=3, min_cells=2, copy=True)
    names = res.uns["rank_genes_perturbation"]["names"].dtype.names
    assert lone not in names and set(names) == set(np.unique(lab)) - {"NTC", lone}
    # a joined label is read with the separator given
    adata.obs["condition"] = [c.replace("+", "_") for c in adata.obs["condition"].astype(str)]
    with pytest.warns(UserWarning, match="dropped 1 condition group"):
        res = rank_genes(adata, control="NTC", n_genes=3, sep="_", min_cells=2, copy=True)
    got = set(res.uns["rank_genes_perturbation"]["names"].dtype.names)
    assert got == {n.replace("+", "_") for n in names} and any("_" in n for n in got)
