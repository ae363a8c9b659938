"""Perturbation plots: predicted vs observed change, metric bars per predictor."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def _axes(ax, figsize):
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
    else:
        fig = ax.figure
    return fig, ax


def delta_scatter(
    predicted: np.ndarray,
    observed: np.ndarray,
    control: np.ndarray,
    *,
    genes: Sequence[str] | None = None,
    highlight: Sequence[int] | None = None,
    title: str | None = None,
    ax: Axes | None = None,
    return_fig: bool = False,
) -> Axes | Figure:
    """Scatter of predicted vs observed change from control for one condition.

    Parameters
    ----------
    predicted, observed, control
        Profiles (one value per gene).
    genes
        Gene names, used to label the ``highlight`` points.
    highlight
        Gene indices drawn in colour (e.g. the top DE genes).
    title
        Axes title; the Pearson correlation of the changes is appended.
    ax
        Axes to draw on (a new figure if ``None``).
    return_fig
        Return the figure instead of the axes.

    Returns
    -------
    The axes, or the figure when ``return_fig``.
    """
    from ..perturb.metrics import pearson_delta

    predicted, observed, control = (
        np.asarray(v, dtype=float) for v in (predicted, observed, control)
    )
    if not predicted.shape == observed.shape == control.shape:
        raise ValueError("predicted, observed and control must have the same shape")
    fig, ax = _axes(ax, (4, 4))
    dp, do = predicted - control, observed - control
    ax.scatter(do, dp, s=6, c="0.6", lw=0)
    if highlight is not None:
        idx = np.asarray(highlight, dtype=int)
        ax.scatter(do[idx], dp[idx], s=14, c="C3", lw=0, label="top DE")
        if genes is not None:
            for i in idx[:10]:
                ax.annotate(str(genes[i]), (do[i], dp[i]), fontsize=6)
        ax.legend(loc="upper left", fontsize=7, frameon=False)
    lim = float(np.nanmax(np.abs(np.r_[dp, do]))) or 1.0
    ax.plot([-lim, lim], [-lim, lim], ls="--", c="k", lw=0.7)
    ax.axhline(0, c="0.8", lw=0.5)
    ax.axvline(0, c="0.8", lw=0.5)
    ax.set_xlabel("observed Δ")
    ax.set_ylabel("predicted Δ")
    r = pearson_delta(predicted, observed, control)
    ax.set_title(f"{title + ': ' if title else ''}r = {r:.2f}", fontsize=9)
    return fig if return_fig else ax


def metric_bars(
    results: pd.DataFrame,
    *,
    metric: str = "pearson_delta",
    groupby: str | None = "group",
    order: Sequence[str] | None = None,
    ax: Axes | None = None,
    return_fig: bool = False,
) -> Axes | Figure:
    """Mean ± standard error of a metric per predictor (and condition group).

    Parameters
    ----------
    results
        Output of :func:`biobft.tl.evaluate_perturbation`.
    metric
        Metric column.
    groupby
        Column splitting the bars (``None`` for one bar per predictor).
    order
        Predictor order.
    ax, return_fig
        See :func:`delta_scatter`.
    """
    for col in ("predictor", metric, *([groupby] if groupby else [])):
        if col not in results.columns:
            raise KeyError(f"results have no column {col!r} (columns: {list(results.columns)})")
    fig, ax = _axes(ax, (5, 3))
    preds = list(order) if order is not None else list(pd.unique(results["predictor"]))
    groups = list(pd.unique(results[groupby])) if groupby else [None]
    width = 0.8 / len(groups)
    x = np.arange(len(preds))
    for k, g in enumerate(groups):
        sub = results if g is None else results[results[groupby] == g]
        stats = sub.groupby("predictor")[metric].agg(["mean", "sem"]).reindex(preds)
        ax.bar(x + k * width - 0.4 + width / 2, stats["mean"], width, yerr=stats["sem"].fillna(0),
               label=None if g is None else str(g), capsize=2)  # fmt: skip
    ax.set_xticks(x)
    ax.set_xticklabels(preds, rotation=30, ha="right")
    ax.set_ylabel(metric)
    if groupby:
        ax.legend(fontsize=7, frameon=False)
    return fig if return_fig else ax
