"""AnnData wrappers for perturbation-response prediction (maths in :mod:`biobft.perturb`).

:func:`predict_perturbation` and :func:`evaluate_perturbation`; the DE-gene ranking
:func:`~biobft.tl.rank_genes` lives in :mod:`biobft.tl._rank_genes`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from ..perturb._options import missing_hint, predictor_specs
from ..perturb.conditions import (
    joined_labels,
    parse_condition,
    perturbation_input,
    unknown_genes,
    unknown_genes_message,
)
from ..perturb.evaluate import evaluate_split
from ..perturb.predictors import PREDICTORS, get_predictor
from ..perturb.pseudobulk import Pseudobulk, pseudobulk_from_input, row_id
from ..perturb.splits import Split, resolve_split

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

DEFAULT_PREDICTORS = ("no_change", "train_mean", "additive", "linear", "ridge", "knn")
#: predictors that embed the perturbed genes (table, or var_names rows for ``linear``)
_USES_GENES = frozenset({"linear", "ridge", "knn"})


def _predictor_names(predictors) -> set[str]:
    return {name for name, _ in predictor_specs(predictors, PREDICTORS).values()}


def _embedding_meta(embedding: pd.DataFrame | None) -> dict[str, Any]:
    if embedding is None:
        return {}
    return dict(embedding.attrs.get("biobft", {}))


def _check_genes(
    pb: Pseudobulk, genes: set[str], embedding, missing: str, *, uses_genes: bool = True
) -> list[str]:
    """Perturbed genes in neither the table nor var_names, checked for every predictor set.

    Under ``missing="error"`` they raise when a predictor embeds genes, and, whichever predictors
    were asked for, when one looks like several genes joined by another separator (``A_B`` with
    ``sep="+"``, with a ``sep=`` hint). Otherwise they are returned (recorded in the result's
    ``attrs``), and joined-looking ones warn.
    """
    known = set(pb.var_names)
    where = "adata.var_names (and no embedding table was given)"
    if embedding is not None:
        known |= set(map(str, embedding.index))
        where = "both the embedding table and adata.var_names"
    absent = unknown_genes(genes, known)
    if not absent:
        return []
    msg = unknown_genes_message(absent, sep=pb.sep, where=where)
    joined = joined_labels(absent)
    if missing == "error" and (uses_genes or joined):
        raise ValueError(msg)
    if joined:
        warnings.warn(msg, UserWarning, stacklevel=3)
    return absent


def _check_table_type(embedding) -> None:
    if embedding is not None:
        from ..embed.table import validate_table

        validate_table(embedding)


def predict_perturbation(
    adata: AnnData,
    *,
    embedding: pd.DataFrame | None = None,
    perturbations: Sequence[str],
    condition_key: str = "condition",
    control: str | None = None,
    predictor: str = "ridge",
    cell_type_key: str | None = None,
    sep: str = "+",
    layer: str | None = None,
    normalize: bool | Literal["auto"] = "auto",
    missing: Literal["error", "skip", "mean"] = "error",
    min_cells: int | None = None,
    predictor_params: dict[str, Any] | None = None,
) -> AnnData:
    """Predict expression profiles of (unseen) perturbations from all perturbations in ``adata``.

    Returns a new AnnData (one row per requested perturbation and cell type), not ``adata``.

    Parameters
    ----------
    adata
        Cells x genes with a per-cell condition column; raw counts or log-normalised.
    embedding
        Gene embedding table (index = gene symbol); needed by ``ridge``/``knn``.
    perturbations
        Condition labels to predict, e.g. ``["KLF1", "KLF1+MAP2K6"]`` (GEARS ``"KLF1+ctrl"`` works).
    condition_key
        Column of ``adata.obs`` with the condition of each cell.
    control
        Control label (``None``: detect ``control``/``ctrl``/...).
    predictor
        Name in :data:`biobft.perturb.predictors.PREDICTORS`.
    cell_type_key
        Optional column; a model is fitted per cell type and each perturbation predicted in each.
    sep
        Gene separator in labels.
    layer, normalize
        Expression input; raw counts are normalised + ``log1p`` (see ``expression_matrix``).
    missing
        Policy for perturbed genes missing from the embedding table: ``"error"`` (raise, naming
        them), ``"skip"`` (drop the gene from the perturbation's vector; a perturbation with no
        embedded gene is predicted by the training mean, and ``obs["fallback"]`` says so: it
        is not dropped) or ``"mean"`` (the mean vector of the training perturbations).
    min_cells
        ``None`` (default): a (cell type, condition) group of fewer than 2 cells, control
        included, raises; a number drops smaller perturbation groups with a warning (``1``
        keeps one-cell groups). ``obs["n_cells"]`` reports the cells behind each row.
    predictor_params
        Extra keyword arguments for the predictor.

    Returns
    -------
    AnnData of predicted log-normalised profiles: ``obs`` has ``perturbation``, ``cell_type``,
    ``predictor``, ``n_train``, ``observed`` (whether ``adata`` measured it), ``embedding_model``,
    ``embedding_source``, ``n_missing_genes``, ``fallback`` (``""`` or what was predicted
    instead of a learnt response, e.g. the mean single delta for a gene without a training
    single; refused under ``missing="error"``), ``n_cells`` (cells measured for it, 0 if
    unseen) and ``n_cells_control``; ``uns["biobft_perturbation"]`` the parameters.

    Raises
    ------
    TypeError, KeyError, ValueError
        From the input door :func:`biobft.perturb.conditions.perturbation_input` (bad AnnData,
        labels, groups) and the table check; perturbed genes found nowhere or a fallback under
        ``missing="error"``.
    """
    import anndata as ad

    if isinstance(perturbations, str):
        perturbations = [perturbations]
    perturbations = [str(p) for p in perturbations]
    if not perturbations:
        raise ValueError("perturbations is empty; pass the condition labels to predict")
    if not isinstance(predictor, str):
        raise TypeError(
            f"predictor must be one name (str) such as 'ridge'; got {predictor!r}. To compare "
            "several predictors use evaluate_perturbation(predictors=[...])"
        )
    predictor_specs({predictor: {"predictor": predictor, **(predictor_params or {})}}, PREDICTORS)
    _check_table_type(embedding)
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
    pb = pseudobulk_from_input(inp, n_top_de=0)
    req = {p: parse_condition(p, control=pb.control, sep=sep) for p in perturbations}
    repeated = [p for p, g in req.items() if len(set(g)) < len(g)]
    if repeated:
        raise ValueError(
            f"perturbation(s) {repeated[:10]} repeat a gene (sep={sep!r}); name each gene once, "
            "e.g. 'A' for a single or 'A+B' for a double"
        )
    empty = [p for p, g in req.items() if not g]
    if empty:
        raise ValueError(
            f"perturbation(s) {empty[:10]} name no gene (control label {pb.control!r}, "
            f"sep={sep!r}); pass perturbed genes such as {pb.perturbations()[:3]}"
        )
    # the requested genes and the training conditions' genes get the same check (and sep= hint)
    _check_genes(
        pb,
        {g for gs in req.values() for g in gs} | {g for gs in pb.obs["genes"] for g in gs},
        embedding,
        missing,
        uses_genes=predictor in _USES_GENES,
    )
    meta = _embedding_meta(embedding)
    X, rows = [], []
    for ct in pd.unique(pb.obs["cell_type"]):
        sub = pb.subset_cell_type(ct)
        train = sub.perturbations()
        if not train:
            raise ValueError(f"cell type {ct!r} has no perturbed cells to train on")
        model = get_predictor(
            predictor,
            embedding=embedding,
            missing=missing,
            var_names=pb.var_names,
            **(predictor_params or {}),
        )
        model.fit(sub.genes_of(train), sub.delta(train))
        ctrl = sub.X[sub.obs.index.get_loc(sub.obs.index[sub.obs["is_control"]][0])]
        delta = model.predict(list(req.values()))
        observed = set(sub.obs["condition"])
        fallback = getattr(model, "fallback_", None) or [""] * len(perturbations)
        used_fallback = [p for p, f in zip(perturbations, fallback) if f]
        if used_fallback and missing == "error":
            raise KeyError(
                f"{predictor} has no learnt response for perturbation(s) {used_fallback[:10]} "
                f"in cell type {ct!r} ({[f for f in fallback if f][:3]}); "
                f"{missing_hint('mean', 'skip')} to accept the fallback (reported per row in "
                "obs['fallback']), or predict with another predictor"
            )
        n_ctl = int(sub.obs.loc[sub.obs["is_control"], "n_cells"].iloc[0])
        for p, genes, d, fb in zip(perturbations, req.values(), delta, fallback):
            X.append(ctrl + d)
            rows.append(
                {
                    "perturbation": p,
                    "cell_type": ct,
                    "predictor": predictor,
                    "n_train": len(train),
                    "observed": p in observed,
                    "embedding_model": str(meta.get("model", "")),
                    "embedding_source": str(meta.get("source", "")),
                    "n_missing_genes": sum(g in model.missing_ for g in genes),
                    "fallback": fb,
                    "n_cells": int(
                        sub.obs["n_cells"].get(row_id(p, ct if cell_type_key else None), 0)
                    ),
                    "n_cells_control": n_ctl,
                }
            )
    obs = pd.DataFrame(rows)
    obs.index = [
        p if cell_type_key is None else f"{c}::{p}"
        for p, c in zip(obs["perturbation"], obs["cell_type"])
    ]
    out = ad.AnnData(np.asarray(X, dtype=np.float32), obs=obs, var=pd.DataFrame(index=pb.var_names))
    out.uns["biobft_perturbation"] = {
        "params": {
            "predictor": predictor,
            "condition_key": condition_key,
            "control": pb.control,
            "cell_type_key": cell_type_key,
            "sep": sep,
            "missing": missing,
            "normalization": pb.normalization,
        },
        "embedding": {k: str(v) for k, v in meta.items()},
    }
    return out


def evaluate_perturbation(
    adata: AnnData,
    *,
    embedding: pd.DataFrame | None = None,
    condition_key: str = "condition",
    control: str | None = None,
    predictors: Sequence[str] | dict[str, dict[str, Any]] | None = None,
    split: Split | str | os.PathLike | None = None,
    cell_type_key: str | None = None,
    sep: str = "+",
    layer: str | None = None,
    normalize: bool | Literal["auto"] = "auto",
    missing: Literal["error", "skip", "mean"] = "error",
    min_cells: int | None = None,
    n_top_de: int = 20,
    de_method: Literal["t-test", "scanpy"] = "t-test",
    metrics: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Score perturbation predictors on held-out conditions of ``adata``.

    Returns a new DataFrame; ``adata`` is not modified.

    Parameters
    ----------
    adata
        Cells x genes with a per-cell condition column; raw counts or log-normalised.
    embedding
        Gene embedding table; predictors that need one are skipped by default without it.
    condition_key, control, cell_type_key, sep
        Condition labels (``control=None`` detects a common control label).
    predictors
        A name, names, or ``{label: {"predictor": name, **params}}``; default: every registered
        predictor that can run (``ridge``/``knn`` only with an embedding). Checked before any
        work.
    split
        A :class:`~biobft.perturb.splits.Split`, a JSON path, or a builder name (``loo``,
        ``kfold``, ``simulation``, ``cross_cell_type``); default ``loo``: leave-one-perturbation-out
        over singles and seen-single doubles, within each cell type.
    layer, normalize
        Expression input; raw counts are normalised + ``log1p``.
    missing
        Policy for perturbed genes missing from the embedding table, as in
        :func:`predict_perturbation`: a held-out condition with no embedded gene is scored with
        the training-mean prediction, and its rows' ``fallback`` column says so.
    min_cells
        ``None`` (default): a (cell type, condition) group of fewer than 2 cells, control
        included, raises; a number drops smaller perturbation groups with a warning before
        splitting (``1`` keeps one-cell groups). ``n_cells`` / ``n_cells_control`` columns
        report the cells behind each row.
    n_top_de, de_method
        Top DE genes per condition against control (GEARS: 20, t-test, ranked by ``|score|``).
    metrics
        Metric names (default: all of :data:`biobft.perturb.metrics.METRICS`).

    Returns
    -------
    One row per (predictor, held-out condition): ``predictor``, ``condition``, ``cell_type``,
    ``id``, ``group`` (``single``, ``double_seen0/1/2``, ...), ``fold``, ``n_train``,
    ``pearson_delta`` and the other metrics, ``n_missing_genes``, ``fallback`` (what a predictor
    used instead of a learnt response for that row, e.g. additive's mean single delta for a
    held-out single), ``n_cells`` and ``n_cells_control``. ``df.attrs["biobft"]`` records
    the normalisation used, the control label, the split and the embedding provenance.
    """
    if predictors is not None:
        _predictor_names(predictors)  # a bad predictors= is refused before any work
    _check_table_type(embedding)
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
    pb = pseudobulk_from_input(inp, n_top_de=n_top_de, de_method=de_method)
    labels = adata.obs[condition_key]
    if predictors is None:
        pert_genes = {g for gs in pb.obs["genes"] for g in gs}
        in_var = pert_genes <= set(pb.var_names)
        predictors = [
            p
            for p in DEFAULT_PREDICTORS
            if embedding is not None or (p == "linear" and in_var) or p not in _USES_GENES
        ]
    if isinstance(split, Split) or (
        isinstance(split, (str, os.PathLike)) and str(split).endswith(".json")
    ):
        _check_zero_cells(split, pb, labels, min_cells)
    split = resolve_split(split, pb)
    used = {t for f in split.folds for part in ("train", "test") for t in f[part]}
    unknown = _check_genes(
        pb,
        {g for t in used for g in pb.obs.at[t, "genes"]},
        embedding,
        missing,
        uses_genes=bool(_predictor_names(predictors) & _USES_GENES),
    )
    table = evaluate_split(
        pb, split, predictors, embedding=embedding, missing=missing, metrics=metrics
    )
    if len(table):
        table["n_cells"] = pb.obs.loc[table["id"], "n_cells"].to_numpy()
        table["n_cells_control"] = [pb.obs["n_cells"].iloc[pb.control_row(i)] for i in table["id"]]
    table.attrs["biobft"] = {
        "normalization": pb.normalization,
        "control": pb.control,
        "split": split.kind,
        "split_params": split.params,
        "n_folds": len(split),
        "n_top_de": n_top_de,
        "min_cells": inp.min_cells,
        "dropped": list(inp.dropped),
        "unknown_genes": unknown,
        "embedding": _embedding_meta(embedding),
    }
    return table


def _check_zero_cells(split, pb: Pseudobulk, labels: pd.Series, min_cells: int | None) -> None:
    """A split id whose condition is a known label (or category) without cells after filtering."""
    if not isinstance(split, Split):
        split = Split.load(split)
    known = set(labels.astype(str))
    if isinstance(labels.dtype, pd.CategoricalDtype):
        known |= set(map(str, labels.cat.categories))
    have = set(pb.ids)
    used = {t for f in split.folds for part in ("train", "test") for t in f[part]}
    empty = sorted(t for t in used - have if t.split("::")[-1] in known)
    if empty:
        raise ValueError(
            f"condition(s) {empty[:10]} have zero cells after filtering (min_cells={min_cells}); "
            "drop them from the split or lower min_cells"
        )
