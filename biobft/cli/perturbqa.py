"""``biobft perturbqa``: score DE-pair predictors on PerturbQA or on one's own DE-pair table."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .._paths import read_csv_symbols
from ._common import comma_list

DEFAULT_CELL_LINE = "k562"
DEFAULT_TASK = "de"


def _check_source(args: argparse.Namespace) -> None:
    """``--pairs`` replaces ``--cell-line`` / ``--task``: giving both is a usage error."""
    from ._common import UserError

    if args.pairs is not None:
        given = [f"--{k.replace('_', '-')} {v}" for k, v in
                 (("cell_line", args.cell_line), ("task", args.task)) if v is not None]  # fmt: skip
        if given:
            raise UserError(
                f"--pairs {str(args.pairs)!r} is scored as it is, so {' and '.join(given)} would "
                f"be ignored; drop {'it' if len(given) == 1 else 'them'} (--cell-line and "
                "--task pick a PerturbQA table), or drop --pairs"
            )
    else:
        args.cell_line = args.cell_line or DEFAULT_CELL_LINE
        args.task = args.task or DEFAULT_TASK


def _read_pairs(path: Path):
    import pandas as pd

    if not path.is_file():
        raise FileNotFoundError(f"--pairs {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return pd.read_parquet(path)
    if suffix in (".csv", ".tsv", ".txt"):
        return read_csv_symbols(path, symbols=("pert", "gene", "split"),
                                sep="\t" if suffix == ".tsv" else ",")  # fmt: skip
    raise ValueError(
        f"--pairs must be a .csv, .tsv or .parquet file with columns pert, gene, label, split; "
        f"got {str(path)!r}"
    )


def _cmd_perturbqa(args: argparse.Namespace) -> int:
    from ..embed.table import read_table
    from ..perturb.de_pairs import evaluate_de_pairs
    from ._common import check_cache_writable, check_writable

    _check_source(args)
    if args.json is not None:
        check_writable(args.json, what="--json")
    check_cache_writable()
    if args.pairs is not None:
        pairs = _read_pairs(args.pairs)
        what = str(args.pairs)
    else:
        from ..datasets import perturbqa

        pairs = perturbqa(cell_line=args.cell_line, task=args.task)
        what = f"PerturbQA {args.cell_line} {args.task} (non-commercial licence)"
    if not Path(args.embeddings).is_file():
        raise FileNotFoundError(
            f"--embeddings {str(args.embeddings)!r} does not exist; write one with "
            "`biobft embed --source 'refseq|go|name' --out table.parquet`"
        )
    table = read_table(args.embeddings)
    provenance = None
    if args.json is not None:  # fingerprinted before the run, as read
        from ..report.provenance import table_provenance

        provenance = table_provenance(table, args.embeddings)
    name_table = read_table(args.name_embeddings) if args.name_embeddings else None
    res = evaluate_de_pairs(
        pairs,
        embedding=table,
        predictors=args.predictors,
        missing=args.missing,
        seed=args.seed,
        name_embedding=name_table,
        allow_shared_perturbations=args.allow_shared_perturbations,
    )
    cols = ["predictor", "kind", "auroc_per_gene", "n_genes_scored", "n_test_perturbations",
            "coverage", "n_fallback_pairs", "auroc", "average_precision"]  # fmt: skip
    print(f"{what}: AUROC per readout gene over test perturbations")
    print(res[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if args.json is not None:
        from ..embed.table import table_metadata
        from ..report.provenance import write_result_json

        own = args.pairs is not None
        record = {
            "pairs": what,
            "cell_line": None if own else args.cell_line,
            "task": None if own else args.task,
            "embeddings": str(args.embeddings),
            "table_meta": {k: v for k, v in table_metadata(table).items() if k != "missing"},
            "provenance": provenance,  # table fingerprint: `biobft assemble` checks it
            "missing": args.missing,
            "seed": args.seed,
            "seconds": res.attrs.get("seconds"),
            "best_embedding_predictor": res.attrs.get("best"),
            "rows": json.loads(res.to_json(orient="records")),
            "per_gene": res.attrs.get("per_gene"),
        }
        write_result_json(record, args.json)  # sealed: `biobft assemble` refuses an edited file
        print(f"wrote {args.json}")
    return 0


def add_parser(subparsers) -> None:
    """Register ``biobft perturbqa``."""
    p = subparsers.add_parser(
        "perturbqa",
        help="DE / direction prediction of perturbation-readout gene pairs (PerturbQA)",
        description=(
            "Fit DE-pair predictors (knn, graph, pair, ensemble) on the training perturbations "
            "and report ROC-AUC per readout gene on the test perturbations beside the base-rate, "
            "random-vector and (optional) name-only baselines. PerturbQA data are under the "
            "Genentech Non-Commercial Software License v1.0."
        ),
    )
    # None = not given: the defaults apply only without --pairs, which cannot be combined with them
    p.add_argument(
        "--cell-line", default=None, choices=["k562", "rpe1"],
        help=f"PerturbQA cell line (default: {DEFAULT_CELL_LINE}); not with --pairs",
    )  # fmt: skip
    p.add_argument(
        "--task", default=None, choices=["de", "dir"],
        help=f"PerturbQA task (default: {DEFAULT_TASK}); not with --pairs",
    )  # fmt: skip
    p.add_argument(
        "--pairs", type=Path, default=None,
        help="own DE-pair table (.csv/.tsv/.parquet: pert, gene, label, split); "
        "replaces --cell-line/--task (an error to give them too)",
    )  # fmt: skip
    p.add_argument("--embeddings", required=True, help="gene embedding table (.parquet/.csv)")
    p.add_argument("--name-embeddings", default=None, help="name-only table for the baseline")
    p.add_argument(
        "--predictors", type=comma_list, default=None, help="comma-separated (default: all)"
    )
    p.add_argument("--missing", default="skip", choices=["error", "skip", "mean"])
    p.add_argument("--allow-shared-perturbations", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=None, help="write the rows as JSON here")
    p.set_defaults(func=_cmd_perturbqa)
