"""Perturbation-prediction metrics (GEARS / linear-baselines paper), pure NumPy.

Every metric takes one condition's predicted profile ``pred``, observed profile ``obs`` and control
profile ``ctrl`` (1-D, one value per gene) and optional ``de`` gene indices; :data:`METRICS` maps
names to functions and :func:`compute_metrics` evaluates many conditions at once.

Names are literal: ``rmse`` is a root mean squared error (GenePert calls this "mse").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two vectors; NaN when either is constant (up to rounding)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    a = a - a.mean()
    b = b - b.mean()
    denom = np.sqrt((a @ a) * (b @ b))
    if not np.isfinite(denom) or denom <= 1e-12:
        return float("nan")
    return float(np.clip((a @ b) / denom, -1.0, 1.0))


def pearson_delta(pred, obs, ctrl, de=None) -> float:
    """Pearson correlation of predicted and observed change from control, all genes."""
    return pearson(np.asarray(pred) - ctrl, np.asarray(obs) - ctrl)


def pearson_delta_de(pred, obs, ctrl, de) -> float:
    """Pearson of the change from control on the top DE genes."""
    de = _need_de(de)
    return pearson((np.asarray(pred) - ctrl)[de], (np.asarray(obs) - ctrl)[de])


def mse_de(pred, obs, ctrl, de) -> float:
    """Mean squared error of the profiles on the top DE genes."""
    de = _need_de(de)
    diff = np.asarray(pred, dtype=np.float64)[de] - np.asarray(obs, dtype=np.float64)[de]
    return float(np.mean(diff**2))


def rmse(pred, obs, ctrl=None, de=None) -> float:
    """Root mean squared error of the profiles over all genes (GenePert's "mse")."""
    diff = np.asarray(pred, dtype=np.float64) - np.asarray(obs, dtype=np.float64)
    return float(np.sqrt(np.mean(diff**2)))


def l2_top_expressed(pred, obs, ctrl, de=None, *, n_top: int = 1000) -> float:
    """L2 distance of the profiles on the ``n_top`` genes most expressed in the control."""
    ctrl = np.asarray(ctrl, dtype=np.float64)
    top = np.argsort(-ctrl, kind="stable")[: min(n_top, ctrl.size)]
    diff = np.asarray(pred, dtype=np.float64)[top] - np.asarray(obs, dtype=np.float64)[top]
    return float(np.sqrt(diff @ diff))


def frac_wrong_direction_de(pred, obs, ctrl, de) -> float:
    """Fraction of top DE genes whose predicted change has the wrong sign (0 counts as wrong)."""
    de = _need_de(de)
    p = np.sign((np.asarray(pred) - ctrl)[de])
    o = np.sign((np.asarray(obs) - ctrl)[de])
    return float(np.mean(p != o))


def _need_de(de) -> np.ndarray:
    if de is None:
        raise ValueError("this metric needs the top DE gene indices (de=...)")
    return np.asarray(de, dtype=int)


#: metric name -> function(pred, obs, ctrl, de)
METRICS: dict[str, Callable[..., float]] = {
    "pearson_delta": pearson_delta,
    "pearson_delta_de": pearson_delta_de,
    "mse_de": mse_de,
    "rmse": rmse,
    "l2_top1000": l2_top_expressed,
    "frac_wrong_direction_de": frac_wrong_direction_de,
}

_NEEDS_DE = {"pearson_delta_de", "mse_de", "frac_wrong_direction_de"}


def compute_metrics(
    pred: np.ndarray,
    obs: np.ndarray,
    ctrl: np.ndarray,
    de: Sequence[np.ndarray | None] | None = None,
    *,
    metrics: Sequence[str] | None = None,
    index: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Metrics for many conditions (rows of ``pred``/``obs``/``ctrl``).

    Parameters
    ----------
    pred, obs, ctrl
        ``n_conditions x n_genes`` (``ctrl`` may be one row, broadcast).
    de
        Top DE indices per condition (``None`` entries give NaN for DE metrics).
    metrics
        Names from :data:`METRICS` (default: all).
    index
        Row labels of the result.

    Returns
    -------
    DataFrame, one row per condition, one column per metric.
    """
    pred = np.atleast_2d(np.asarray(pred, dtype=np.float64))
    obs = np.atleast_2d(np.asarray(obs, dtype=np.float64))
    ctrl = np.broadcast_to(np.atleast_2d(np.asarray(ctrl, dtype=np.float64)), obs.shape)
    if pred.shape != obs.shape:
        raise ValueError(f"pred and obs must have the same shape; got {pred.shape} vs {obs.shape}")
    names = list(METRICS) if metrics is None else list(metrics)
    unknown = [m for m in names if m not in METRICS]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; choose from {list(METRICS)}")
    de = [None] * len(obs) if de is None else list(de)
    rows = []
    for i in range(len(obs)):
        row = {}
        for m in names:
            if m in _NEEDS_DE and de[i] is None:
                row[m] = float("nan")
            else:
                row[m] = METRICS[m](pred[i], obs[i], ctrl[i], de[i])
        rows.append(row)
    return pd.DataFrame(rows, index=None if index is None else list(index), columns=names)
