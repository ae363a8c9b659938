"""Kang et al. 2018 PBMC interferon-beta stimulation (as processed by scGen)."""

from __future__ import annotations

from ._anndata import read_h5ad

__all__ = ["kang2018"]


def kang2018():
    """Kang 2018 PBMCs, control vs interferon-beta stimulated (scGen's ``valid.h5ad``).

    Upstream: ``theislab/scgen@dd7e178``, ``data/valid.h5ad`` (GPL-3.0; deleted from scgen in
    later commits). Kang et al. 2018, Nat Biotechnol; processed by Lotfollahi et al. 2019.
    A real control-vs-perturbed data set (a cytokine, not a genetic perturbation).

    Returns
    -------
    AnnData
        1,975 cells x 6,998 genes (``var_names`` = gene symbols), ``X`` sparse CSR float32
        log-normalised; ``obs["condition"]`` categorical ``control`` / ``stimulated``,
        ``obs["cell_type"]`` (7 types), ``n_counts``, ``n_genes``, ``mt_frac``; ``obsm`` has
        ``X_pca``, ``X_tsne``, ``X_umap``; ``obsp`` the neighbour graph.
    """
    return read_h5ad("kang2018")
