"""``biobft benchmark`` (the main job) and ``biobft assemble`` (its report from saved results)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ._common import add_runtime_options, comma_list, read_gene_list


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``biobft benchmark``."""
    p = subparsers.add_parser(
        "benchmark",
        help="embed genes, run the GGI and perturbation benchmarks, write a report",
        description=(
            "Embed the gene text corpus (cached), run the Gene2vec gene-gene interaction "
            "benchmark and the Norman 2019 perturbation benchmark, and write report.md, "
            "results.json and figures into --out."
        ),
    )
    p.add_argument("--model", default="minilm", help="encoder name or folder (default: minilm)")
    p.add_argument("--source", default="refseq", help="gene text source (default: refseq)")
    p.add_argument("--pooling", default=None, help="pooling for causal/masked LMs (mean, ...)")
    add_runtime_options(p, what="every embedding step")
    p.add_argument(
        "--genes",
        type=Path,
        help="file with one gene symbol per line, # comments (default: all): the genes of the "
        "main table and the GGI sections; the PerturbQA section embeds its own K562 genes",
    )
    p.add_argument("--features", default="sum", help="GGI pair features (default: sum)")
    p.add_argument("--classifier", default="logistic", help="GGI classifier (default: logistic)")
    p.add_argument("--no-ggi", action="store_true", help="skip the GGI benchmark")
    p.add_argument(
        "--no-best-ggi",
        action="store_true",
        help="skip the GGI configuration chosen on valid (RefSeq+GO else name, + name vector)",
    )
    p.add_argument("--no-perturbation", action="store_true", help="skip the perturbation benchmark")
    p.add_argument(
        "--perturb-dataset",
        default="norman19",
        help="perturbench_devel dataset (norman19 or mcfaline23; default: norman19)",
    )
    p.add_argument(
        "--predictors",
        nargs="+",
        type=comma_list,
        help="perturbation predictors, comma- or space-separated (default: all)",
    )
    p.add_argument(
        "--no-perturbqa", action="store_true", help="skip the PerturbQA K562 DE/direction section"
    )
    p.add_argument(
        "--refit",
        action="store_true",
        help="fit every model again instead of reusing the fitted results of an earlier run on "
        "identical inputs (tables, pairs, configuration, biobft code)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("results/benchmark"), help="report folder")
    p.set_defaults(func=_run)
    _add_assemble(subparsers)


def _add_assemble(subparsers: argparse._SubParsersAction) -> None:
    """Register ``biobft assemble``."""
    p = subparsers.add_parser(
        "assemble",
        help="write the benchmark report from saved results (the workflow's report rule)",
        description=(
            "Assemble report.md, results.json and figures in --out from results already on disk "
            "(biobft ggi --json, biobft perturb evaluate --out, biobft perturbqa --json), "
            "without running any step again. Every input is checked before anything is written, "
            "and each must record the content fingerprint of --embeddings (the table it was "
            "computed on): results of another table, or older files without a fingerprint, are "
            "refused (rerun their step)."
        ),
    )
    p.add_argument("--embeddings", required=True, type=Path, help="the run's embedding table")
    p.add_argument("--ggi", type=Path, help="GGI result JSON (biobft ggi --json)")
    p.add_argument(
        "--perturbation", type=Path, help="per-condition CSV (biobft perturb evaluate --out)"
    )
    p.add_argument(
        "--perturbqa",
        type=Path,
        nargs="+",
        default=[],
        help="biobft perturbqa --cell-line/--task --json files (PerturbQA files; results on "
        "one's own --pairs have no published numbers and are refused)",
    )
    p.add_argument(
        "--perturb-dataset",
        default=None,
        help="perturbation data set name, for the title (default: the one the perturbation "
        "CSV's sidecar records; a different name is refused)",
    )
    p.add_argument("--out", type=Path, required=True, help="report folder")
    p.set_defaults(func=_assemble)


def _assemble(args: argparse.Namespace) -> int:
    from ..report.assemble import assemble_report
    from ..report.write import write_report
    from ._common import check_writable

    if args.out.exists() and not args.out.is_dir():
        raise ValueError(f"--out {str(args.out)!r} exists and is not a folder")
    check_writable(args.out, what="--out", folder=True)
    result = assemble_report(
        embeddings=args.embeddings,
        ggi=args.ggi,
        perturbation=args.perturbation,
        perturbqa=args.perturbqa,
        perturb_dataset=args.perturb_dataset,
    )
    report = write_report(result, args.out)
    print(f"report: {report}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from ..report.benchmark import run_benchmark
    from ..report.write import write_report

    t0 = time.perf_counter()
    if args.out.exists() and not args.out.is_dir():
        raise ValueError(f"--out {str(args.out)!r} exists and is not a folder")
    from ._common import check_cache_writable, check_writable

    check_writable(args.out, what="--out", folder=True)
    check_cache_writable()
    result = run_benchmark(
        model=args.model,
        source=args.source,
        pooling=args.pooling,
        precision=args.precision,
        backend=args.backend,
        genes=read_gene_list(args.genes) if args.genes else None,
        ggi=not args.no_ggi,
        best_ggi=not args.no_best_ggi,
        features=args.features,
        classifier=args.classifier,
        perturbation=not args.no_perturbation,
        perturb_dataset=args.perturb_dataset,
        predictors=None if args.predictors is None else [p for g in args.predictors for p in g],
        seed=args.seed,
        perturbqa=not args.no_perturbqa,
        cache=not args.refit,
    )
    report = write_report(result, args.out)
    emb = result.embedding
    print(f"embedding: {emb.get('model')} / {emb.get('source')}: {emb.get('n_genes')} genes")
    if result.ggi_best is not None:
        print("best validated configuration:\n" + result.ggi_best.summary())
    if result.ggi is not None:
        print("GenePT recipe:\n" + result.ggi.summary())
    summary = result.perturbation_summary()
    if not summary.empty:
        print(summary.to_string(float_format=lambda v: f"{v:.3f}"))
    if result.perturbqa is not None:
        print(result.perturbqa.summary().to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if result.cached:
        print(f"reused fitted results (identical inputs; --refit to fit again): {result.cached}")
    print(f"report: {report}  ({time.perf_counter() - t0:.1f} s)")
    return 0
