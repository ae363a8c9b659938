"""``biobft benchmark``: one call from gene texts to a report folder.

Steps (each cached where it is expensive):

1. embed the gene text corpus with the chosen model (:func:`biobft.embed.embed_genes`);
2. Gene2vec gene-gene interaction benchmark: the best configuration chosen on the valid split
   (:data:`BEST_GGI`) and the GenePT recipe on the corpus table, each with random and name-only
   baselines on the same pairs (:func:`biobft.ggi.evaluate_gene2vec`);
3. Norman 2019 perturbation benchmark, leave-one-perturbation-out, every predictor
   (:func:`biobft.tl.evaluate_perturbation`);
4. ``report.md`` + ``results.json`` + figures in the output folder (:func:`write_report`).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._paths import atomic_path

logger = logging.getLogger(__name__)

#: Metrics summarised per predictor in the report (means over held-out conditions).
PERTURB_SUMMARY = ("pearson_delta", "pearson_delta_de", "rmse", "mse_de", "frac_wrong_direction_de")


#: The GGI configuration chosen on the Gene2vec **valid** split (never on test) with MiniLM:
#: gene vector = [embedding of the RefSeq + GO text (else the name text), embedding of the name
#: text] for every Gene2vec gene (alias-resolved), pair features ``sum+hadamard``, logistic
#: regression with ``C = 1e-4``; valid ROC-AUC 0.858, test 0.845 (``benchmarks/bench_ggi.py``,
#: ``benchmarks/results/ggi_runs.md``).
BEST_GGI: dict[str, Any] = {
    "source": "refseq+go|name",
    "concat": "name",
    "features": "sum+hadamard",
    "classifier": "logistic",
    "params": {"C": 1e-4},
}


def gene2vec_genes() -> list[str]:
    """Every gene symbol of the Gene2vec train, valid and test pairs (first-seen order)."""
    from ..datasets import gene2vec_pairs

    cols = [gene2vec_pairs(s)[c] for s in ("train", "valid", "test") for c in ("gene_a", "gene_b")]
    return list(pd.unique(pd.concat(cols).astype(str)))


def _covers_valid(genes: Iterable[str]) -> bool:
    """Whether some Gene2vec valid pair has both genes in ``genes`` (a user's gene subset)."""
    from ..datasets import gene2vec_pairs

    valid, have = gene2vec_pairs("valid"), pd.Index(list(genes))
    return bool((valid.gene_a.isin(have) & valid.gene_b.isin(have)).any())


@dataclass
class BenchmarkResult:
    """Everything the report shows (tables as DataFrames, plus run metadata)."""

    config: dict[str, Any]
    embedding: dict[str, Any]
    ggi: Any = None
    ggi_best: Any = None
    perturbation: pd.DataFrame | None = None
    timings: dict[str, float] = field(default_factory=dict)
    cached: list[str] = field(default_factory=list)  # steps whose fitted results were reused
    perturbqa: Any = None  # PerturbQA section (biobft.report.perturbqa), issue 11

    def perturbation_summary(self) -> pd.DataFrame:
        """Mean of each metric per (predictor, condition group) over held-out conditions."""
        if self.perturbation is None or self.perturbation.empty:
            return pd.DataFrame()
        df = self.perturbation
        cols = list(PERTURB_SUMMARY)  # an unknown name raises KeyError, never a silent drop
        out = df.groupby(["group", "predictor"], observed=True)[cols].mean()
        out["n_conditions"] = df.groupby(["group", "predictor"], observed=True).size()
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record of the run."""
        summary = self.perturbation_summary().reset_index()
        return {
            "config": self.config,
            "embedding": self.embedding,
            "ggi": None if self.ggi is None else self.ggi.to_dict(),
            "ggi_best": None if self.ggi_best is None else self.ggi_best.to_dict(),
            "perturbation_summary": json.loads(summary.to_json(orient="records")),
            "timings_s": self.timings,
            "cached_steps": self.cached,
            "perturbqa": None if self.perturbqa is None else self.perturbqa.to_dict(),
        }


def _step(timings: dict[str, float], name: str, t0: float, bar, *, cached: bool = False) -> None:
    timings[name] = round(time.perf_counter() - t0, 2)
    logger.info("%s done in %.1f s%s", name, timings[name], " (cached)" if cached else "")
    bar.set_postfix_str(f"{name} done ({timings[name]:.0f} s{', cached' if cached else ''})")
    bar.update(1)


def _gene2vec(
    table: pd.DataFrame, *, cache: bool, name_table=None, texts=None, **kwargs: Any
) -> tuple[Any, bool]:
    """:func:`biobft.ggi.evaluate_gene2vec`, its result cached by the content of every input.

    Returns the result and whether it came from the cache (``cache=False``: never).
    """
    from .. import datasets
    from ..embed import table_metadata
    from ..ggi import evaluate_gene2vec
    from .fitcache import cached_result, content_key, ggi_from_record, ggi_record

    pairs = [datasets.gene2vec_pairs(s) for s in ("train", "valid", "test")]
    key = content_key("gene2vec", table, name_table, dict(texts or {}), kwargs, pairs)
    res, hit = cached_result(
        "ggi",
        key,
        lambda: evaluate_gene2vec(table, name_table=name_table, texts=texts, **kwargs),
        dump=ggi_record,
        load=ggi_from_record,
        enabled=cache,
    )
    res.table_meta = table_metadata(table)  # same content; this run's provenance record
    return res, hit


def run_benchmark(
    *,
    model: str = "minilm",
    source: str = "refseq",
    pooling: str | None = None,
    precision: str = "auto",
    genes: Iterable[str] | None = None,
    ggi: bool = True,
    features: str = "sum",
    classifier: str = "logistic",
    name_baseline: bool = True,
    best_ggi: bool = True,
    perturbation: bool = True,
    perturb_dataset: str = "norman19",
    predictors: Sequence[str] | None = None,
    seed: int = 0,
    show_progress_bar: bool | None = None,
    perturbqa: bool = True,
    cache: bool = True,
) -> BenchmarkResult:
    """Embed genes and run the GGI and perturbation benchmarks.

    Parameters
    ----------
    model, pooling, precision
        Encoder for :func:`biobft.embed.embed_genes` (a name such as ``"minilm"``, a
        sentence-transformers folder, or a causal LM folder / checkpoint with ``pooling``).
    source
        Gene text source (``"refseq"``, ``"go"``, ``"name"``, ``"refseq|go|name"``, ...).
    genes
        Genes to embed; ``None``: every gene with a text in ``source``.
    ggi, features, classifier, name_baseline
        Run the Gene2vec benchmark with these pair features and classifier; with
        ``name_baseline`` the name-only text embedding is the honest floor beside the model.
    best_ggi
        Also run :data:`BEST_GGI` (the configuration chosen on the valid split) with ``model``
        on every Gene2vec gene (``genes`` when given); the report leads with it.
    perturbation, perturb_dataset, predictors
        Run the leave-one-perturbation-out benchmark on ``perturbench_devel(perturb_dataset)``
        with these predictors (default: all that can run).
    seed
        Seed of every random step.
    perturbqa
        Run the PerturbQA K562 DE / direction section (:mod:`biobft.report.perturbqa`;
        non-commercial data).
    show_progress_bar
        Progress bars of the long steps (``None``: automatic).
    cache
        Reuse fitted results stored by an earlier run on the same inputs
        (:mod:`biobft.report.fitcache`: keyed by the content of the tables, pairs and texts,
        the configuration and biobft's source code); ``False`` refits everything. Embeddings
        are cached by :func:`biobft.embed.embed_genes` either way.

    Returns
    -------
    :class:`BenchmarkResult`; write it with :func:`write_report`.
    """
    from tqdm.auto import tqdm

    from .. import datasets, tl
    from ..embed import concat_tables, embed_genes, table_metadata
    from ..text import gene_texts

    genes = None if genes is None else list(genes)
    timings: dict[str, float] = {}
    config = {
        "model": str(model),
        "source": source,
        "pooling": pooling,
        "precision": precision,
        "n_genes_requested": None if genes is None else len(genes),
        "features": features,
        "classifier": classifier,
        "best_ggi": BEST_GGI if (ggi and best_ggi) else None,
        "perturb_dataset": perturb_dataset,
        "predictors": None if predictors is None else list(predictors),
        "seed": seed,
    }
    bar = tqdm(
        total=1 + bool(ggi) + bool(ggi and best_ggi) + bool(perturbation) + bool(perturbqa),
        desc="benchmark",
        unit="step",
        disable=show_progress_bar is False,
    )
    t0 = time.perf_counter()
    table = embed_genes(
        genes,
        source=source,
        model=model,
        pooling=pooling,
        precision=precision,
        show_progress_bar=show_progress_bar,
    )
    meta = table_metadata(table)
    _step(timings, "embed", t0, bar)
    result = BenchmarkResult(
        config=config, embedding={**meta, "n_genes": int(table.shape[0])}, timings=timings
    )

    def embed(genes_, source_):
        return embed_genes(
            genes_,
            source=source_,
            model=model,
            pooling=pooling,
            precision=precision,
            show_progress_bar=show_progress_bar,
        )

    name_all = None
    if ggi and (best_ggi or (name_baseline and source != "name")):
        # one name table for both GGI runs: the corpus genes and the Gene2vec genes
        g2v = (gene2vec_genes() if genes is None else genes) if best_ggi else []
        name_all = embed(list(dict.fromkeys([*table.index, *g2v])), "name")
    if ggi and best_ggi:
        t0 = time.perf_counter()
        best = BEST_GGI
        g2v_text = embed(g2v, best["source"])
        combined = concat_tables([g2v_text, name_all], source=f"{best['source']},{best['concat']}")
        result.ggi_best, hit = _gene2vec(
            combined,
            cache=cache,
            features=best["features"],
            classifier=best["classifier"],
            params=best["params"],
            name_table=name_all,
            use_valid=genes is None or _covers_valid(combined.index),
            texts=gene_texts(list(combined.index), source=best["source"]),
            seed=seed,
        )
        _step(timings, "ggi_best", t0, bar, cached=hit)
        result.cached += ["ggi_best"] if hit else []

    if ggi:
        t0 = time.perf_counter()
        name_table = None
        if name_baseline and source != "name":
            name_table = name_all
        texts = gene_texts(list(table.index), source=source) if isinstance(source, str) else None
        result.ggi, hit = _gene2vec(
            table,
            cache=cache,
            features=features,
            classifier=classifier,
            name_table=name_table,
            texts=texts,
            seed=seed,
        )
        _step(timings, "ggi", t0, bar, cached=hit)
        result.cached += ["ggi"] if hit else []

    if perturbation:
        t0 = time.perf_counter()
        adata = datasets.perturbench_devel(dataset=perturb_dataset)
        cell_type_key = "cell_type" if adata.obs["cell_type"].nunique() > 1 else None
        result.perturbation = tl.evaluate_perturbation(
            adata,
            embedding=table,
            condition_key="condition",
            control="control",
            cell_type_key=cell_type_key,
            predictors=predictors,
            missing="skip",
        )
        _step(timings, "perturbation", t0, bar)

    # --- PerturbQA section (issue 11): all logic in biobft/report/perturbqa.py ---------------
    if perturbqa:
        from .perturbqa import benchmark_section

        t0 = time.perf_counter()
        result.perturbqa = benchmark_section(
            table, model=model, pooling=pooling, precision=precision, seed=seed,
            show_progress_bar=show_progress_bar, cache=cache,
        )  # fmt: skip
        _step(timings, "perturbqa", t0, bar, cached=result.perturbqa.cached)
        result.cached += ["perturbqa"] if result.perturbqa.cached else []
    bar.close()
    return result


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


def _md_table(df: pd.DataFrame, floatfmt: str = ".3f") -> str:
    """A DataFrame as a GitHub markdown table (no tabulate dependency)."""
    df = df.reset_index() if df.index.name or isinstance(df.index, pd.MultiIndex) else df
    cols = [str(c) for c in df.columns]
    rows = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for rec in df.itertuples(index=False):
        cells = [
            format(v, floatfmt) if isinstance(v, (float, np.floating)) else str(v) for v in rec
        ]
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
        f"`{emb.get('pooling')}`, precision `{emb.get('precision')}`, {emb.get('n_genes')} genes, "
        f"d = {emb.get('dim')}.",
        "",
    ]
    if result.ggi is not None or result.ggi_best is not None:
        lines += [
            "## Gene-gene interaction: headline (Gene2vec; chosen on valid, reported on test)",
            "",
            "The best validated configuration was chosen on the valid split only (never on "
            "test; `benchmarks/results/ggi_runs.md`); the GenePT recipe (sum, logistic) on the "
            "corpus table beside it. Each is followed by its baselines on the same test pairs: "
            "the name-only text embedding and random Gaussian vectors of the same dimension.",
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
            f"## Perturbation response ({cfg['perturb_dataset']}, leave-one-perturbation-out)",
            "",
            "Means over held-out conditions. `pearson_delta`: Pearson correlation of predicted "
            "and observed change from control over all genes; `_de`: on the top-20 DE genes; "
            "`rmse`: root mean squared error over all genes. `no_change` predicts Δ = 0, so its "
            "Pearson Δ is undefined (nan); its RMSE is the size of the observed change.",
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
