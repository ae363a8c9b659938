"""The report of ``biobft benchmark``: ``report.md``, ``results.json``, a CSV and figures.

:func:`write_report` writes a :class:`~biobft.report.benchmark.BenchmarkResult`; its lead table
is :func:`ggi_headline`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .._paths import atomic_path
from .benchmark import BEST_GGI

if TYPE_CHECKING:
    from .benchmark import BenchmarkResult

__all__ = ["ggi_headline", "task_headline", "write_report"]


def ggi_headline(result: BenchmarkResult) -> pd.DataFrame:
    """The report's lead table: each GGI configuration beside the baselines on its own pairs.

    Rows: the configuration chosen on the valid split (:data:`BEST_GGI`), its name-only and
    random baselines (same test pairs), the GenePT recipe on the corpus table and its baselines.
    Columns: valid and test ROC-AUC, test PR-AUC, test pairs scored.
    """
    rows = []
    for label, res in (("best validated", result.ggi_best), ("GenePT recipe", result.ggi)):
        if res is None:
            continue
        meta = res.table_meta
        what = (
            f"{label}: `{meta.get('source')}` ({meta.get('dim')}-d), {res.features}, "
            f"{res.classifier}"
        )
        if label == "best validated":
            what += f" C={BEST_GGI['params']['C']:g}"
        rows.append(
            {
                "configuration": what,
                "valid_roc_auc": (res.valid or {}).get("roc_auc", float("nan")),
                "test_roc_auc": res.roc_auc,
                "test_pr_auc": res.pr_auc,
                "test_pairs": res.n_used.get("test", 0),
            }
        )
        for name, b in res.baselines.items():
            rows.append(
                {
                    "configuration": f"  {name}-only baseline, same pairs"
                    if name == "name"
                    else f"  {name} baseline, same pairs",
                    "valid_roc_auc": float("nan"),
                    "test_roc_auc": b.get("roc_auc", float("nan")),
                    "test_pr_auc": b.get("pr_auc", float("nan")),
                    "test_pairs": b.get("n_test", res.n_used.get("test", 0)),
                }
            )
    return pd.DataFrame(rows)


def task_headline(result: BenchmarkResult) -> pd.DataFrame:
    """The report's first table: per task, the configuration chosen on validation data (never on
    test) and its test score beside the baselines that could fake it, on the same test items.

    Rows: Gene2vec GGI (test ROC-AUC; :data:`BEST_GGI`, chosen on the valid split, else the
    GenePT recipe) and each PerturbQA file (AUROC per readout gene; the model predictor with the
    best inner-CV score over training knockdowns). Norman 2019 leave-one-perturbation-out has no
    validation split, so no predictor is chosen for it (its section lists them all).
    Columns: ``task``, ``metric``, ``chosen`` (configuration and how it was chosen), ``score``,
    ``name_only``, ``random``, ``other`` (further baselines, as text).
    """
    rows = []
    ggi = result.ggi_best if result.ggi_best is not None else result.ggi
    if ggi is not None:
        how = "valid split" if result.ggi_best is not None else "fixed recipe, no choice"
        other = ""
        if result.ggi_best is not None and result.ggi is not None:
            other = f"GenePT recipe {result.ggi.roc_auc:.3f} (other test pairs)"
        rows.append(
            {
                "task": "GGI (Gene2vec test pairs)",
                "metric": "ROC-AUC",
                "chosen": f"{ggi.features}, {ggi.classifier} on `{ggi.table_meta.get('source')}`"
                f" ({how})",
                "score": ggi.roc_auc,
                "name_only": ggi.baselines.get("name", {}).get("roc_auc", float("nan")),
                "random": ggi.baselines.get("random", {}).get("roc_auc", float("nan")),
                "other": other,
            }
        )
    from .perturbqa import best_published

    pqa = result.perturbqa
    for (cell, task), df in ({} if pqa is None else pqa.tables).items():
        models = df.loc[df["kind"] == "model"].dropna(subset=["inner_cv_auroc_per_gene"])
        if models.empty:
            continue
        pick = models.loc[models["inner_cv_auroc_per_gene"].idxmax()]
        score = dict(zip(df["predictor"], df["auroc_per_gene"]))
        base = [k for k in score if k.startswith(("random", "name"))]
        # the predictor the baselines went through (evaluate_de_pairs): like for like
        through = df.attrs.get("best")
        same = (
            f"; `{through}` itself {score[through]:.3f} (the baselines' predictor)"
            if through in score and through != pick["predictor"]
            else ""
        )
        pub_name, pub_val = best_published(cell, task)
        rows.append(
            {
                "task": f"PerturbQA {cell.upper()} {'DE' if task == 'de' else 'direction'}",
                "metric": "AUROC per readout gene",
                "chosen": f"{pick['predictor']} (inner CV {pick['inner_cv_auroc_per_gene']:.3f}"
                " over training knockdowns)",
                "score": pick["auroc_per_gene"],
                "name_only": next((score[k] for k in base if k.startswith("name")), np.nan),
                "random": next((score[k] for k in base if k.startswith("random")), np.nan),
                "other": f"base rate {score.get('base_rate', np.nan):.3f}{same}; best "
                f"published {pub_val:.2f} ({pub_name})",
            }
        )
    return pd.DataFrame(
        rows, columns=["task", "metric", "chosen", "score", "name_only", "random", "other"]
    )


def _md_table(df: pd.DataFrame, floatfmt: str = ".3f") -> str:
    """A DataFrame as a GitHub markdown table (no tabulate dependency). A ``|`` in a cell (e.g.
    the source ``refseq+go|name``) is escaped: unescaped, it splits the cell, even in code."""
    df = df.reset_index() if df.index.name or isinstance(df.index, pd.MultiIndex) else df

    def cell(v) -> str:
        text = format(v, floatfmt) if isinstance(v, (float, np.floating)) else str(v)
        return text.replace("|", "\\|")

    cols = [cell(c) for c in df.columns]
    rows = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for rec in df.itertuples(index=False):
        cells = [cell(v) for v in rec]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def _figures(result: BenchmarkResult, fig_dir: Path) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from .. import pl

    made: dict[str, str] = {}
    fig_dir.mkdir(parents=True, exist_ok=True)
    if result.ggi is not None:
        fig = pl.roc_curves(result.ggi, return_fig=True)
        fig.savefig(fig_dir / "ggi_roc.png", dpi=120, bbox_inches="tight")
        plt.close(fig)
        made["ggi_roc"] = "figures/ggi_roc.png"
    df = result.perturbation
    if df is not None and not df.empty:
        fig = pl.metric_bars(df, metric="pearson_delta", return_fig=True)
        fig.axes[0].set_title(
            f"{result.config['perturb_dataset']}: Pearson Δ of held-out conditions "
            "(no_change: undefined)"
        )
        fig.savefig(fig_dir / "perturb_metric_bars.png", dpi=120, bbox_inches="tight")
        plt.close(fig)
        made["perturb_metric_bars"] = "figures/perturb_metric_bars.png"
    if result.perturbqa is not None:  # issue 11
        from .perturbqa import perturbqa_figure

        perturbqa_figure(result.perturbqa, fig_dir / "perturbqa_auroc.png")
        made["perturbqa_auroc"] = "figures/perturbqa_auroc.png"
    return made


#: split kinds (:func:`biobft.perturb.splits.make_split`) as the section title names them
SPLIT_LABELS = {
    "loo": "leave-one-perturbation-out",
    "kfold": "k-fold over perturbations",
    "simulation": "GEARS simulation split",
    "cross_cell_type": "held-out cell type",
}


def _split_label(kind: str | None) -> str:
    if kind is None:
        return "split not recorded"
    return SPLIT_LABELS.get(str(kind), f"split {kind!r}")


def write_report(result: BenchmarkResult, out_dir: str | os.PathLike) -> Path:
    """Write ``report.md``, ``results.json``, per-condition CSV and figures into ``out_dir``.

    Every file is written atomically; returns the path of ``report.md``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    figures = _figures(result, out / "figures")
    emb = result.embedding
    lines = [
        "# biobft benchmark report",
        "",
        f"Embedding: model `{emb.get('model')}`, source `{emb.get('source')}`, pooling "
        f"`{emb.get('pooling')}`, backend `{emb.get('backend')}`, precision "
        f"`{emb.get('precision')}`, {emb.get('n_genes')} genes, d = {emb.get('dim')}.",
        "",
    ]
    head = task_headline(result)
    if not head.empty:
        lines += [
            "## Headline: each task's configuration chosen on validation data, beside its "
            "baselines",
            "",
            "Scores on the test items only; `name_only` (the name-only text embedding) and "
            "`random` (Gaussian vectors of the same dimension) are scored on the same items: for "
            "GGI through the same configuration; for PerturbQA through the embedding predictor "
            "with the best inner-CV score, whose own score `other` gives when the chosen "
            "configuration is another (e.g. the ensemble). Norman 2019 "
            "(leave-one-perturbation-out) has no validation split, so no predictor is chosen "
            "for it: its section below lists every predictor.",
            "",
            _md_table(head),
            "",
        ]
    if result.ggi is not None or result.ggi_best is not None:
        lines += [
            "## Gene-gene interaction: headline (Gene2vec; chosen on valid, reported on test)",
            "",
            (
                "The best validated configuration was chosen on the valid split only (never on "
                "test; `benchmarks/results/ggi_runs.md`); the GenePT recipe (sum, logistic) on "
                "the corpus table beside it. "
                if result.ggi_best is not None
                else "The GenePT recipe (sum, logistic) on the corpus table (the best validated "
                "configuration was not run here: `biobft benchmark` without `--no-best-ggi` "
                "adds it). "
            )
            + "Each is followed by its baselines on the same test pairs: the name-only text "
            "embedding and random Gaussian vectors of the same dimension.",
            "",
            _md_table(ggi_headline(result)),
            "",
        ]
    if result.ggi is not None:
        g = result.ggi
        lines += [
            "## Gene-gene interaction: GenePT recipe on the corpus table (Gene2vec test split)",
            "",
            f"Pair features `{g.features}`, classifier `{g.classifier}`. Baselines on the same "
            "pairs: `random` Gaussian vectors of the same dimension, `name` the name-only text.",
            "",
            _md_table(g.to_frame()),
            "",
            f"Coverage: {g.n_used.get('test', 0)} of {g.n_raw.get('test', 0)} test pairs scored "
            f"({100 * g.coverage:.1f}%); {g.n_used.get('train', 0)} training pairs.",
            "",
        ]
        if g.leakage is not None:
            lines += [
                f"Leakage audit: {100 * g.leakage:.2f}% of scored test pairs ({g.n_leaky}) have "
                "one gene's symbol written in the other gene's text.",
                "",
            ]
        if "ggi_roc" in figures:
            lines += [f"![ROC curves]({figures['ggi_roc']})", ""]
    summary = result.perturbation_summary()
    if not summary.empty:
        cfg = result.config
        lines += [
            f"## Perturbation response ({cfg.get('perturb_dataset')}, "
            f"{_split_label(cfg.get('perturb_split'))})",
            "",
            "Means over held-out conditions. `pearson_delta`: Pearson correlation of predicted "
            "and observed change from control over all genes; `_de`: on the top-20 DE genes; "
            "`rmse`: root mean squared error over all genes. `no_change` predicts Δ = 0, so its "
            "Pearson Δ is undefined (nan); its RMSE is the size of the observed change. "
            "`n_fallback`: of the `n_conditions`, those the predictor could not embed (no gene "
            "with a vector; `additive`: no training single) and predicted by its fallback "
            "(`train_mean`; `additive`: the mean training single delta), so a row is the "
            "model's own only for the rest "
            "(`perturbation_conditions.csv`, column `fallback`, names them).",
            "",
            _md_table(summary),
            "",
        ]
        if "perturb_metric_bars" in figures:
            lines += [f"![Pearson delta per predictor]({figures['perturb_metric_bars']})", ""]
    if result.perturbqa is not None:  # issue 11
        from .perturbqa import perturbqa_markdown

        lines += perturbqa_markdown(result.perturbqa, figure=figures.get("perturbqa_auroc"))
    lines += [
        "## Run",
        "",
        "Wall time per step (s): "
        + ", ".join(f"{k} {v:.1f}" for k, v in result.timings.items())
        + ".",
        "",
    ]
    if result.cached:
        lines += [
            f"Fitted results reused from an earlier run on identical inputs (same tables, pairs, "
            f"configuration and biobft code): {', '.join(result.cached)}. Pass `--refit` to fit "
            "them again.",
            "",
        ]
    with atomic_path(out / "results.json") as tmp:
        tmp.write_text(json.dumps(result.to_dict(), indent=2, default=str))
    if result.perturbation is not None:
        with atomic_path(out / "perturbation_conditions.csv") as tmp:
            result.perturbation.to_csv(tmp, index=False)
    report = out / "report.md"
    with atomic_path(report) as tmp:
        tmp.write_text("\n".join(lines))
    return report
