"""Pair features from an embedding table.

A pair feature is a pure function ``f(a, b) -> ndarray`` of two ``(n, d)`` arrays holding the
embeddings of the first and second gene of ``n`` pairs. Features are registered by name in
:data:`FEATURES`; a specification joins names with ``"+"`` (``"sum+hadamard"``) and concatenates
their outputs column-wise in that order.

``sum`` (GenePT's choice), ``hadamard`` and ``abs_diff`` are symmetric: ``f(a, b) == f(b, a)``
exactly (bit for bit), so a pair scores the same in either orientation. ``concat`` is not.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from ..embed.table import validate_table

FeatureFn = Callable[[np.ndarray, np.ndarray], np.ndarray]

_BLOCK = 8192  # pairs per block in pair_matrix


def _sum(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a + b`` (GenePT): ``d`` columns, symmetric."""
    return a + b


def _hadamard(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise product ``a * b``: ``d`` columns, symmetric."""
    return a * b


def _abs_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``|a - b|``: ``d`` columns, symmetric."""
    return np.abs(a - b)


def _concat(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``[a, b]``: ``2d`` columns, NOT symmetric."""
    return np.concatenate([a, b], axis=1)


#: name -> pair feature kernel ``f(a, b) -> (n, k)``
FEATURES: dict[str, FeatureFn] = {
    "sum": _sum,
    "hadamard": _hadamard,
    "abs_diff": _abs_diff,
    "concat": _concat,
}

#: names of the kernels with ``f(a, b) == f(b, a)``
SYMMETRIC: frozenset[str] = frozenset({"sum", "hadamard", "abs_diff"})


def parse_features(features: str | Sequence[str]) -> list[str]:
    """Split and check a feature specification.

    Parameters
    ----------
    features
        ``"sum"``, ``"sum+hadamard"`` or a list of names.

    Returns
    -------
    The list of kernel names, in order.

    Raises
    ------
    ValueError
        On an empty specification, an unknown name or a repeated name.
    """
    if isinstance(features, str):
        names = [n.strip() for n in features.split("+")]
    elif isinstance(features, Sequence):
        names = [str(n).strip() for n in features]
    else:
        raise TypeError(
            f"features must be a string like 'sum+hadamard' or a list of names; "
            f"got {type(features).__name__}"
        )
    if not names or any(not n for n in names):
        raise ValueError(
            f"empty feature name in {features!r}; valid names: {sorted(FEATURES)}, "
            "joined with '+' (e.g. 'sum+hadamard')"
        )
    unknown = [n for n in names if n not in FEATURES]
    if unknown:
        raise ValueError(
            f"unknown pair feature(s) {unknown} in {features!r}; valid names: {sorted(FEATURES)}, "
            "joined with '+' (e.g. 'sum+hadamard')"
        )
    if len(set(names)) != len(names):
        raise ValueError(f"repeated pair feature in {features!r}; list each name once")
    return names


def is_symmetric(features: str | Sequence[str]) -> bool:
    """Whether every kernel of ``features`` gives the same vector for ``(a, b)`` and ``(b, a)``."""
    return all(n in SYMMETRIC for n in parse_features(features))


def feature_dim(features: str | Sequence[str], d: int) -> int:
    """Number of columns ``features`` produces from ``d``-dimensional embeddings."""
    return sum(2 * d if n == "concat" else d for n in parse_features(features))


def pair_features(
    a: np.ndarray, b: np.ndarray, features: str | Sequence[str] = "sum"
) -> np.ndarray:
    """Pair feature matrix from the embeddings of both genes of each pair.

    Parameters
    ----------
    a, b
        Arrays of shape ``(n, d)``: row ``i`` embeds the first / second gene of pair ``i``.
    features
        Feature specification (see :func:`parse_features`).

    Returns
    -------
    ``(n, k)`` array (dtype of ``a``), the kernels' outputs side by side.
    """
    names = parse_features(features)
    a = np.asarray(a)
    b = np.asarray(b)
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(
            "a and b must be 2-D arrays of the same shape (n_pairs, d); "
            f"got {a.shape} and {b.shape}"
        )
    blocks = [FEATURES[n](a, b) for n in names]
    if len(blocks) == 1:
        return np.ascontiguousarray(blocks[0])
    return np.concatenate(blocks, axis=1)


def pair_matrix(
    table: pd.DataFrame,
    pairs: pd.DataFrame,
    features: str | Sequence[str] = "sum",
    *,
    gene_cols: tuple[str, str] = ("gene_a", "gene_b"),
) -> tuple[np.ndarray, np.ndarray]:
    """Features of the pairs whose two genes are both in ``table``.

    Parameters
    ----------
    table
        Embedding table (index = gene symbol, float32 columns).
    pairs
        DataFrame with the two gene columns named in ``gene_cols``.
    features
        Feature specification (see :func:`parse_features`).

    Returns
    -------
    X
        ``(n_covered, k)`` float32 feature matrix, in the order of the covered pairs.
    covered
        Boolean mask of length ``len(pairs)``: which pairs have both genes in ``table``.
    """
    parse_features(features)
    table = validate_table(table)
    missing = [c for c in gene_cols if c not in pairs.columns]
    if missing:
        raise KeyError(
            f"pairs has no column(s) {missing}; expected gene columns {list(gene_cols)} "
            f"(columns: {list(pairs.columns)})"
        )
    ia = table.index.get_indexer(pairs[gene_cols[0]].astype(str))
    ib = table.index.get_indexer(pairs[gene_cols[1]].astype(str))
    covered = (ia >= 0) & (ib >= 0)
    values = table.to_numpy(dtype=np.float32, copy=False)
    ia, ib = ia[covered], ib[covered]
    # filled block by block: the gathered gene vectors and the kernels' outputs exist for one
    # block of pairs at a time, so the peak memory is X itself (261k Gene2vec pairs x 1,536
    # sum+hadamard columns: 1.6 GB, not 4.8 GB); element-wise kernels give the same bits
    X = np.empty((len(ia), feature_dim(features, values.shape[1])), dtype=np.float32)
    for start in range(0, len(ia), _BLOCK):
        rows = slice(start, start + _BLOCK)
        X[rows] = pair_features(values[ia[rows]], values[ib[rows]], features)
    return X, covered
