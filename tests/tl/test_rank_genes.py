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
