"""The expression matrix of an AnnData: raw counts are detected and log-normalised (the scanpy
way, ``normalize_total`` + ``log1p``); anything else is used as is. :func:`expression_matrix` is
one of the AnnData doors of :mod:`biobft.perturb` (see :mod:`~biobft.perturb.conditions`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
from scipy import sparse

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData


def is_count_matrix(X: np.ndarray | sparse.spmatrix, *, n_check: int = 200_000) -> bool:
    """Whether ``X`` looks like raw counts (non-negative integers, not all tiny).

    Only the first ``n_check`` stored values are inspected, so this is cheap on large data.
    """
    values = X.data if sparse.issparse(X) else np.asarray(X).ravel()
    values = np.asarray(values[:n_check], dtype=np.float64)
    if values.size == 0:
        return False
    return bool(
        (values >= 0).all() and np.array_equal(values, np.round(values)) and values.max() > 1
    )


def check_finite(X: np.ndarray | sparse.spmatrix, *, where: str) -> None:
    """Raise :class:`ValueError` when ``X`` holds NaN or inf."""
    values = X.data if sparse.issparse(X) else np.asarray(X)
    bad = ~np.isfinite(values)
    if bad.any():
        raise ValueError(
            f"{where} contains {int(bad.sum())} NaN/inf value(s); remove or impute them "
            "(e.g. X[~np.isfinite(X)] = 0) or pass layer=... naming a clean layer"
        )


def normalize_log1p(X: np.ndarray | sparse.spmatrix, *, target_sum: float = 1e4):
    """``log1p`` of counts scaled to ``target_sum`` per cell (``normalize_total`` + ``log1p``).

    Cells with zero counts stay zero. Returns a new matrix of the same (sparse or dense) kind.
    """
    if sparse.issparse(X):
        X = sparse.csr_matrix(X, dtype=np.float64, copy=True)
        totals = np.asarray(X.sum(axis=1)).ravel()
        scale = np.divide(target_sum, totals, out=np.zeros_like(totals), where=totals > 0)
        X.data *= np.repeat(scale, np.diff(X.indptr))
        np.log1p(X.data, out=X.data)
        return X
    X = np.asarray(X, dtype=np.float64)
    totals = X.sum(axis=1, keepdims=True)
    scale = np.divide(target_sum, totals, out=np.zeros_like(totals), where=totals > 0)
    return np.log1p(X * scale)


#: Largest value a log-scale expression matrix plausibly holds: log1p of 1e4-normalised counts is
#: at most ~9.2, log2(x + 1) of raw counts stays below ~25. Non-negative, non-integer data above it
#: is normalised but not log-transformed (or TPM / CPM).
LOG_SCALE_MAX = 50.0


def _refuse_linear_scale(X, source: str) -> None:
    """``normalize="auto"`` on non-count data: refuse non-negative data above
    :data:`LOG_SCALE_MAX`, which would be used as if it were log-normalised."""
    values = X.data if sparse.issparse(X) else np.asarray(X)
    if values.size == 0:
        return
    lo, hi = float(values.min()), float(values.max())
    if lo >= 0 and hi > LOG_SCALE_MAX:
        n_frac = int(np.count_nonzero(values != np.round(values)))
        if n_frac <= 0.01 * values.size:  # e.g. counts with a few corrupted or imputed values
            raise ValueError(
                f"adata.{source} looks like raw counts but {n_frac} of its {values.size} stored "
                "values are not integers, so normalize='auto' cannot tell counts from normalised "
                "data: if these are counts, pass normalize=True (normalize_total + log1p) or "
                "round them first; if they are normalised, run sc.pp.log1p(adata)"
            )
        raise ValueError(
            f"adata.{source} is not raw counts (non-integer values) and not log-scale either "
            f"(max {hi:.4g} > {LOG_SCALE_MAX:g}): it looks normalised but not log-transformed "
            "(e.g. normalize_total, CPM or TPM). Run sc.pp.log1p(adata) first, pass layer=... "
            "naming the raw counts, or normalize=False to use it as is"
        )


def expression_matrix(
    adata: AnnData,
    *,
    layer: str | None = None,
    normalize: bool | Literal["auto"] = "auto",
    target_sum: float = 1e4,
) -> tuple[np.ndarray | sparse.csr_matrix, str]:
    """The log-normalised expression matrix of ``adata`` and a note on how it was obtained.

    Parameters
    ----------
    adata
        Cells x genes.
    layer
        Read ``adata.layers[layer]`` instead of ``adata.X``.
    normalize
        ``"auto"``: raw counts (non-negative integers) are normalised to ``target_sum`` per cell
        and ``log1p``-transformed (the scanpy way); other data is used as is, unless it is
        non-negative with values above :data:`LOG_SCALE_MAX` (normalised but not logged: raises).
        ``True``: treat the input as counts and normalise (negative values raise). ``False``:
        use as is.
    target_sum
        Total per cell after normalisation.

    Returns
    -------
    ``(X, used)`` where ``used`` says which input and transformation were used.

    Raises
    ------
    ValueError
        An unknown ``normalize``; negative values with ``normalize=True``; with ``"auto"``,
        non-count data above :data:`LOG_SCALE_MAX` (see above).
    """
    from .._input import matrix

    X = matrix(adata, layer=layer)
    source = "X" if layer is None else f"layers[{layer!r}]"
    if normalize not in (True, False, "auto"):
        raise ValueError(f"normalize must be True, False or 'auto'; got {normalize!r}")
    if normalize is True:
        values = X.data if sparse.issparse(X) else X
        if values.size and values.min() < 0:
            raise ValueError(
                f"adata.{source} has negative values, so it is not raw counts; pass "
                "normalize=False (already log-normalised) or layer=... naming the counts layer"
            )
        counts = True
    elif normalize == "auto":
        counts = is_count_matrix(X)
        if not counts:
            _refuse_linear_scale(X, source)
    else:
        counts = False
    if counts:
        X = normalize_log1p(X, target_sum=target_sum)
        return X, f"{source}: counts -> normalize_total(target_sum={target_sum:g}) + log1p"
    return X, f"{source}: used as is (log-normalised)"
