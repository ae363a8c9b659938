"""Run perturbation predictors over a :class:`~biobft.perturb.splits.Split` and score them
(the one runner between pseudobulk, predictors and metrics)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ._options import predictor_specs
from .embeddings import Missing
from .metrics import compute_metrics
from .predictors import PREDICTORS
from .pseudobulk import Pseudobulk
from .splits import Split

__all__ = ["evaluate_split"]


def evaluate_split(
    pb: Pseudobulk,
    split: Split,
    predictors: dict[str, dict[str, Any]] | Sequence[str],
    *,
    embedding: pd.DataFrame | None = None,
    missing: Missing = "error",
    metrics: Sequence[str] | None = None,
    return_predictions: bool = False,
):
    """Fit every predictor on each fold's training rows and score its test rows.

    Parameters
    ----------
    pb
        Pseudobulk with DE genes.
    split
        Validated :class:`Split` over ``pb``'s row ids.
    predictors
        A name, names, or ``{label: {"predictor": name, **params}}`` for several configurations
        of one (read by :func:`~biobft.perturb._options.predictor_specs`).
    embedding, missing
        Passed to predictors that take them.
    metrics
        Metric names (default all).
    return_predictions
        Also return ``{(label, id): predicted profile}``.

    Returns
    -------
    DataFrame with one row per (predictor, test id): ``predictor``, ``condition``, ``cell_type``,
    ``id``, ``group``, ``fold``, ``n_train``, the metrics, ``n_missing_genes`` and ``fallback``
    (``""``, or what the predictor used instead of a learnt response for that row).
    """
    split.validate(pb)  # every caller gets the leak / unknown-id guard
    specs = {}
    for label, (name, spec) in predictor_specs(predictors, PREDICTORS).items():
        if PREDICTORS[name].needs_embedding and spec.get("embedding", embedding) is None:
            raise ValueError(f"predictor {label!r} needs embedding=TABLE; pass one or drop it")
        spec.setdefault("embedding", embedding)
        spec.setdefault("missing", missing)
        spec.setdefault("var_names", pb.var_names)
        specs[label] = (name, spec)
    rows: list[pd.DataFrame] = []
    preds: dict[tuple[str, str], np.ndarray] = {}
    for k, fold in enumerate(split.folds):
        train, test = list(fold["train"]), list(fold["test"])
        tr_genes, tr_delta = pb.genes_of(train), pb.delta(train)
        te_genes, obs, ctrl = pb.genes_of(test), pb.profiles(test), pb.controls(test)
        de = [pb.de.get(t) for t in test]
        for label, (name, spec) in specs.items():
            model = PREDICTORS[name](**spec).fit(tr_genes, tr_delta)
            pred = ctrl + model.predict(te_genes)
            m = compute_metrics(pred, obs, ctrl, de, metrics=metrics)
            m.insert(0, "predictor", label)
            m.insert(1, "condition", list(pb.obs.loc[test, "condition"]))
            m.insert(2, "cell_type", list(pb.obs.loc[test, "cell_type"]))
            m.insert(3, "id", test)
            m.insert(4, "group", [fold.get("groups", {}).get(t, "") for t in test])
            m.insert(5, "fold", k)
            m.insert(6, "n_train", len(train))
            m["n_missing_genes"] = [sum(g in model.missing_ for g in gs) for gs in te_genes]
            m["fallback"] = model.fallback_
            rows.append(m)
            if return_predictions:
                preds.update({(label, t): p for t, p in zip(test, pred)})
    table = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    return (table, preds) if return_predictions else table
