"""Pseudobulk profiles per (condition[, cell type]) and top differentially expressed genes.

Means are one sparse indicator-matrix product (``M @ X`` with ``M[g, c] = 1 / n_g`` when cell ``c``
is in group ``g``), never a Python loop over conditions. :func:`pseudobulk` is the one place that
reads an :class:`~anndata.AnnData` for the perturbation tools; everything downstream works on the
returned :class:`Pseudobulk` (plain arrays).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
from scipy import sparse

from .conditions import PerturbationInput, condition_kind, perturbation_input

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

#: separator between cell type and condition in a row id ("K562::KLF1")
ID_SEP = "::"


def indicator_matrix(codes: np.ndarray, n_groups: int, *, mean: bool = True) -> sparse.csr_matrix:
    """Sparse ``n_groups x n_cells`` matrix with ``1`` (or ``1/n_g`` if ``mean``) at (group, cell).

    Cells with a negative code belong to no group.
    """
    codes = np.asarray(codes)
    keep = codes >= 0
    cells = np.flatnonzero(keep)
    groups = codes[keep]
    counts = np.bincount(groups, minlength=n_groups).astype(np.float64)
    if mean:
        weights = 1.0 / counts[groups]
    else:
        weights = np.ones(len(groups))
    return sparse.csr_matrix((weights, (groups, cells)), shape=(n_groups, len(codes)))


def group_means(X, codes: np.ndarray, n_groups: int, *, squares: bool = False):
    """Per-group mean of the rows of ``X`` (and of ``X**2`` if ``squares``) as dense arrays."""
    M = indicator_matrix(codes, n_groups)
    means = np.asarray((M @ X).toarray() if sparse.issparse(X) else M @ X, dtype=np.float64)
    if not squares:
        return means, None
    X2 = X.multiply(X) if sparse.issparse(X) else np.square(X)
    sq = M @ X2
    sq = np.asarray(sq.toarray() if sparse.issparse(sq) else sq, dtype=np.float64)
    return means, sq


def welch_t_scores(
    mean1: np.ndarray,
    sq1: np.ndarray,
    n1: np.ndarray,
    mean2: np.ndarray,
    sq2: np.ndarray,
    n2: np.ndarray,
) -> np.ndarray:
    """Welch t statistic of group 1 vs group 2 from per-group means and means of squares.

    Matches ``scanpy.tl.rank_genes_groups(method="t-test", reference=...)`` scores (unbiased
    variances; NaN from zero variance and equal means set to 0). Arrays broadcast row-wise.
    """
    n1 = np.asarray(n1, dtype=np.float64)[..., None]
    n2 = np.asarray(n2, dtype=np.float64)[..., None]
    var1 = np.clip(sq1 - mean1**2, 0, None) * n1 / np.maximum(n1 - 1, 1)
    var2 = np.clip(sq2 - mean2**2, 0, None) * n2 / np.maximum(n2 - 1, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = (mean1 - mean2) / np.sqrt(var1 / n1 + var2 / n2)
    t[np.isnan(t)] = 0.0
    return t


def top_k_abs(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest ``|scores|`` per row, largest first (stable on ties)."""
    k = min(k, scores.shape[-1])
    order = np.argsort(-np.abs(scores), axis=-1, kind="stable")
    return order[..., :k]


@dataclass
class Pseudobulk:
    """Mean expression per (cell type, condition) group.

    Attributes
    ----------
    X
        ``n_groups x n_genes`` mean log-normalised expression.
    obs
        One row per group, index = row id (``condition`` or ``cell_type::condition``); columns
        ``condition``, ``cell_type``, ``n_cells``, ``genes`` (tuple), ``kind``, ``is_control``.
    var_names
        Gene names of the columns.
    control
        Control label.
    sep
        Gene separator in condition labels.
    sq
        Per-group mean of squares (for the fast t-test), or ``None``.
    normalization
        How the expression matrix was obtained.
    de
        Row id -> indices of the top differentially expressed genes against the control.
    """

    X: np.ndarray
    obs: pd.DataFrame
    var_names: pd.Index
    control: str
    sep: str = "+"
    sq: np.ndarray | None = None
    normalization: str = ""
    de: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def ids(self) -> list[str]:
        """Row ids."""
        return list(self.obs.index)

    def control_row(self, row_id: str) -> int:
        """Position of the control group of ``row_id``'s cell type."""
        ct = self.obs.at[row_id, "cell_type"]
        return int(self._control_pos[ct])

    @property
    def _control_pos(self) -> dict[str, int]:
        ctl = self.obs[self.obs["is_control"]]
        return {ct: self.obs.index.get_loc(i) for i, ct in zip(ctl.index, ctl["cell_type"])}

    def controls(self, ids: Sequence[str]) -> np.ndarray:
        """Control mean profile for each row id (``len(ids) x n_genes``)."""
        pos = self._control_pos
        return self.X[[pos[ct] for ct in self.obs.loc[list(ids), "cell_type"]]]

    def profiles(self, ids: Sequence[str]) -> np.ndarray:
        """Mean profiles of the given row ids."""
        return self.X[self.obs.index.get_indexer(list(ids))]

    def delta(self, ids: Sequence[str] | None = None) -> np.ndarray:
        """Profile minus its cell type's control profile."""
        ids = self.ids if ids is None else list(ids)
        return self.profiles(ids) - self.controls(ids)

    def genes_of(self, ids: Sequence[str]) -> list[tuple[str, ...]]:
        """Perturbed genes of each row id."""
        return list(self.obs.loc[list(ids), "genes"])

    def perturbations(self, *, kind: str | None = None) -> list[str]:
        """Non-control row ids, optionally of one kind (``single``, ``double``, ...)."""
        obs = self.obs[~self.obs["is_control"]]
        if kind is not None:
            obs = obs[obs["kind"] == kind]
        return list(obs.index)

    def subset_cell_type(self, cell_type: str) -> Pseudobulk:
        """The rows of one cell type."""
        mask = (self.obs["cell_type"] == cell_type).to_numpy()
        ids = set(self.obs.index[mask])
        return Pseudobulk(
            X=self.X[mask],
            obs=self.obs[mask].copy(),
            var_names=self.var_names,
            control=self.control,
            sep=self.sep,
            sq=None if self.sq is None else self.sq[mask],
            normalization=self.normalization,
            de={k: v for k, v in self.de.items() if k in ids},
        )

    def compute_de(self, *, n_top: int = 20) -> dict[str, np.ndarray]:
        """Top ``n_top`` genes per perturbation by ``|Welch t|`` against its control (fast path).

        Same scores as ``scanpy.tl.rank_genes_groups(method="t-test", reference=control,
        rankby_abs=True)`` (GEARS' DE genes), computed from the pseudobulk moments.
        """
        if self.sq is None:
            raise ValueError("this Pseudobulk has no squares; build it with pseudobulk(...)")
        ids = self.perturbations()
        rows = self.obs.index.get_indexer(ids)
        ctl = np.array([self.control_row(i) for i in ids], dtype=int)
        n = self.obs["n_cells"].to_numpy()
        t = welch_t_scores(self.X[rows], self.sq[rows], n[rows], self.X[ctl], self.sq[ctl], n[ctl])
        top = top_k_abs(t, n_top)
        self.de = dict(zip(ids, top))
        return self.de


def row_id(condition: str, cell_type: str | None) -> str:
    """Row id of a (condition, cell type) group."""
    return condition if cell_type is None else f"{cell_type}{ID_SEP}{condition}"


def pseudobulk(
    adata: AnnData,
    *,
    condition_key: str = "condition",
    control: str | None = None,
    cell_type_key: str | None = None,
    sep: str = "+",
    layer: str | None = None,
    normalize: bool | Literal["auto"] = "auto",
    min_cells: int | None = None,
    n_top_de: int = 20,
    de_method: Literal["t-test", "scanpy"] = "t-test",
) -> Pseudobulk:
    """Mean expression per (cell type, condition), control means, and top DE genes.

    The door :func:`~biobft.perturb.conditions.perturbation_input` plus the pure kernel
    :func:`pseudobulk_from_input`.

    Parameters
    ----------
    adata
        Cells x genes, raw counts or log-normalised.
    condition_key
        Column of ``adata.obs`` with the condition label of each cell.
    control
        Control label; ``None`` detects a common one (``control``, ``ctrl``, ...).
    cell_type_key
        Optional column: groups and controls are then per cell type.
    sep
        Gene separator in combinatorial labels.
    layer, normalize
        Which matrix to use and whether to normalise it; see
        :func:`biobft.perturb.expression.expression_matrix`.
    min_cells
        ``None``: groups of fewer than 2 cells raise; a number drops smaller groups with a
        warning (see :func:`~biobft.perturb.conditions.perturbation_input`).
    n_top_de
        Number of DE genes per perturbation (GEARS uses 20); 0 skips DE.
    de_method
        ``"t-test"``: vectorised Welch t from the pseudobulk moments (fast, same scores as scanpy);
        ``"scanpy"``: call ``scanpy.tl.rank_genes_groups`` per cell type.

    Returns
    -------
    The :class:`Pseudobulk`.
    """
    inp = perturbation_input(
        adata,
        condition_key=condition_key,
        control=control,
        cell_type_key=cell_type_key,
        sep=sep,
        layer=layer,
        normalize=normalize,
        min_cells=min_cells,
    )
    return pseudobulk_from_input(inp, n_top_de=n_top_de, de_method=de_method)


def pseudobulk_from_input(
    inp: PerturbationInput,
    *,
    n_top_de: int = 20,
    de_method: Literal["t-test", "scanpy"] = "t-test",
) -> Pseudobulk:
    """The pseudobulk kernel on a validated :class:`~biobft.perturb.conditions.PerturbationInput`.

    Parameters
    ----------
    inp
        What :func:`~biobft.perturb.conditions.perturbation_input` returned.
    n_top_de, de_method
        See :func:`pseudobulk`.

    Returns
    -------
    The :class:`Pseudobulk` of the kept groups of ``inp``.
    """
    if de_method not in ("t-test", "scanpy"):
        raise ValueError(f"de_method must be 't-test' or 'scanpy'; got {de_method!r}")
    X = inp.X
    control = inp.control
    groups = inp.groups
    keys = pd.MultiIndex.from_frame(groups[["cell_type", "condition"]])
    codes = keys.get_indexer(pd.MultiIndex.from_arrays([inp.cell_types, inp.labels]))
    means, sq = group_means(X, codes, len(groups), squares=True)
    ct_vals = groups["cell_type"].astype(str).to_numpy()
    cond_vals = groups["condition"].astype(str).to_numpy()
    genes = [inp.conditions.at[c, "genes"] for c in cond_vals]
    ids = [row_id(c, t if inp.has_cell_type else None) for t, c in zip(ct_vals, cond_vals)]
    obs = pd.DataFrame(
        {
            "condition": cond_vals,
            "cell_type": ct_vals,
            "n_cells": groups["n_cells"].to_numpy(),
            "genes": genes,
            "kind": [condition_kind(g) for g in genes],
            "is_control": [c == control for c in cond_vals],
        },
        index=pd.Index(ids, name="id"),
    )
    pb = Pseudobulk(
        X=means,
        obs=obs,
        var_names=inp.var_names,
        control=control,
        sep=inp.sep,
        sq=sq,
        normalization=inp.normalization,
    )
    if n_top_de:
        if de_method == "t-test":
            pb.compute_de(n_top=n_top_de)
        else:
            pb.de = _scanpy_de(inp, pb, n_top_de)
    return pb


def _scanpy_de(inp: PerturbationInput, pb: Pseudobulk, n_top: int) -> dict:
    import anndata as ad
    import scanpy as sc

    out: dict[str, np.ndarray] = {}
    gene_pos = {g: i for i, g in enumerate(pb.var_names)}
    cond = inp.labels
    for ct in pd.unique(pb.obs["cell_type"]):
        sub = pb.obs[pb.obs["cell_type"] == ct]
        groups = list(sub["condition"])
        mask = (inp.cell_types == ct) & np.isin(cond, groups)
        obs = pd.DataFrame({"g": pd.Categorical(cond[mask])}, index=inp.obs_names[mask])
        tmp = ad.AnnData(inp.X[mask], obs=obs)
        tmp.var_names = pb.var_names
        with warnings.catch_warnings():  # scanpy's own fragmented-frame warning
            warnings.simplefilter("ignore", pd.errors.PerformanceWarning)
            sc.tl.rank_genes_groups(
                tmp,
                "g",
                reference=pb.control,
                method="t-test",
                rankby_abs=True,
                n_genes=n_top,
                use_raw=False,
            )
        names = tmp.uns["rank_genes_groups"]["names"]
        for rid, c in zip(sub.index, sub["condition"]):
            if c != pb.control:
                out[rid] = np.array([gene_pos[g] for g in names[c]])
    return out
