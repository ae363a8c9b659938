"""AnnData wrappers for perturbation-response prediction (maths in :mod:`biobft.perturb`)."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from ..perturb.conditions import (
    check_condition_key,
    expression_matrix,
    parse_condition,
    resolve_control,
)
from ..perturb.evaluate import evaluate_split
from ..perturb.predictors import PREDICTORS, get_predictor
from ..perturb.pseudobulk import Pseudobulk, pseudobulk
from ..perturb.splits import Split, resolve_split

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

DEFAULT_PREDICTORS = ("no_change", "train_mean", "additive", "linear", "ridge", "knn")
#: predictors that embed the perturbed genes (table, or var_names rows for ``linear``)
_USES_GENES = frozenset({"linear", "ridge", "knn"})


def _predictor_names(predictors) -> set[str]:
    if isinstance(predictors, dict):
        return {spec.get("predictor", label) for label, spec in predictors.items()}
    return set(predictors)


def _embedding_meta(embedding: pd.DataFrame | None) -> dict[str, Any]:
    if embedding is None:
        return {}
    return dict(embedding.attrs.get("biobft", {}))


def _check_genes(pb: Pseudobulk, genes: set[str], embedding, missing: str) -> None:
    """Perturbed genes absent from both the table and var_names are an error under 'error'."""
    if missing != "error":
        return
    known = set(pb.var_names)
    if embedding is not None:
        known |= set(map(str, embedding.index))
    absent = sorted(g for g in genes if g not in known)
    if absent:
        raise ValueError(
            f"{len(absent)} perturbed gene(s) absent from both the embedding table and "
            f"adata.var_names: {absent[:10]}; check the condition labels and sep=..., use a table "
            "that covers them, or pass missing='skip' or 'mean'"
        )


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
    min_cells: int = 1,
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
        Policy for perturbed genes missing from the embedding: ``error``, ``skip`` or ``mean``.
    min_cells
        Conditions with fewer cells are not used for training.
    predictor_params
        Extra keyword arguments for the predictor.

    Returns
    -------
    AnnData of predicted log-normalised profiles: ``obs`` has ``perturbation``, ``cell_type``,
    ``predictor``, ``n_train``, ``observed`` (whether ``adata`` measured it), ``embedding_model``,
    ``embedding_source`` and ``n_missing_genes``; ``uns["biobft_perturbation"]`` the parameters.
    """
    import anndata as ad

    perturbations = [str(p) for p in perturbations]
    if not perturbations:
        raise ValueError("perturbations is empty; pass the condition labels to predict")
    if predictor not in PREDICTORS:
        raise ValueError(f"unknown predictor {predictor!r}; choose from {list(PREDICTORS)}")
    pb = pseudobulk(
        adata,
        condition_key=condition_key,
        control=control,
        cell_type_key=cell_type_key,
        sep=sep,
        layer=layer,
        normalize=normalize,
        min_cells=min_cells,
        n_top_de=0,
        de_method="t-test",
    )
    req = {p: parse_condition(p, control=pb.control, sep=sep) for p in perturbations}
    if predictor in _USES_GENES:
        _check_genes(pb, {g for gs in req.values() for g in gs}, embedding, missing)
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
        for p, genes, d in zip(perturbations, req.values(), delta):
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
    min_cells: int = 1,
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
        Names, or ``{label: {"predictor": name, **params}}``; default: every registered predictor
        that can run (``ridge``/``knn`` only with an embedding).
    split
        A :class:`~biobft.perturb.splits.Split`, a JSON path, or a builder name (``loo``,
        ``kfold``, ``simulation``, ``cross_cell_type``); default ``loo``: leave-one-perturbation-out
        over singles and seen-single doubles, within each cell type.
    layer, normalize
        Expression input; raw counts are normalised + ``log1p``.
    missing
        Policy for perturbed genes missing from the embedding.
    min_cells
        Conditions with fewer cells are dropped before splitting.
    n_top_de, de_method
        Top DE genes per condition against control (GEARS: 20, t-test, ranked by ``|score|``).
    metrics
        Metric names (default: all of :data:`biobft.perturb.metrics.METRICS`).

    Returns
    -------
    One row per (predictor, held-out condition): ``predictor``, ``condition``, ``cell_type``,
    ``id``, ``group`` (``single``, ``double_seen0/1/2``, ...), ``fold``, ``n_train``,
    ``pearson_delta`` and the other metrics, ``n_missing_genes``. ``df.attrs["biobft"]`` records
    the normalisation used, the control label, the split and the embedding provenance.
    """
    check_condition_key(adata, condition_key)
    labels = adata.obs[condition_key]
    control = resolve_control(labels.astype(str), control, condition_key=condition_key)
    pb = pseudobulk(
        adata,
        condition_key=condition_key,
        control=control,
        cell_type_key=cell_type_key,
        sep=sep,
        layer=layer,
        normalize=normalize,
        min_cells=min_cells,
        n_top_de=n_top_de,
        de_method=de_method,
    )
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
    if _predictor_names(predictors) & _USES_GENES:
        _check_genes(pb, {g for t in used for g in pb.obs.at[t, "genes"]}, embedding, missing)
    table = evaluate_split(
        pb, split, predictors, embedding=embedding, missing=missing, metrics=metrics
    )
    table.attrs["biobft"] = {
        "normalization": pb.normalization,
        "control": pb.control,
        "split": split.kind,
        "split_params": split.params,
        "n_folds": len(split),
        "n_top_de": n_top_de,
        "embedding": _embedding_meta(embedding),
    }
    return table


def _check_zero_cells(split, pb: Pseudobulk, labels: pd.Series, min_cells: int) -> None:
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


def rank_genes(
    adata: AnnData,
    *,
    condition_key: str = "condition",
    control: str | None = None,
    n_genes: int = 20,
    layer: str | None = None,
    normalize: bool | Literal["auto"] = "auto",
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
    layer, normalize
        Expression input.
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

    check_condition_key(adata, condition_key)
    labels = adata.obs[condition_key].astype(str)
    control = resolve_control(labels, control, condition_key=condition_key)
    X, used = expression_matrix(adata, layer=layer, normalize=normalize)
    counts = labels.value_counts()
    if (counts < 2).any():
        raise ValueError(
            f"condition(s) {list(counts.index[counts < 2])[:10]} have fewer than 2 cells; "
            "rank_genes_groups needs 2 per group: drop them first"
        )
    tmp = ad.AnnData(
        X, obs=pd.DataFrame({"g": pd.Categorical(labels.to_numpy())}, index=adata.obs_names)
    )
    tmp.var_names = adata.var_names
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
