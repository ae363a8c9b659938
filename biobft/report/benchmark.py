"""``biobft benchmark``: one call from gene texts to a report folder.

Steps (each cached where it is expensive):

1. embed the gene text corpus with the chosen model (:func:`biobft.embed.embed_genes`);
2. Gene2vec gene-gene interaction benchmark: the best configuration chosen on the valid split
   (:data:`BEST_GGI`) and the GenePT recipe on the corpus table, each with random and name-only
   baselines on the same pairs (:func:`biobft.ggi.evaluate_gene2vec`);
3. Norman 2019 perturbation benchmark, leave-one-perturbation-out, every predictor
   (:func:`biobft.tl.evaluate_perturbation`);
4. ``report.md`` + ``results.json`` + figures in the output folder
   (:func:`biobft.report.write.write_report`).

Fitted results are reused when the inputs are identical (:mod:`biobft.report.fitcache`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

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


def _gene2vec_pairs() -> dict[str, pd.DataFrame]:
    """The three Gene2vec splits, read once per run."""
    from ..datasets import gene2vec_pairs

    return {s: gene2vec_pairs(s) for s in ("train", "valid", "test")}


def gene2vec_genes(pairs: dict[str, pd.DataFrame] | None = None) -> list[str]:
    """Every gene symbol of the Gene2vec train, valid and test pairs (first-seen order).

    ``pairs``: the splits when already read (``{"train": ..., "valid": ..., "test": ...}``).
    """
    pairs = pairs or _gene2vec_pairs()
    cols = [pairs[s][c] for s in ("train", "valid", "test") for c in ("gene_a", "gene_b")]
    return list(pd.unique(pd.concat(cols).astype(str)))


def _check_gene_subset_for_ggi(genes: list[str], pairs: dict[str, pd.DataFrame]) -> None:
    """Refuse a ``genes`` subset whose Gene2vec train or test pairs (both genes in the subset,
    an upper bound on what the GGI fits can use) lack interacting or non-interacting pairs,
    before the embedding step: the fit cannot run on one class."""
    keep = set(genes)
    for split in ("train", "test"):
        df = pairs[split]
        inside = df["gene_a"].astype(str).isin(keep) & df["gene_b"].astype(str).isin(keep)
        labels = df.loc[inside, "label"]
        n_pos, n_neg = int((labels == 1).sum()), int((labels == 0).sum())
        if not (n_pos and n_neg):
            raise ValueError(
                f"only {n_pos + n_neg} Gene2vec {split} pair(s) have both genes among the "
                f"{len(keep)} requested genes ({n_pos} interacting, {n_neg} not): the GGI "
                "sections need both kinds. Pass more genes (the default is every gene), or "
                "skip them with --no-ggi (Python: ggi=False)"
            )


def _covers_valid(genes: Iterable[str], valid: pd.DataFrame) -> bool:
    """Whether some Gene2vec valid pair has both genes in ``genes`` (a user's gene subset)."""
    have = pd.Index(list(genes))
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
        """Mean of each metric per (predictor, condition group) over held-out conditions, with
        ``n_conditions`` and ``n_fallback`` (of them, predicted by the predictor's fallback, e.g.
        ``train_mean`` for a gene without a vector: those rows are not the model's)."""
        if self.perturbation is None or self.perturbation.empty:
            return pd.DataFrame()
        df = self.perturbation
        cols = list(PERTURB_SUMMARY)  # an unknown name raises KeyError, never a silent drop
        out = df.groupby(["group", "predictor"], observed=True)[cols].mean()
        out["n_conditions"] = df.groupby(["group", "predictor"], observed=True).size()
        # conditions the predictor could not embed, predicted by its fallback (train_mean, ...)
        fell = df.get("fallback", pd.Series("", index=df.index)).fillna("").astype(str) != ""
        out["n_fallback"] = fell.groupby([df["group"], df["predictor"]], observed=True).sum()
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


def _peak_rss() -> str:
    """This process's peak resident memory (Linux / macOS; ``"n/a"`` elsewhere)."""
    try:
        import resource
        import sys
    except ImportError:
        return "n/a"
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return f"{peak / (1e9 if sys.platform == 'darwin' else 1e6):.2f} GB"


def _step(timings: dict[str, float], name: str, t0: float, bar, *, cached: bool = False) -> None:
    timings[name] = round(time.perf_counter() - t0, 2)
    logger.info(
        "%s done in %.1f s%s, peak RSS so far %s",
        name, timings[name], " (cached)" if cached else "", _peak_rss(),
    )  # fmt: skip
    bar.set_postfix_str(f"{name} done ({timings[name]:.0f} s{', cached' if cached else ''})")
    bar.update(1)


def _gene2vec(
    table: pd.DataFrame,
    pairs: dict[str, pd.DataFrame],
    *,
    cache: bool,
    use_valid: bool = False,
    name_table=None,
    texts=None,
    **kwargs: Any,
) -> tuple[Any, bool]:
    """:func:`biobft.ggi.evaluate_gene2vec` on the splits ``pairs`` (read once per run), its
    result cached by the content of every input.

    Returns the result and whether it came from the cache (``cache=False``: never).
    """
    from ..embed import table_metadata
    from ..ggi import evaluate_pairs
    from .fitcache import cached_result, content_key, ggi_from_record, ggi_record

    splits = ("train", "test", "valid") if use_valid else ("train", "test")
    texts_ = {} if texts is None else dict(texts)
    key = content_key(
        "gene2vec", table, name_table, texts_, kwargs, [pairs[s] for s in splits]
    )  # fmt: skip

    def compute():
        valid = pairs["valid"] if use_valid else None
        return evaluate_pairs(
            table, pairs["train"], pairs["test"], valid=valid, name_table=name_table,
            texts=texts, **kwargs,
        )  # fmt: skip

    res, hit = cached_result(
        "ggi", key, compute, dump=ggi_record, load=ggi_from_record, enabled=cache
    )
    res.table_meta = table_metadata(table)  # same content; this run's provenance record
    return res, hit


def _check_options(
    *,
    features: str,
    classifier: str,
    perturb_dataset: str | None,
    predictors: Sequence[str] | None,
) -> None:
    """Check every option of :func:`run_benchmark` before the first (slow) step runs."""
    from ..datasets.perturbench import check_perturbench_dataset
    from ..ggi import make_classifier, parse_features
    from ..perturb._options import predictor_specs
    from ..perturb.predictors import PREDICTORS

    parse_features(features)
    make_classifier(classifier)  # raises on an unknown name
    check_perturbench_dataset(perturb_dataset)
    if predictors is not None:
        predictor_specs(predictors, PREDICTORS)


def run_benchmark(
    *,
    model: str = "minilm",
    source: str = "refseq",
    pooling: str | None = None,
    precision: str = "auto",
    backend: str = "auto",
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
    backend
        Inference runtime of every embedding step (``"auto"``, ``"torch"``, ``"onnx"``,
        ``"openvino"``; see :func:`biobft.embed.encode`); the one that ran is in
        ``result.embedding["backend"]``.
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
    :class:`BenchmarkResult`; write it with :func:`biobft.report.write.write_report`.

    Raises
    ------
    ValueError, TypeError
        Unknown ``features``, ``classifier``, ``perturb_dataset`` or ``predictors``, or (with
        ``ggi``) a ``genes`` subset whose Gene2vec train or test pairs are all of one class: all
        checked before the first step (the embedding) starts.
    """
    from tqdm.auto import tqdm

    from .. import datasets, tl
    from ..embed import concat_tables, embed_genes, table_metadata
    from ..embed.encoding import release_encoders
    from ..text import gene_texts
    from .fitcache import cached_result, content_key, frame_from_record, frame_record

    # every option, also of a skipped section: a typo is refused, never recorded in the config
    _check_options(
        features=features,
        classifier=classifier,
        perturb_dataset=perturb_dataset,
        predictors=predictors,
    )
    genes = None if genes is None else list(genes)
    g2v_pairs = _gene2vec_pairs() if ggi else {}
    if ggi and genes is not None:
        _check_gene_subset_for_ggi(genes, g2v_pairs)
    timings: dict[str, float] = {}
    config = {
        "model": str(model),
        "source": source,
        "pooling": pooling,
        "precision": precision,
        "backend": backend,
        "n_genes_requested": None if genes is None else len(genes),
        "features": features,
        "classifier": classifier,
        "best_ggi": BEST_GGI if (ggi and best_ggi) else None,
        "perturb_dataset": perturb_dataset,
        "perturb_split": "loo",
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
        backend=backend,
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
            backend=backend,
            show_progress_bar=show_progress_bar,
        )

    name_all = None
    if ggi and (best_ggi or (name_baseline and source != "name")):
        # one name table for both GGI runs: the corpus genes and the Gene2vec genes
        g2v = (gene2vec_genes(g2v_pairs) if genes is None else genes) if best_ggi else []
        name_all = embed(list(dict.fromkeys([*table.index, *g2v])), "name")
    if ggi and best_ggi:
        t0 = time.perf_counter()
        best = BEST_GGI
        g2v_text = embed(g2v, best["source"])
        combined = concat_tables([g2v_text, name_all], source=f"{best['source']},{best['concat']}")
        release_encoders()  # encoding is done: free the models before the GGI fits
        result.ggi_best, hit = _gene2vec(
            combined,
            g2v_pairs,
            cache=cache,
            features=best["features"],
            classifier=best["classifier"],
            params=best["params"],
            name_table=name_all,
            use_valid=genes is None or _covers_valid(combined.index, g2v_pairs["valid"]),
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
            g2v_pairs,
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
        kw = dict(
            condition_key="condition",
            control="control",
            cell_type_key="cell_type" if adata.obs["cell_type"].nunique() > 1 else None,
            predictors=predictors,
            missing="skip",
        )
        result.perturbation, hit = cached_result(
            "perturbation",
            content_key("perturbation", adata.X, adata.obs, adata.var_names, table, kw),
            lambda: tl.evaluate_perturbation(adata, embedding=table, **kw),
            dump=frame_record,
            load=frame_from_record,
            enabled=cache,
        )
        result.perturbation.attrs.setdefault("biobft", {})["embedding"] = table_metadata(table)
        _step(timings, "perturbation", t0, bar, cached=hit)
        result.cached += ["perturbation"] if hit else []

    # --- PerturbQA section (issue 11): all logic in biobft/report/perturbqa.py ---------------
    if perturbqa:
        from .perturbqa import benchmark_section

        t0 = time.perf_counter()
        result.perturbqa = benchmark_section(
            table, model=model, pooling=pooling, precision=precision, backend=backend, seed=seed,
            show_progress_bar=show_progress_bar, cache=cache,
        )  # fmt: skip
        _step(timings, "perturbqa", t0, bar, cached=result.perturbqa.cached)
        result.cached += ["perturbqa"] if result.perturbqa.cached else []
    bar.close()
    return result
