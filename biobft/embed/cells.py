"""Cell embeddings from gene embeddings (pure NumPy/SciPy kernels; AnnData wrapper in ``tl``)."""

from __future__ import annotations

import numpy as np

__all__ = ["genept_w"]


def genept_w(expr, gene_vectors: np.ndarray, present: np.ndarray) -> np.ndarray:
    """GenePT-w kernel: expression-weighted mean of gene vectors, rows L2-normalised.

    Parameters
    ----------
    expr
        ``(cells, genes)`` dense array or scipy sparse matrix of non-negative weights.
    gene_vectors
        ``(genes, dim)``; rows of absent genes are ignored.
    present
        ``(genes,)`` bool: which genes have a vector.

    Returns
    -------
    ``(cells, dim)`` float32; a cell that expresses no present gene gets a zero row.
    """
    import scipy.sparse as sp

    vecs = np.where(present[:, None], np.nan_to_num(gene_vectors, nan=0.0), 0.0)
    vecs = vecs.astype(np.float64)
    if sp.issparse(expr):
        expr = sp.csr_matrix(expr)
        summed = np.asarray(expr @ vecs)
        weight = np.asarray(expr @ present.astype(np.float64)).ravel()
    else:
        expr = np.asarray(expr, dtype=np.float64)
        summed = expr @ vecs
        weight = expr @ present.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(weight[:, None] > 0, summed / weight[:, None], 0.0)
    norm = np.linalg.norm(mean, axis=1, keepdims=True)
    out = np.divide(mean, norm, out=np.zeros_like(mean), where=norm > 0)
    return out.astype(np.float32)
