"""AnnData wrappers for gene and cell embeddings (scanpy contract; maths in :mod:`biobft.embed`)."""

from __future__ import annotations

import logging
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..embed.cells import genept_w

logger = logging.getLogger(__name__)

__all__ = ["cell_embedding", "gene_embedding"]

MISSING_POLICIES = ("zero", "nan", "error")


def gene_embedding(
    adata,
    *,
    table: pd.DataFrame | None = None,
    model: Any = "minilm",
    source: str | pd.Series = "refseq",
    key_added: str = "X_biobft",
    missing: Literal["zero", "nan", "error"] = "zero",
    copy: bool = False,
    **embed_kwargs: Any,
):
    """Write a gene embedding for every ``adata.var_names`` to ``adata.varm[key_added]``.

    Parameters
    ----------
    adata
        AnnData whose ``var_names`` are gene symbols.
    table
        An embedding table (index = gene symbol); default: computed with
        :func:`biobft.embed.embed_genes` from ``model`` and ``source`` (aliases resolved).
    model, source, **embed_kwargs
        Passed to :func:`biobft.embed.embed_genes` when ``table`` is None.
    key_added
        ``.varm`` key; parameters go to ``.uns[key_added]["params"]``, the genes without a vector
        to ``.uns[key_added]["missing"]`` and a bool mask to ``.var[f"{key_added}_present"]``.
    missing
        What genes without a vector get: ``"zero"`` (a zero row: contributes nothing to
        :func:`cell_embedding`), ``"nan"`` (a NaN row) or ``"error"`` (raise a KeyError).
    copy
        Return a modified copy instead of writing in place.

    Returns
    -------
    AnnData or None
        The copy when ``copy=True``, else None.

    Raises
    ------
    ValueError
        Unknown ``missing`` policy, duplicated ``var_names``, or no ``var_name`` has a vector.
    TypeError
        ``adata`` is not an AnnData, or ``table`` is not a real-valued DataFrame.
    KeyError
        ``missing="error"`` and some genes have no vector.
    """
    from .._input import check_adata, var_index
    from ..embed.table import table_metadata, validate_table

    check_adata(adata)
    if missing not in MISSING_POLICIES:
        raise ValueError(f"unknown missing policy {missing!r}; choose one of {MISSING_POLICIES}")
    genes = list(var_index(adata))
    if table is None:
        from ..embed.genes import embed_genes

        try:
            table = embed_genes(genes, source=source, model=model, **embed_kwargs)
        except ValueError as err:
            if "none of the" in str(err):
                raise ValueError(
                    f"no gene of adata.var_names (e.g. {genes[:5]}) has a text in source "
                    f"{source if isinstance(source, str) else 'Series'!r}; are var_names gene "
                    "symbols? (if they are Ensembl IDs, set adata.var_names to a symbol column)"
                ) from err
            raise
    else:
        table = validate_table(table)
    present = pd.Index(genes).isin(table.index)
    if not present.any():
        raise ValueError(
            f"none of the {len(genes)} adata.var_names (e.g. {genes[:5]}) is in the embedding "
            f"table (e.g. {list(table.index[:5])}); are var_names gene symbols? (if they are "
            "Ensembl IDs, set adata.var_names to a symbol column)"
        )
    absent = [g for g, p in zip(genes, present) if not p]
    if absent and missing == "error":
        raise KeyError(
            f"{len(absent)} of {len(genes)} genes have no embedding (e.g. {absent[:10]}); "
            "pass missing='zero' or 'nan', or subset adata to genes in the table"
        )
    fill = 0.0 if missing == "zero" else np.nan
    mat = table.reindex(genes).to_numpy(dtype=np.float32)
    mat[~present] = fill
    if absent:
        logger.info("%d of %d genes have no embedding (%s rows)", len(absent), len(genes), missing)

    adata = adata.copy() if copy else adata
    adata.varm[key_added] = mat
    adata.var[f"{key_added}_present"] = present
    meta = table_metadata(table)
    adata.uns[key_added] = {
        "params": {
            "model": str(meta.get("model", "")),
            "source": str(meta.get("source", "")),
            "pooling": str(meta.get("pooling", "")),
            "missing": missing,
            "n_genes": len(genes),
            "n_present": int(present.sum()),
        },
        "missing": np.asarray(absent, dtype=str),
    }
    return adata if copy else None


def cell_embedding(
    adata,
    *,
    varm_key: str = "X_biobft",
    layer: str | None = None,
    key_added: str = "X_genept_w",
    copy: bool = False,
):
    """GenePT-w cell embeddings: expression-weighted mean of gene embeddings, L2-normalised.

    Parameters
    ----------
    adata
        AnnData with gene vectors in ``.varm[varm_key]`` (see :func:`gene_embedding`).
    varm_key
        Gene-embedding key; genes with a NaN or all-zero row are ignored.
    layer
        Expression layer used as weights; default ``.X``. Sparse matrices stay sparse.
    key_added
        ``.obsm`` key; parameters go to ``.uns[key_added]["params"]``.
    copy
        Return a modified copy instead of writing in place.

    Returns
    -------
    AnnData or None
        The copy when ``copy=True``, else None.

    Raises
    ------
    KeyError
        ``varm_key`` or ``layer`` not found.
    ValueError
        Negative weights, NaN/inf in the expression, backed data, or no gene has a vector.
    TypeError
        ``adata`` is not an AnnData or the expression is not numeric.
    """
    import scipy.sparse as sp

    from .._input import check_adata, matrix

    check_adata(adata)
    if varm_key not in adata.varm:
        raise KeyError(
            f"adata.varm has no {varm_key!r} (keys: {list(adata.varm.keys())}); run "
            f"biobft.tl.gene_embedding(adata, key_added={varm_key!r}) first"
        )
    expr = matrix(adata, layer=layer)  # KeyError, backed, dtype and NaN/inf checks
    vecs = np.asarray(adata.varm[varm_key], dtype=np.float32)
    present = np.isfinite(vecs).all(axis=1) & (np.abs(vecs).sum(axis=1) > 0)
    if not present.any():
        raise ValueError(f"adata.varm[{varm_key!r}] has no gene with a (non-zero) vector")
    min_val = expr.min() if sp.issparse(expr) else np.min(expr)
    if min_val < 0:
        raise ValueError(
            f"expression weights must be non-negative (min {float(min_val):.3g}); pass a layer "
            "of counts or log-normalised values, not scaled data"
        )
    emb = genept_w(expr, vecs, present)
    adata = adata.copy() if copy else adata
    adata.obsm[key_added] = emb
    adata.uns[key_added] = {
        "params": {
            "varm_key": varm_key,
            "layer": layer if layer is not None else "X",
            "n_genes_used": int(present.sum()),
            "n_cells_empty": int((np.abs(emb).sum(axis=1) == 0).sum()),
        }
    }
    return adata if copy else None
