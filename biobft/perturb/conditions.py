"""Perturbation condition labels and expression input checks.

Understands GEARS labels (``ctrl``, ``A+ctrl``, ``ctrl+A``, ``A+B``) and PerturBench labels
(``control``, ``A``, ``A+B``) without code changes: a label is split on ``sep`` and every token
equal to the control label or to ``"ctrl"`` is dropped; what is left are the perturbed genes.

Everything that reads an :class:`~anndata.AnnData` for :mod:`biobft.perturb` goes through
:func:`check_condition_key`, :func:`resolve_control`, :func:`perturbation_input` and
:func:`~biobft.perturb.expression.expression_matrix` (the expression matrix and its
normalisation), so bad input raises one clear error before anything is computed or written.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
from scipy import sparse

from ._options import missing_hint
from .expression import expression_matrix

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


@dataclass(frozen=True)
class PerturbationInput:
    """A validated perturbation data set: what :func:`perturbation_input` returns.

    Attributes
    ----------
    X
        ``n_cells x n_genes`` log-normalised expression (float ndarray or CSR), all cells.
    labels
        Condition label per cell (str array).
    cell_types
        Cell type per cell (str array); ``"all"`` everywhere without ``cell_type_key``.
    control
        The control label.
    conditions
        :func:`parse_conditions` frame of the observed labels (index = label).
    groups
        One row per kept (cell type, condition) group: ``cell_type``, ``condition``, ``n_cells``
        (sorted by cell type, then condition).
    var_names, obs_names
        Unique str gene and cell names.
    normalization
        How ``X`` was obtained (see :func:`expression_matrix`).
    sep, min_cells
        Gene separator and the cell threshold that was applied.
    dropped
        ``cell_type::condition`` groups dropped for having fewer than ``min_cells`` cells.
    has_cell_type
        Whether a ``cell_type_key`` was given.
    """

    X: np.ndarray | sparse.csr_matrix
    labels: np.ndarray
    cell_types: np.ndarray
    control: str
    conditions: pd.DataFrame
    groups: pd.DataFrame
    var_names: pd.Index
    obs_names: pd.Index
    normalization: str
    sep: str = "+"
    min_cells: int = 2
    dropped: tuple[str, ...] = ()
    has_cell_type: bool = False


#: default smallest group: a t-test or a control mean of one cell is not a measurement
MIN_CELLS = 2


def _check_one_dataset(obs: pd.DataFrame) -> None:
    """Refuse cells of several data sets (``obs["dataset"]``) evaluated as one experiment.

    The conditions, controls and splits of two experiments must not mix, whatever the
    ``cell_type_key`` (PerturBench's ``devel.h5ad`` holds Norman 2019 CRISPRa and
    McFaline-Figueroa CRISPRi cells; a K562 cell type may occur in both of two screens).
    """
    if "dataset" not in obs.columns:
        return
    found = [str(v) for v in pd.unique(obs["dataset"].dropna())]
    if len(found) > 1:
        raise ValueError(
            f"adata holds cells of {len(found)} data sets (adata.obs['dataset']: {found[:5]}), "
            "which would be evaluated as one experiment (shared conditions, controls and "
            "splits); evaluate each on its own, e.g. "
            f"adata[adata.obs['dataset'] == {found[0]!r}].copy() (perturbench_devel on the "
            f"command line: --data perturbench_devel:{found[0]})"
        )


#: obs columns that name cell types / lines in the wild (PerturBench: ``cell_type``; scPerturb:
#: ``celltype`` / ``cell_line``)
CELL_TYPE_COLUMNS = ("cell_type", "cell_line", "celltype")


def _check_cell_types_not_pooled(obs: pd.DataFrame, cell_type_key: str | None) -> None:
    """Refuse several cell types / lines (:data:`CELL_TYPE_COLUMNS`) pooled in one group.

    Without ``cell_type_key`` every cell shares one control and one set of conditions:
    PerturBench's McFaline-Figueroa screen (A172, T98G, U87MG glioma lines) would be scored
    against one mixed control. With a ``cell_type_key`` naming another column, each of its
    groups must hold one value of these columns.
    """
    if cell_type_key is not None and cell_type_key not in obs.columns:
        return  # obs_labels raises the clear KeyError
    for col in CELL_TYPE_COLUMNS:
        if col not in obs.columns or col == cell_type_key:
            continue
        values = obs[col].astype(object).where(obs[col].notna())
        found = [str(v) for v in pd.unique(values.dropna())]
        if cell_type_key is None:
            mixed = len(found) > 1
        else:
            per_group = values.groupby(obs[cell_type_key].astype(str)).nunique()
            mixed = bool((per_group > 1).any())
        if mixed:
            within = (
                "" if cell_type_key is None else f" within a cell_type_key={cell_type_key!r} group"
            )
            raise ValueError(
                f"adata.obs[{col!r}] has {len(found)} values ({found[:5]}){within}, so their "
                "cells would share one control and one set of conditions; where the function "
                f"takes one, pass cell_type_key={col!r} (--cell-type-key {col} on the command "
                "line) for a control and an evaluation per value, or keep one: "
                f"adata[adata.obs[{col!r}] == {found[0]!r}].copy(). If pooling is intended, "
                f"drop the column: adata.obs = adata.obs.drop(columns={col!r})"
            )


def perturbation_input(
    adata: AnnData,
    *,
    condition_key: str = "condition",
    control: str | None = None,
    cell_type_key: str | None = None,
    sep: str = "+",
    layer: str | None = None,
    normalize: bool | Literal["auto"] = "auto",
    min_cells: int | None = None,
) -> PerturbationInput:
    """The perturbation door: check ``adata`` once and return its validated arrays and labels.

    Label rules live only here: the control is resolved once; every other label names at least
    one perturbed gene (so ``ctrl`` beside ``control`` or ``ctrl+ctrl`` is refused, not trained
    on); no gene repeats within a label; two spellings of one perturbation (``KLF1`` and
    ``KLF1+ctrl``, ``A+B`` and ``B+A``) are refused, not kept as two conditions; every cell type
    has control cells; groups smaller than ``min_cells`` are refused or dropped explicitly.

    Parameters
    ----------
    adata
        Cells x genes (in memory; views, dense or any sparse format, int or float).
    condition_key, control, cell_type_key, sep
        Condition column, control label (``None``: detect), optional cell-type column and the
        gene separator of combinatorial labels.
    layer, normalize
        Expression input, see :func:`expression_matrix`.
    min_cells
        ``None`` (default): every (cell type, condition) group, control included, needs at
        least 2 cells, else :class:`ValueError`. An explicit number drops smaller perturbation
        groups with a :class:`UserWarning` naming them (``min_cells=1`` keeps one-cell groups);
        a control group below it is always an error.

    Returns
    -------
    :class:`PerturbationInput`

    Raises
    ------
    TypeError
        ``adata`` is not an AnnData, or the matrix dtype is not numeric.
    KeyError
        A column or layer is missing.
    ValueError
        Missing labels, duplicated names, backed data, NaN/inf, label problems above, small
        groups, cells of several data sets (``obs["dataset"]``, PerturBench's column), several
        cell types (:data:`CELL_TYPE_COLUMNS`) in one group (no ``cell_type_key``, or one that
        names another column); each message names the fix.
    """
    import warnings

    from .._input import check_adata, obs_index, obs_labels, var_index

    check_adata(adata)
    _check_one_dataset(adata.obs)
    _check_cell_types_not_pooled(adata.obs, cell_type_key)
    labels = obs_labels(adata, condition_key, what="condition_key")
    cts = (
        pd.Categorical(np.full(adata.n_obs, "all", dtype=object))
        if cell_type_key is None
        else obs_labels(adata, cell_type_key, what="cell_type_key")
    )
    var_names = var_index(adata)
    obs_names = obs_index(adata)
    lab = np.asarray(labels, dtype=object).astype(str)
    ct = np.asarray(cts, dtype=object).astype(str)
    observed = list(dict.fromkeys(lab))
    control = resolve_control(observed, control, condition_key=condition_key)
    conds = parse_conditions(observed, control=control, sep=sep)
    where = f"adata.obs[{condition_key!r}]"
    no_gene = [c for c, n in zip(conds.index, conds["n_genes"]) if n == 0 and c != control]
    if no_gene:
        fix = {c: control for c in no_gene}
        raise ValueError(
            f"label(s) {no_gene[:10]} in {where} name no perturbed gene but differ from the "
            f"control label {control!r}, so they would be scored as perturbations; give all "
            f"control cells one label: adata.obs[{condition_key!r}] = "
            f"adata.obs[{condition_key!r}].replace({fix!r}) (or pass control=...)"
        )
    repeated = [c for c, g in zip(conds.index, conds["genes"]) if len(set(g)) < len(g)]
    if repeated:
        raise ValueError(
            f"label(s) {repeated[:10]} in {where} repeat a gene (sep={sep!r}); a perturbation "
            "names each gene once: relabel those cells"
        )
    by_set: dict[frozenset, list[str]] = {}
    for c, g in zip(conds.index, conds["genes"]):
        if g:
            by_set.setdefault(frozenset(g), []).append(c)
    same = [v for v in by_set.values() if len(v) > 1]
    if same:
        fix = {x: v[0] for v in same for x in v[1:]}
        raise ValueError(
            f"{len(same)} perturbation(s) are spelt in more than one way in {where}: "
            f"{same[:5]}; they would be scored as different conditions. Use one spelling: "
            f"adata.obs[{condition_key!r}] = adata.obs[{condition_key!r}].replace({fix!r})"
        )
    groups = (
        pd.DataFrame({"cell_type": ct, "condition": lab})
        .value_counts(sort=False)
        .rename("n_cells")
        .reset_index()
        .sort_values(["cell_type", "condition"], kind="stable")
        .reset_index(drop=True)
    )
    is_ctl = groups["condition"] == control
    no_ctl = sorted(set(groups["cell_type"]) - set(groups.loc[is_ctl, "cell_type"]))
    if no_ctl:
        raise ValueError(
            f"no control cells ({control!r}) in cell type(s) {no_ctl}; drop those cell types "
            "(adata[~adata.obs[cell_type_key].isin([...])].copy()) or pass control=..."
        )
    explicit = min_cells is not None
    if explicit and (
        isinstance(min_cells, bool) or not isinstance(min_cells, (int, np.integer)) or min_cells < 1
    ):
        raise ValueError(
            f"min_cells must be a whole number >= 1 (1 keeps one-cell groups); got {min_cells!r}"
        )
    threshold = MIN_CELLS if min_cells is None else int(min_cells)
    small = groups[groups["n_cells"] < threshold]
    ids = [
        c if cell_type_key is None else f"{t}::{c}"
        for t, c in zip(small["cell_type"], small["condition"])
    ]
    sizes = dict(zip(ids, map(int, small["n_cells"])))
    small_ctl = small[small["condition"] == control]
    if len(small_ctl):
        per_type = dict(zip(map(str, small_ctl["cell_type"]), map(int, small_ctl["n_cells"])))
        raise ValueError(
            f"no control group ({control!r}) with at least min_cells={threshold} cells "
            f"(cells per cell type: {per_type}); "
            "a control mean of so few cells inflates every delta metric: add control cells or "
            "lower min_cells"
        )
    if len(small) and not explicit:
        raise ValueError(
            f"{len(small)} condition group(s) have fewer than {MIN_CELLS} cells "
            f"(n_cells: {dict(list(sizes.items())[:10])}); their mean and DE genes rest on one "
            "cell. Drop them, or pass min_cells=2 to drop them with a warning, or min_cells=1 "
            "to keep them"
        )
    if len(small):
        warnings.warn(
            f"dropped {len(small)} condition group(s) with fewer than min_cells={threshold} "
            f"cells: {dict(list(sizes.items())[:10])}",
            UserWarning,
            stacklevel=2,
        )
    groups = groups[groups["n_cells"] >= threshold].reset_index(drop=True)
    X, used = expression_matrix(adata, layer=layer, normalize=normalize)
    return PerturbationInput(
        X=X,
        labels=lab,
        cell_types=ct,
        control=control,
        conditions=conds,
        groups=groups,
        var_names=var_names,
        obs_names=obs_names,
        normalization=used,
        sep=sep,
        min_cells=threshold,
        dropped=tuple(ids),
        has_cell_type=cell_type_key is not None,
    )


def unknown_genes(genes: Iterable[str], known: Iterable[str]) -> list[str]:
    """Sorted genes of ``genes`` that are not in ``known``."""
    known = set(map(str, known))
    return sorted({str(g) for g in genes} - known)


def joined_labels(genes: Iterable[str]) -> list[str]:
    """Genes that look like several genes joined by a separator other than ``sep``."""
    return [g for g in genes if any(c in g for c in _JOINERS)]


_JOINERS = ("+", "_", ",", ";", "|", "/", " ")


def unknown_genes_message(absent: Sequence[str], *, sep: str, where: str) -> str:
    """The message for perturbed genes found nowhere, with a ``sep=`` hint when one looks joined."""
    joined = joined_labels(absent)
    hint = ""
    if joined:
        seps = sorted({c for g in joined for c in _JOINERS if c in g})
        hint = (
            f" Label(s) such as {joined[:3]} look like several genes joined by {seps}, but "
            f"sep={sep!r}: pass sep=... (e.g. sep={seps[0]!r}; command line: --sep "
            f"'{seps[0]}') if they are combinations."
        )
    return (
        f"{len(absent)} perturbed gene(s) parsed from the condition labels are absent from "
        f"{where}: {list(absent)[:10]}.{hint} Check the labels, use a table that covers them, "
        f"or {missing_hint('skip', 'mean')}"
    )
