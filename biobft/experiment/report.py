"""Experiment reporting: mean +- sd over seeds, a markdown report and a bar plot."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["METRIC_LABELS", "paired_differences", "plot_summary", "summarize", "to_markdown"]

METRIC_LABELS: dict[str, str] = {
    "nll": "held-out NLL (nats/token, lower is better)",
    "token_accuracy": "held-out token accuracy",
    "ggi_hidden_roc_auc": "GGI ROC-AUC, LLM hidden states of RefSeq text",
    "ggi_profile_roc_auc": "GGI ROC-AUC, MiniLM of generated profiles",
    "pert_hidden_pearson_delta": "Norman19 Pearson delta, ridge on hidden states",
    "pert_profile_pearson_delta": "Norman19 Pearson delta, ridge on profile embeddings",
    "pqa_hidden_auroc_per_gene": "PerturbQA K562 DE AUROC per readout gene, knn on hidden states",
    "pqa_profile_auroc_per_gene": "PerturbQA K562 DE AUROC per readout gene, knn on profiles",
}
"""Metric column -> human-readable label (also the order of the report's columns)."""


def summarize(
    runs: pd.DataFrame, *, metrics: Sequence[str] | None = None, by: str = "arm"
) -> pd.DataFrame:
    """Mean, sample standard deviation (``ddof=1``; NaN for one seed) and seed count per arm.

    Parameters
    ----------
    runs
        One row per (arm, seed) with metric columns.
    metrics
        Columns to summarise (default: those of :data:`METRIC_LABELS` present in ``runs``).
    by
        Grouping column.

    Returns
    -------
    DataFrame indexed by arm (first-seen order) with ``<metric>_mean``, ``<metric>_sd`` and
    ``n_seeds``.

    Raises
    ------
    KeyError
        ``by`` or a metric column is missing.
    """
    if by not in runs.columns:
        raise KeyError(f"runs has no column {by!r}; columns: {list(runs.columns)}")
    metrics = list(metrics) if metrics is not None else [m for m in METRIC_LABELS if m in runs]
    missing = [m for m in metrics if m not in runs.columns]
    if missing:
        raise KeyError(f"runs has no metric column(s) {missing}; columns: {list(runs.columns)}")
    order = list(dict.fromkeys(runs[by]))
    grouped = runs.groupby(by, sort=False)[metrics]
    mean = grouped.mean().add_suffix("_mean")
    sd = grouped.std(ddof=1).add_suffix("_sd")
    out = pd.concat([mean, sd], axis=1)
    out = out[[f"{m}_{s}" for m in metrics for s in ("mean", "sd")]]
    out["n_seeds"] = runs.groupby(by, sort=False).size()
    return out.loc[order]


def paired_differences(
    runs: pd.DataFrame,
    *,
    reference: str = "sft",
    metrics: Sequence[str] | None = None,
    by: str = "arm",
) -> pd.DataFrame:
    """Each arm minus ``reference``, paired by training seed (same data order, same budget).

    Parameters
    ----------
    runs
        One row per (arm, seed) with a ``seed`` column and metric columns.
    reference
        The arm every other seeded arm is compared with.
    metrics
        Columns to compare (default: those of :data:`METRIC_LABELS` present in ``runs``).
    by
        Arm column.

    Returns
    -------
    DataFrame with one row per (arm, metric): ``mean`` and ``sd`` (``ddof=1``) of the per-seed
    differences, ``n_seeds`` (seeds both arms ran), ``n_higher`` (seeds where the arm scored
    higher) and ``p_value`` of the paired t-test (``scipy.stats.ttest_rel``; NaN below 2 seeds).
    Empty when ``reference`` was not run.
    """
    from scipy import stats

    metrics = list(metrics) if metrics is not None else [m for m in METRIC_LABELS if m in runs]
    seeded = runs[runs["seed"].notna()]
    ref = seeded[seeded[by] == reference].set_index("seed")
    rows = []
    for arm in dict.fromkeys(seeded[by]):
        if arm == reference or ref.empty:
            continue
        other = seeded[seeded[by] == arm].set_index("seed")
        common = other.index.intersection(ref.index)
        for m in metrics:
            a = other.loc[common, m].to_numpy(dtype=float)
            b = ref.loc[common, m].to_numpy(dtype=float)
            d = a - b
            p = float(stats.ttest_rel(a, b).pvalue) if len(d) > 1 and np.ptp(d) > 0 else np.nan
            rows.append({"arm": arm, "metric": m, "mean": d.mean() if len(d) else np.nan,
                         "sd": d.std(ddof=1) if len(d) > 1 else np.nan, "n_seeds": len(d),
                         "n_higher": int((d > 0).sum()), "p_value": p})  # fmt: skip
    out = pd.DataFrame(rows, columns=["arm", "metric", "mean", "sd", "n_seeds", "n_higher",
                                      "p_value"])  # fmt: skip
    out.attrs["reference"] = reference
    return out


def _fmt(mean: float, sd: float, digits: int = 3) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "n/a"
    if sd is None or (isinstance(sd, float) and math.isnan(sd)):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {sd:.{digits}f}"


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(map(str, r)) + " |" for r in rows]
    return "\n".join(lines)


def to_markdown(
    summary: pd.DataFrame,
    *,
    settings: Mapping[str, Any] | None = None,
    baselines: Mapping[str, Any] | None = None,
    notes: Sequence[str] = (),
    paired: pd.DataFrame | None = None,
    title: str = "BFT vs DFT vs SFT: gene knowledge and gene embeddings",
) -> str:
    """Markdown report: the mean ± sd table, paired differences, baselines, settings, notes."""
    metrics = [m for m in METRIC_LABELS if f"{m}_mean" in summary.columns]
    header = ["arm", "seeds", *metrics]
    rows = [
        [str(arm), int(row["n_seeds"]),
         *(_fmt(row[f"{m}_mean"], row[f"{m}_sd"]) for m in metrics)]
        for arm, row in summary.iterrows()
    ]  # fmt: skip
    parts = [f"# {title}", "", _md_table(header, rows), ""]
    parts += ["Metrics:", ""] + [f"- `{m}`: {METRIC_LABELS[m]}" for m in metrics] + [""]
    if paired is not None and len(paired):
        ref = paired.attrs.get("reference", "the reference")
        parts += [f"## Each arm minus {ref}, paired by seed", ""]
        parts += ["mean ± sd of the per-seed differences; 'higher' counts the seeds where the "
                  "arm scored higher; p: paired t-test.", ""]  # fmt: skip
        table = paired.pivot(index="arm", columns="metric")
        cols = [m for m in metrics if m in set(paired["metric"])]
        prow = [[arm, *(f"{_fmt(table.loc[arm, ('mean', m)], table.loc[arm, ('sd', m)])} "
                        f"({int(table.loc[arm, ('n_higher', m)])}/"
                        f"{int(table.loc[arm, ('n_seeds', m)])} higher, "
                        f"p {_p(table.loc[arm, ('p_value', m)])})" for m in cols)]
                for arm in dict.fromkeys(paired["arm"])]  # fmt: skip
        parts += [_md_table(["arm", *cols], prow), ""]
    if baselines:
        parts += ["## Baselines (no fine-tuned LLM)", ""]
        parts += [_md_table(["baseline", "value"], [[k, _baseline_str(v)] for k, v in
                                                     baselines.items()]), ""]  # fmt: skip
    if settings:
        parts += ["## Settings", ""]
        parts += [_md_table(["setting", "value"], [[k, f"`{v}`"] for k, v in settings.items()]), ""]
    if notes:
        parts += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    return "\n".join(parts)


def _p(p: float) -> str:
    return "n/a" if p is None or math.isnan(p) else f"{p:.2g}"


def _baseline_str(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def plot_summary(
    summary: pd.DataFrame,
    path: str | os.PathLike,
    *,
    metrics: Sequence[str] | None = None,
    baselines: Mapping[str, float | tuple[float, str]] | None = None,
) -> Path:
    """One bar panel per metric (mean ± sd over seeds per arm); saved to ``path`` (PNG/PDF/SVG).

    ``baselines`` maps a metric column to a reference value, or ``(value, label)``, drawn as a
    dashed line (legend: the label, default ``"reference"``).
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    metrics = list(metrics) if metrics is not None else [
        m for m in METRIC_LABELS if f"{m}_mean" in summary.columns
    ]  # fmt: skip
    if not metrics:
        raise ValueError("summary has no <metric>_mean column to plot")
    n = len(metrics)
    ncols = min(3, n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.2 * nrows), squeeze=False)
    refs = {m: (v if isinstance(v, tuple) else (v, "reference"))
            for m, v in (baselines or {}).items()}  # fmt: skip
    arms = list(summary.index.astype(str))
    x = np.arange(len(arms))
    for ax, m in zip(axes.ravel(), metrics):
        mean = summary[f"{m}_mean"].to_numpy(dtype=float)
        sd = np.nan_to_num(summary[f"{m}_sd"].to_numpy(dtype=float))
        ax.bar(x, mean, yerr=sd, capsize=3, color=["0.6", *["C0"] * (len(arms) - 1)][: len(arms)])
        if m in refs:
            ax.axhline(refs[m][0], ls="--", color="C3", lw=1, label=refs[m][1])
            ax.legend(fontsize=7, loc="lower right")
        ax.set_xticks(x, arms, rotation=30, fontsize=8)
        ax.set_title(METRIC_LABELS.get(m, m), fontsize=8)
        finite = mean[np.isfinite(mean)]
        if finite.size and m != "nll":
            lo = min(finite.min() - sd.max(), refs.get(m, (np.inf,))[0])
            ax.set_ylim(max(lo - 0.05, -1.0), None)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
