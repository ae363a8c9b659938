"""PerturbQA section of ``biobft benchmark`` (and of ``benchmarks/perturbqa.py``).

DE and direction-of-change prediction on PerturbQA's held-out knockdowns (Wu et al., ICLR 2025;
data under the Genentech Non-Commercial Software License v1.0): every DE-pair predictor
(:func:`biobft.perturb.evaluate_de_pairs`) beside its baselines and beside the published
methods (:data:`PUBLISHED`), scored by ROC-AUC per readout gene.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

__all__ = ["PUBLISHED", "PerturbQAResult", "perturbqa_markdown", "run_perturbqa"]

#: Published test AUROC per gene (PerturbQA Table 1: the authors' ``examples/results.ipynb`` at
#: genentech/PerturbQA@c975e31, printed to two decimals), ``{(cell_line, task): {method: auc}}``.
PUBLISHED: dict[tuple[str, str], dict[str, float]] = {
    ("k562", "de"): {
        "MLP": 0.48, "GAT": 0.53, "GEARS": 0.55, "GenePT-Gene": 0.57, "GenePT-Prot": 0.59,
        "LLM (no CoT)": 0.52, "LLM (no retrieval)": 0.52, "Retrieval (no LLM)": 0.58,
        "SUMMER": 0.62,
    },
    ("rpe1", "de"): {
        "MLP": 0.51, "GAT": 0.55, "GEARS": 0.49, "GenePT-Gene": 0.55, "GenePT-Prot": 0.56,
        "LLM (no CoT)": 0.52, "LLM (no retrieval)": 0.48, "Retrieval (no LLM)": 0.59,
        "SUMMER": 0.59,
    },
    ("k562", "dir"): {
        "MLP": 0.53, "GAT": 0.59, "GEARS": 0.67, "GenePT-Gene": 0.49, "GenePT-Prot": 0.55,
        "LLM (no CoT)": 0.50, "LLM (no retrieval)": 0.50, "Retrieval (no LLM)": 0.69,
        "SUMMER": 0.64,
    },
    ("rpe1", "dir"): {
        "MLP": 0.51, "GAT": 0.60, "GEARS": 0.61, "GenePT-Gene": 0.61, "GenePT-Prot": 0.61,
        "LLM (no CoT)": 0.49, "LLM (no retrieval)": 0.52, "Retrieval (no LLM)": 0.63,
        "SUMMER": 0.64,
    },
}  # fmt: skip

LICENCE_NOTE = (
    "PerturbQA data: Genentech Non-Commercial Software License v1.0 (non-commercial use only); "
    "Wu et al., ICLR 2025, from Replogle et al. 2022 CRISPRi Perturb-seq."
)


def best_published(cell_line: str, task: str) -> tuple[str, float]:
    """The best published method and its AUROC for one column (ties: the first listed)."""
    col = PUBLISHED[(cell_line, task)]
    name = max(col, key=col.get)
    return name, col[name]


@dataclass
class PerturbQAResult:
    """Results per (cell line, task): the evaluation table and the extra table's rows."""

    tables: dict[tuple[str, str], pd.DataFrame] = field(default_factory=dict)
    extra: dict[tuple[str, str], pd.DataFrame] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    cached: bool = False  # reused from an earlier identical run (biobft.report.fitcache)

    def summary(self) -> pd.DataFrame:
        """One row per (cell line, task, predictor): AUROC per gene, coverage, kind."""
        frames = []
        for (cell, task), df in {**self.tables}.items():
            sub = df[["predictor", "kind", "auroc_per_gene", "perturbation_coverage"]].copy()
            sub.insert(0, "task", task)
            sub.insert(0, "cell_line", cell)
            sub["table"] = self.config.get("table", "main")
            frames.append(sub)
        for (cell, task), df in self.extra.items():
            sub = df[["predictor", "kind", "auroc_per_gene", "perturbation_coverage"]].copy()
            sub.insert(0, "task", task)
            sub.insert(0, "cell_line", cell)
            sub["table"] = self.config.get("extra_table", "extra")
            frames.append(sub)
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record (full rows, per-gene AUROC left out)."""
        import json

        return {
            "config": self.config,
            "seconds": self.seconds,
            "licence": LICENCE_NOTE,
            "results": {
                f"{c}-{t}": json.loads(df.to_json(orient="records"))
                for (c, t), df in self.tables.items()
            },
            "extra": {
                f"{c}-{t}": json.loads(df.to_json(orient="records"))
                for (c, t), df in self.extra.items()
            },
            "published": {f"{c}-{t}": v for (c, t), v in PUBLISHED.items()},
        }


def run_perturbqa(
    table: pd.DataFrame,
    *,
    cell_lines: Sequence[str] = ("k562",),
    tasks: Sequence[str] = ("de", "dir"),
    predictors: Sequence[str] | None = None,
    name_table: pd.DataFrame | None = None,
    extra_table: pd.DataFrame | None = None,
    extra_predictors: Sequence[str] = ("knn", "ensemble"),
    labels: tuple[str, str] = ("main", "extra"),
    missing: str = "skip",
    seed: int = 0,
) -> PerturbQAResult:
    """Evaluate DE-pair predictors on PerturbQA files (non-commercial data; see module doc).

    Parameters
    ----------
    table
        Gene embedding table for the perturbed (and readout) genes.
    cell_lines, tasks
        Which files (``biobft.datasets.perturbqa(cell_line, task)``).
    predictors
        DE-pair predictors (default: :func:`biobft.perturb.evaluate_de_pairs`' default).
    name_table
        Name-only table for the ``name`` baseline.
    extra_table, extra_predictors
        A second table (e.g. RefSeq only) run through ``extra_predictors`` without baselines.
    labels
        Names of ``table`` and ``extra_table`` in the summary.
    missing, seed
        As in :func:`biobft.perturb.evaluate_de_pairs`.

    Returns
    -------
    PerturbQAResult
    """
    from ..datasets import perturbqa
    from ..perturb import evaluate_de_pairs

    t0 = time.perf_counter()
    res = PerturbQAResult(
        config={
            "cell_lines": list(cell_lines),
            "tasks": list(tasks),
            "predictors": None if predictors is None else list(predictors),
            "missing": missing,
            "seed": seed,
            "table": labels[0],
            "extra_table": labels[1],
            "table_meta": dict(table.attrs.get("biobft", {}) or {}),
        }
    )
    res.config["table_meta"].pop("missing", None)
    for cell in cell_lines:
        for task in tasks:
            pairs = perturbqa(cell_line=cell, task=task)
            res.tables[(cell, task)] = evaluate_de_pairs(
                pairs,
                embedding=table,
                predictors=predictors,
                missing=missing,
                seed=seed,
                name_embedding=name_table,
            )
            test_perts = set(pairs.loc[pairs["split"] == "test", "pert"])
            if extra_table is not None and not test_perts & set(extra_table.index.astype(str)):
                # e.g. `biobft benchmark --genes small.txt`: nothing to score, not an error
                logger.warning(
                    "PerturbQA %s %s: the %r table covers no test knockdown; its rows are skipped",
                    cell, task, labels[1],
                )  # fmt: skip
            elif extra_table is not None:
                res.extra[(cell, task)] = evaluate_de_pairs(
                    pairs,
                    embedding=extra_table,
                    predictors=list(extra_predictors),
                    missing="skip",
                    seed=seed,
                    baselines=False,
                )
    res.seconds = round(time.perf_counter() - t0, 2)
    return res


def _fmt(v: Any) -> str:
    if isinstance(v, (float, np.floating)):
        return "nan" if not np.isfinite(v) else f"{v:.3f}"
    return str(v)


def perturbqa_markdown(result: PerturbQAResult, *, figure: str | None = None) -> list[str]:
    """Markdown lines of the section: one table per file, published numbers beside it."""
    lines = [
        "## PerturbQA: differential expression and direction of change (held-out knockdowns)",
        "",
        LICENCE_NOTE,
        "",
        "Metric: ROC-AUC per readout gene over the test knockdowns, averaged over genes "
        "(PerturbQA's `auc_per_gene`); a readout gene's base rate scores exactly 0.5. Every "
        "predictor is fit on the training knockdowns only; hyper-parameters by inner CV over "
        "training knockdowns. `random`: Gaussian vectors of the same dimension through the "
        "embedding predictor with the best inner-CV score (named in brackets; `graph` uses no "
        "embedding and the ensemble is not a candidate); `name`: the name-only text table "
        "through it. Compare them with that predictor's own row. "
        "Pooled `auroc` is inflated by readout-gene base rates and is not the task's metric.",
        "",
        f"Tables: every row without a suffix uses its own `{result.config.get('table')}` table, "
        "embedded for the K562 files' genes by the same encoder (`--genes` does not restrict "
        f"it); `({result.config.get('extra_table')})` rows use this report's main table.",
        "",
    ]
    for (cell, task), df in result.tables.items():
        best_name, best_val = best_published(cell, task)
        what = "DE" if task == "de" else "direction"
        lines += [
            f"### {cell.upper()} {what}: best published {best_val:.2f} ({best_name})",
            "",
            "| predictor | kind | AUROC per gene | genes | test knockdowns | pair coverage "
            "| pooled AUROC | AP | inner CV | params |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in df.itertuples(index=False):
            lines.append(
                f"| {r.predictor} | {r.kind} | {_fmt(r.auroc_per_gene)} | {r.n_genes_scored} "
                f"| {r.n_test_perturbations} | {_fmt(r.coverage)} | {_fmt(r.auroc)} "
                f"| {_fmt(r.average_precision)} | {_fmt(r.inner_cv_auroc_per_gene)} "
                f"| `{r.params}` |"
            )
        extra = result.extra.get((cell, task))
        if extra is not None:
            for r in extra.itertuples(index=False):
                lines.append(
                    f"| {r.predictor} ({result.config.get('extra_table')}) | model "
                    f"| {_fmt(r.auroc_per_gene)} | {r.n_genes_scored} "
                    f"| {r.n_test_perturbations} | {_fmt(r.coverage)} | {_fmt(r.auroc)} "
                    f"| {_fmt(r.average_precision)} | {_fmt(r.inner_cv_auroc_per_gene)} "
                    f"| `{r.params}` |"
                )
        pub = ", ".join(f"{k} {v:.2f}" for k, v in PUBLISHED[(cell, task)].items())
        lines += ["", f"Published (PerturbQA Table 1): {pub}.", ""]
    if figure:
        lines += [f"![PerturbQA AUROC per readout gene]({figure})", ""]
    when = " (in the earlier run whose fitted results are reused)" if result.cached else ""
    lines += [f"PerturbQA section wall time{when}: {result.seconds:.1f} s.", ""]
    return lines


def perturbqa_figure(result: PerturbQAResult, path: str | Path) -> Path:
    """Per-gene AUROC plot (one panel per file) saved to ``path``."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from ..pl import perturbqa_auroc

    keys = list(result.tables)
    fig, axes = plt.subplots(1, len(keys), figsize=(6 * len(keys), 4), squeeze=False)
    for ax, (cell, task) in zip(axes[0], keys):
        df = result.tables[(cell, task)]
        perturbqa_auroc(
            pd.DataFrame(df.attrs["per_gene"]),
            published=best_published(cell, task),
            title=f"{cell.upper()} {'DE' if task == 'de' else 'direction'}",
            ax=ax,
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def benchmark_section(
    table: pd.DataFrame,
    *,
    model: Any = "minilm",
    pooling: str | None = None,
    precision: str = "auto",
    backend: str = "auto",
    source: str = "refseq|go|name",
    seed: int = 0,
    show_progress_bar: bool | None = None,
    cache: bool = True,
) -> PerturbQAResult:
    """The PerturbQA section of ``biobft benchmark``: K562 DE and direction.

    Embeds the perturbed and readout genes of the K562 files with ``source`` (default
    ``"refseq|go|name"``, so that nearly every knockdown has a text) and with ``"name"`` (the
    baseline) using the main job's encoder (``model``, ``pooling``, ``precision``, ``backend`` as
    in :func:`biobft.embed.embed_genes`), then runs :func:`run_perturbqa` with the main job's
    own ``table`` as the second ("extra") table, through ``knn`` only. To keep the main job's
    extra time small the pair classifier fits on at most 20,000 training pairs here
    (``benchmarks/perturbqa.py``: 60,000). With ``cache`` the result of an earlier run on the
    same tables, pairs, configuration and biobft code is reused (:mod:`biobft.report.fitcache`;
    ``result.cached`` says so).
    """
    from ..datasets import perturbqa
    from ..embed import embed_genes

    genes: set[str] = set()
    for task in ("de", "dir"):
        df = perturbqa(cell_line="k562", task=task)
        genes |= set(df["pert"]) | set(df["gene"])
    kw = dict(model=model, pooling=pooling, precision=precision, backend=backend)
    main = embed_genes(sorted(genes), source=source, show_progress_bar=show_progress_bar, **kw)
    name = embed_genes(sorted(genes), source="name", show_progress_bar=show_progress_bar, **kw)
    own = str((table.attrs.get("biobft") or {}).get("source", "benchmark table"))
    predictors = {
        "knn": {"predictor": "knn"},
        "graph": {"predictor": "graph"},
        "pair": {"predictor": "pair", "max_pairs": 20_000},
        "ensemble": {"predictor": "ensemble"},
    }
    kw = dict(
        cell_lines=("k562",),
        tasks=("de", "dir"),
        predictors=predictors,
        extra_predictors=("knn",),
        labels=(source, own),
        seed=seed,
    )
    if not cache:
        return run_perturbqa(main, name_table=name, extra_table=table, **kw)
    from .fitcache import cached_result, content_key

    pairs = [perturbqa(cell_line="k562", task=t) for t in kw["tasks"]]
    res, hit = cached_result(
        "perturbqa",
        content_key("perturbqa", main, name, table, kw, pairs),
        lambda: run_perturbqa(main, name_table=name, extra_table=table, **kw),
        dump=_record,
        load=_from_record,
    )
    res.config["table_meta"] = {
        k: v for k, v in (main.attrs.get("biobft") or {}).items() if k != "missing"
    }  # same content; this run's provenance record
    res.cached = hit
    return res


def _record(res: PerturbQAResult) -> dict[str, Any]:
    from .fitcache import frame_record

    return {
        "tables": [[list(k), frame_record(df)] for k, df in res.tables.items()],
        "extra": [[list(k), frame_record(df)] for k, df in res.extra.items()],
        "config": res.config,
        "seconds": res.seconds,
    }


def _from_record(rec: dict[str, Any]) -> PerturbQAResult:
    from .fitcache import frame_from_record

    return PerturbQAResult(
        tables={tuple(k): frame_from_record(df) for k, df in rec["tables"]},
        extra={tuple(k): frame_from_record(df) for k, df in rec["extra"]},
        config=rec["config"],
        seconds=rec["seconds"],
    )
