"""Perturbation condition labels and expression input checks.

Understands GEARS labels (``ctrl``, ``A+ctrl``, ``ctrl+A``, ``A+B``) and PerturBench labels
(``control``, ``A``, ``A+B``) without code changes: a label is split on ``sep`` and every token
equal to the control label or to ``"ctrl"`` is dropped; what is left are the perturbed genes.

Everything that reads an :class:`~anndata.AnnData` for :mod:`biobft.perturb` goes through
:func:`check_condition_key`, :func:`resolve_control` and :func:`expression_matrix`, so bad input
raises one clear error before anything is computed or written.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
from scipy import sparse

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

#: control labels recognised when ``control=None``
CONTROL_LABELS = ("control", "ctrl", "non-targeting", "NT", "unperturbed", "DMSO", "vehicle")
#: tokens always treated as "no perturbation" inside a GEARS-style label
_CTRL_TOKENS = frozenset({"ctrl", "control"})

Kind = Literal["control", "single", "double", "multi"]


def parse_condition(label: str, *, control: str, sep: str = "+") -> tuple[str, ...]:
    """The perturbed genes of one condition label.

    Parameters
    ----------
    label
        Condition label, e.g. ``"KLF1"``, ``"KLF1+ctrl"``, ``"KLF1+MAP2K6"`` or the control label.
    control
        The control label of the data set.
    sep
        Separator between genes in a combinatorial label.

    Returns
    -------
    The perturbed genes in label order; an empty tuple for the control.
    """
    label = str(label)
    if label == control:
        return ()
    drop = _CTRL_TOKENS | {control}
    return tuple(t.strip() for t in label.split(sep) if t.strip() and t.strip() not in drop)


def condition_kind(genes: Sequence[str]) -> Kind:
    """``"control"``, ``"single"``, ``"double"`` or ``"multi"`` from the number of genes."""
    return ("control", "single", "double")[len(genes)] if len(genes) < 3 else "multi"


def parse_conditions(labels: Iterable[str], *, control: str, sep: str = "+") -> pd.DataFrame:
    """Parse many condition labels at once.

    Returns
    -------
    DataFrame indexed by label with columns ``genes`` (tuple), ``n_genes`` and ``kind``.
    """
    labels = list(dict.fromkeys(str(x) for x in labels))
    genes = [parse_condition(x, control=control, sep=sep) for x in labels]
    return pd.DataFrame(
        {
            "genes": genes,
            "n_genes": [len(g) for g in genes],
            "kind": [condition_kind(g) for g in genes],
        },
        index=pd.Index(labels, name="condition"),
    )


def check_condition_key(adata: AnnData, condition_key: str, *, what: str = "condition_key") -> None:
    """Raise a :class:`KeyError` listing the columns when ``adata.obs`` lacks ``condition_key``."""
    if condition_key not in adata.obs.columns:
        raise KeyError(
            f"adata.obs has no column {condition_key!r}; pass {what}=... naming the per-cell "
            f"condition column (columns: {list(map(str, adata.obs.columns))})"
        )


def resolve_control(labels: Iterable[str], control: str | None, *, condition_key: str) -> str:
    """Check (or detect, when ``None``) the control label among the observed ``labels``.

    Raises
    ------
    ValueError
        If there are no control cells, suggesting close matches when the label looks misspelt.
    """
    present = list(dict.fromkeys(str(x) for x in labels))
    if control is None:
        found = [c for c in CONTROL_LABELS if c in present]
        if not found:
            raise ValueError(
                f"could not detect the control label in adata.obs[{condition_key!r}]; pass "
                f"control=... (tried {list(CONTROL_LABELS)}; labels: {present[:20]})"
            )
        return found[0]
    control = str(control)
    if control in present:
        return control
    close = difflib.get_close_matches(control, present, n=3, cutoff=0.5)
    close += [p for p in present if p.lower() == control.lower() and p not in close]
    hint = f"did you mean {close}?" if close else f"labels present: {present[:20]}"
    raise ValueError(
        f"no control cells: label {control!r} does not occur in adata.obs[{condition_key!r}]; "
        f"{hint} Pass control=<the label of the unperturbed cells>."
    )


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
        and ``log1p``-transformed (the scanpy way), anything else is used as is. ``True``: treat
        the input as counts and normalise (negative values raise). ``False``: use as is.
    target_sum
        Total per cell after normalisation.

    Returns
    -------
    ``(X, used)`` where ``used`` says which input and transformation were used.
    """
    if layer is not None:
        if layer not in adata.layers:
            raise KeyError(
                f"adata.layers has no {layer!r}; pass layer=None to use adata.X "
                f"(layers: {list(adata.layers.keys())})"
            )
        X, source = adata.layers[layer], f"layers[{layer!r}]"
    else:
        X, source = adata.X, "X"
    if X is None:
        raise ValueError("adata.X is empty; pass layer=... naming the expression layer")
    if not sparse.issparse(X):
        X = np.asarray(X)
    check_finite(X, where=f"adata.{source}")
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
    else:
        counts = False
    if counts:
        X = normalize_log1p(X, target_sum=target_sum)
        return X, f"{source}: counts -> normalize_total(target_sum={target_sum:g}) + log1p"
    return X, f"{source}: used as is (log-normalised)"
