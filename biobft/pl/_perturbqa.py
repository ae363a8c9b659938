"""PerturbQA plot: distribution of the per-readout-gene AUROC of each DE-pair predictor."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def perturbqa_auroc(
    per_gene: pd.DataFrame,
    *,
    published: tuple[str, float] | None = None,
    title: str | None = None,
    ax: Axes | None = None,
    return_fig: bool = False,
) -> Axes | Figure:
    """Box plot of the AUROC per readout gene, one box per predictor, means marked.

    Parameters
    ----------
    per_gene
        Gene x predictor AUROC frame, e.g.
        ``pd.DataFrame(evaluate_de_pairs(...).attrs["per_gene"])``; NaN cells
        (genes a predictor did not score) are left out of that predictor's box.
    published
        ``(method, auroc)`` drawn as a dotted horizontal line (e.g. the best published method).
    title
        Axes title.
    ax
        Axes to draw on (a new figure if ``None``).
    return_fig
        Return the figure instead of the axes.

    Returns
    -------
    The axes, or the figure when ``return_fig``.
    """
    import matplotlib.pyplot as plt

    if not isinstance(per_gene, pd.DataFrame) or per_gene.shape[1] == 0:
        raise ValueError("per_gene must be a gene x predictor DataFrame with at least one column")
    if ax is None:
        fig, ax = plt.subplots(figsize=(1.0 + 0.8 * per_gene.shape[1], 3.5))
    else:
        fig = ax.figure
    cols = list(per_gene.columns)
    data = [per_gene[c].dropna().to_numpy() for c in cols]
    ax.boxplot(data, showfliers=False, widths=0.6)
    means = [float(np.mean(d)) if len(d) else np.nan for d in data]
    x = np.arange(1, len(cols) + 1)
    ax.scatter(x, means, marker="D", s=18, c="C3", zorder=3, label="mean")
    for xi, m in zip(x, means):
        ax.annotate(f"{m:.3f}", (xi, m), xytext=(4, 4), textcoords="offset points", fontsize=7)
    ax.axhline(0.5, ls="--", c="0.5", lw=0.8, label="chance / base rate")
    if published is not None:
        ax.axhline(published[1], ls=":", c="C0", lw=1.2, label=f"best published ({published[0]})")
    ax.set_xticks(x)
    ax.set_xticklabels(cols, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("AUROC per readout gene")
    if title:
        ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, frameon=False, loc="lower left")
    return fig if return_fig else ax
