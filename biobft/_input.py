"""The AnnData door: the one place where an :class:`~anndata.AnnData` becomes labels and arrays.

Every :mod:`biobft.tl` function (and through it every CLI command) reads ``adata`` only through
these checkers, so each input variant a scanpy user hands over either gives the same result as
the in-memory dense run or one clear error that names the fix, raised before anything is written:

- :func:`check_adata`: an AnnData at all (a DataFrame or array raises :class:`TypeError`).
- :func:`obs_labels`: one ``obs`` column as a str Categorical; NaN / None / ``""`` refused.
- :func:`var_index` / :func:`obs_index`: unique names, or the ``*_names_make_unique()`` hint.
- :func:`matrix`: ``X`` or a layer as a float ndarray or CSR matrix; backed mode, non-numeric
  dtypes and NaN/inf refused; views, ``np.matrix``, CSC / COO / sparse arrays and integer or
  float16 dtypes accepted.

The input object is never modified. Typed errors only (no ``assert``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import sparse

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["check_adata", "matrix", "obs_index", "obs_labels", "var_index"]


def check_adata(adata: Any, *, what: str = "adata") -> AnnData:
    """Return ``adata`` if it is an :class:`~anndata.AnnData`, else raise :class:`TypeError`."""
    from anndata import AnnData

    if not isinstance(adata, AnnData):
        hint = ""
        if isinstance(adata, pd.DataFrame):
            hint = (
                "; wrap a cells x genes DataFrame as anndata.AnnData(df) and put per-cell "
                "labels in .obs"
            )
        elif isinstance(adata, np.ndarray) or sparse.issparse(adata):
            hint = "; wrap the matrix as anndata.AnnData(X, obs=..., var=...)"
        raise TypeError(f"{what} must be an anndata.AnnData, got {type(adata).__name__}{hint}")
    return adata


def obs_labels(adata: AnnData, key: str, *, what: str = "condition_key") -> pd.Categorical:
    """``adata.obs[key]`` as a Categorical of str labels, one per cell.

    Numbers, booleans, object and string columns are turned into their str form; declared
    categories that no cell uses are kept (as str).

    Raises
    ------
    KeyError
        ``key`` is not a column of ``adata.obs`` (the message lists the columns).
    ValueError
        Some cells have no label (NaN, None, ``""`` or whitespace only): the count, the first
        obs_names and how to drop them. Missing labels are never turned into a label ``"nan"``.
    """
    if key not in adata.obs.columns:
        raise KeyError(
            f"adata.obs has no column {key!r}; pass {what}=... naming the per-cell column "
            f"(columns: {list(map(str, adata.obs.columns))})"
        )
    col = adata.obs[key]
    values = col.astype(object).to_numpy()
    missing = pd.isna(values)
    text = np.array([str(v) for v in values], dtype=object)
    missing |= np.array([not t.strip() for t in text], dtype=bool)
    if missing.any():
        first = list(map(str, adata.obs_names[missing][:5]))
        raise ValueError(
            f"{int(missing.sum())} of {adata.n_obs} cells have no label in adata.obs[{key!r}] "
            f"(NaN, None or empty; first: {first}); drop them first: "
            f"adata = adata[adata.obs[{key!r}].notna()].copy() (and remove empty strings), "
            "or fill them with a real label"
        )
    cats = list(dict.fromkeys(text))
    if isinstance(col.dtype, pd.CategoricalDtype):
        cats += [str(c) for c in col.cat.categories if str(c) not in set(cats)]
    return pd.Categorical(text, categories=cats)


def _unique_index(names: pd.Index, *, axis: str) -> pd.Index:
    index = pd.Index([str(v) for v in names])
    if index.has_duplicates:
        dups = list(dict.fromkeys(index[index.duplicated()]))
        raise ValueError(
            f"adata.{axis}_names has {int(index.duplicated().sum())} duplicated name(s) "
            f"(e.g. {dups[:5]}), so lookups by name are ambiguous; call "
            f"adata.{axis}_names_make_unique() (or drop the duplicates) first"
        )
    return index


def var_index(adata: AnnData) -> pd.Index:
    """``adata.var_names`` as a unique str Index; duplicates raise :class:`ValueError`."""
    return _unique_index(adata.var_names, axis="var")


def obs_index(adata: AnnData) -> pd.Index:
    """``adata.obs_names`` as a unique str Index; duplicates raise :class:`ValueError`."""
    return _unique_index(adata.obs_names, axis="obs")


def is_backed(X: Any) -> bool:
    """Whether ``X`` is an on-disk (backed / lazy) array rather than a numpy or scipy matrix."""
    if X is None or isinstance(X, np.ndarray) or sparse.issparse(X):
        return False
    mod = type(X).__module__
    return mod.startswith(("anndata", "h5py", "zarr", "dask"))


def matrix(
    adata: AnnData, *, layer: str | None = None, what: str | None = None
) -> np.ndarray | sparse.csr_matrix:
    """``adata.X`` (or ``adata.layers[layer]``) as a float ndarray or a CSR matrix.

    Parameters
    ----------
    adata
        Cells x genes; views are fine (they are read, never written).
    layer
        Read ``adata.layers[layer]`` instead of ``adata.X``.
    what
        How the matrix is named in messages (default ``adata.X`` / ``adata.layers[...]``).

    Returns
    -------
    ``n_obs x n_vars`` array: dense input as an ndarray (``np.matrix`` unwrapped), any sparse
    format as a ``scipy.sparse.csr_matrix``. Integers become float64, float16 becomes float32;
    float32/float64 are kept. A new object whenever a conversion happened (never ``adata``'s own
    storage modified).

    Raises
    ------
    KeyError
        ``layer`` is not in ``adata.layers``.
    ValueError
        The matrix is missing, ``adata`` is backed (on disk: call ``adata.to_memory()``), or it
        holds NaN/inf.
    TypeError
        bool, complex, object or string dtype (not expression values).
    """
    if layer is not None:
        if layer not in adata.layers:
            raise KeyError(
                f"adata.layers has no {layer!r}; pass layer=None to use adata.X "
                f"(layers: {list(adata.layers.keys())})"
            )
        source = f"adata.layers[{layer!r}]"
    else:
        source = "adata.X"
    where = what or source
    if getattr(adata, "isbacked", False) and layer is None:
        raise ValueError(
            f"{where} is backed (read with backed='r', still on disk); load it first: "
            "adata = adata.to_memory()"
        )
    X = adata.layers[layer] if layer is not None else adata.X
    if X is None:
        raise ValueError(f"{where} is empty; pass layer=... naming the expression layer")
    if is_backed(X):
        raise ValueError(
            f"{where} is a {type(X).__name__} (on disk or lazy); load it first: "
            "adata = adata.to_memory()"
        )
    if sparse.issparse(X):
        X = X if isinstance(X, sparse.csr_matrix) else sparse.csr_matrix(X)
        values = X.data
    else:
        if isinstance(X, pd.DataFrame):
            X = X.to_numpy()
        X = np.asarray(X)
        values = X
    kind = values.dtype.kind
    if kind not in "iuf":
        expected = "int or float expression values"
        raise TypeError(
            f"{where} has dtype {values.dtype}, expected {expected}; convert it first, e.g. "
            f"adata.X = adata.X.astype(np.float32)" + (" (bool is not expression)" * (kind == "b"))
        )
    if kind in "iu" or values.dtype == np.float16:
        X = X.astype(np.float32 if values.dtype == np.float16 else np.float64)
    values = X.data if sparse.issparse(X) else X
    bad = ~np.isfinite(values)
    if bad.any():
        raise ValueError(
            f"{where} contains {int(bad.sum())} NaN/inf value(s); remove or impute them "
            "(e.g. X[~np.isfinite(X)] = 0) or pass layer=... naming a clean layer"
        )
    return X
