"""AnnData wrapper: the top DE genes of every perturbation against the control (scanpy)."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from ..perturb.conditions import perturbation_input

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData


def rank_genes(
    adata: AnnData,
    *,
    condition_key: str = "condition",
    control: str | None = None,
    n_genes: int = 20,
    sep: str = "+",
    layer: str | None = None,
    normalize: bool | Literal["auto"] = "auto",
    min_cells: int | None = None,
    key_added: str = "rank_genes_perturbation",
    copy: bool = False,
) -> AnnData | None:
    """Top DE genes of every condition against the control with ``scanpy.tl.rank_genes_groups``.

    GEARS' settings: Welch t-test, ranked by ``|score|``, against the control (not the rest).

    Parameters
    ----------
    adata
        Cells x genes; raw counts are normalised + ``log1p`` on a temporary copy first.
    condition_key, control
        Condition column and control label (``None``: detect).
    n_genes
        Genes per condition (GEARS: 20).
    sep
        Separator of combination labels (``"A+B"``).
    layer, normalize
        Expression input.
    min_cells
        Condition groups with fewer cells are refused (default: under 2 cells) or, when given,
        dropped with a warning (see :func:`biobft.perturb.conditions.perturbation_input`).
    key_added
        ``adata.uns`` key of the result (scanpy's ``rank_genes_groups`` structure; ``params``
        records the normalisation used).
    copy
        Return a modified copy instead of writing into ``adata``.

    Returns
    -------
    ``None`` (or the copy) ; the result is in ``adata.uns[key_added]``.
    """
    import anndata as ad
    import scanpy as sc

    inp = perturbation_input(
        adata,
        condition_key=condition_key,
        control=control,
        sep=sep,
        layer=layer,
        normalize=normalize,
        min_cells=min_cells,
    )
    control, used = inp.control, inp.normalization
    if len(inp.conditions) < 2:
        raise ValueError(
            f"adata.obs[{condition_key!r}] has only the control label {control!r} "
            f"({adata.n_obs} cells): there is no perturbation to rank genes for; pass data "
            "with perturbed cells or the right condition_key"
        )
    keep = np.isin(inp.labels, inp.groups["condition"].to_numpy())  # min_cells drops groups
    tmp = ad.AnnData(
        inp.X[keep],
        obs=pd.DataFrame({"g": pd.Categorical(inp.labels[keep])}, index=inp.obs_names[keep]),
    )
    tmp.var_names = inp.var_names
    with warnings.catch_warnings():  # scanpy's own fragmented-frame warning
        warnings.simplefilter("ignore", pd.errors.PerformanceWarning)
        sc.tl.rank_genes_groups(
            tmp,
            "g",
            reference=control,
            method="t-test",
            rankby_abs=True,
            n_genes=n_genes,
            use_raw=False,
            key_added=key_added,
        )
    adata = adata.copy() if copy else adata
    result = tmp.uns[key_added]
    result["params"] = {**result["params"], "groupby": condition_key, "normalization": used}
    adata.uns[key_added] = result
    return adata if copy else None
