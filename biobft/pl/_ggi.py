"""ROC curves of a GGI model against its baselines."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ..ggi.evaluate import GGIResult


def roc_curves(
    result: GGIResult | Mapping[str, Mapping[str, Any]],
    *,
    ax: Axes | None = None,
    title: str | None = None,
    return_fig: bool = False,
) -> Figure | None:
    """Plot test ROC curves of the model and its baselines, AUC in the legend.

    Parameters
    ----------
    result
        A :class:`~biobft.ggi.GGIResult`, or a mapping name -> ``{"fpr", "tpr"[, "roc_auc"]}``.
    ax
        Axes to draw on; a new figure when ``None``.
    title
        Axes title; default: the result's features / classifier.
    return_fig
        Return the figure instead of ``None``.

    Returns
    -------
    The figure when ``return_fig=True``, else ``None``.
    """
    import matplotlib.pyplot as plt

    if hasattr(result, "curves"):
        curves = {k: dict(v) for k, v in result.curves.items()}
        aucs = {"model": result.roc_auc} | {k: v["roc_auc"] for k, v in result.baselines.items()}
        for k, v in curves.items():
            v.setdefault("roc_auc", aucs.get(k))
        if title is None:
            src = result.table_meta.get("source", "")
            title = f"GGI {src} {result.features} / {result.classifier}".replace("  ", " ")
    elif isinstance(result, Mapping):
        curves = {str(k): dict(v) for k, v in result.items()}
    else:
        raise TypeError(
            "result must be a GGIResult or a mapping name -> {'fpr': ..., 'tpr': ...}; "
            f"got {type(result).__name__}"
        )
    if not curves:
        raise ValueError("no ROC curves to plot: the result holds none")
    for name, c in curves.items():
        if "fpr" not in c or "tpr" not in c:
            raise KeyError(f"curve {name!r} needs 'fpr' and 'tpr' arrays; got keys {sorted(c)}")

    if ax is None:
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
    else:
        fig = ax.figure
    for name, c in curves.items():
        auc = c.get("roc_auc")
        label = name if auc is None else f"{name} (AUC {auc:.3f})"
        style = "-" if name == "model" else "--"
        ax.plot(np.asarray(c["fpr"]), np.asarray(c["tpr"]), style, label=label, lw=1.5)
    ax.plot([0, 1], [0, 1], ":", color="grey", lw=1)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    if title:
        ax.set_title(title)
    ax.legend(loc="lower right", fontsize="small")
    return fig if return_fig else None
