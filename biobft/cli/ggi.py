"""``biobft ggi``: the Gene2vec gene-gene interaction benchmark from the command line."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

logger = logging.getLogger(__name__)


def add_parser(subparsers) -> None:
    """Add the ``ggi`` sub-command."""
    from ..ggi.features import FEATURES
    from ..ggi.model import CLASSIFIERS

    p = subparsers.add_parser(
        "ggi",
        help="Gene2vec gene-gene interaction benchmark (GenePT's GGI task)",
        description=(
            "Fit a pair classifier on the Gene2vec train split and score the test split, with a "
            "random-embedding baseline, an optional name-only baseline, coverage and the leakage "
            "audit (share of test pairs whose symbols co-occur in the embedded texts)."
        ),
    )
    p.add_argument("--embeddings", required=True, type=Path, help="embedding table (.parquet/.csv)")
    p.add_argument(
        "--features",
        default="sum",
        help=f"pair features, '+'-joined from {sorted(FEATURES)} (default: sum)",
    )
    p.add_argument(
        "--classifier", default="logistic", choices=sorted(CLASSIFIERS), help="default: logistic"
    )
    p.add_argument("--name-table", type=Path, help="embedding table of name-only texts (baseline)")
    p.add_argument("--no-random", action="store_true", help="skip the random-embedding baseline")
    p.add_argument("--valid", action="store_true", help="also score the valid split")
    p.add_argument(
        "--no-clean",
        action="store_true",
        help="score the raw pairs (keep self pairs, repeats and pairs with both labels)",
    )
    p.add_argument(
        "--texts-source",
        help="text source for the leakage audit (default: the table's metadata 'source')",
    )
    p.add_argument("--no-leakage", action="store_true", help="skip the leakage audit")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, help="write the result (with ROC curves) to this JSON file")
    p.add_argument("--plot", type=Path, help="write ROC curves of model vs baselines to this image")
    p.add_argument("--save-model", type=Path, help="save the fitted model to this .skops file")
    p.set_defaults(func=run)


def _texts(table, source: str | None):
    """Embedded texts of the table's genes for the leakage audit, or ``None`` with a reason."""
    from ..embed.table import table_metadata

    source = source or table_metadata(table).get("source")
    if not source or source == "random":
        logger.info("leakage audit skipped: the table records no text source (pass --texts-source)")
        return None
    try:
        from ..text import gene_texts

        return gene_texts(list(table.index), source=source)
    except (ImportError, ValueError, KeyError, FileNotFoundError) as err:
        logger.warning("leakage audit skipped: no texts for source %r (%s)", source, err)
        return None


def run(args: argparse.Namespace) -> int:
    """Run the benchmark, print the table, write the requested outputs."""
    from ..embed.table import read_table
    from ..ggi.evaluate import evaluate_gene2vec
    from ..ggi.features import parse_features
    from ..ggi.model import CLASSIFIERS

    # validate everything before any work or any output
    parse_features(args.features)
    if args.classifier not in CLASSIFIERS:
        raise ValueError(f"unknown classifier {args.classifier!r}; valid: {sorted(CLASSIFIERS)}")
    from ._common import check_writable

    for flag, out in (
        ("--json", args.json),
        ("--plot", args.plot),
        ("--save-model", args.save_model),
    ):
        if out is not None and not out.parent.exists():
            raise FileNotFoundError(f"output folder {str(out.parent)!r} does not exist; create it")
        if out is not None:
            check_writable(out, what=flag)
    table = read_table(args.embeddings)
    provenance = None
    if args.json is not None:  # fingerprinted before the run, as read
        from ..report.provenance import table_provenance

        provenance = table_provenance(table, args.embeddings)
    name_table = read_table(args.name_table) if args.name_table else None
    texts = None if args.no_leakage else _texts(table, args.texts_source)

    result = evaluate_gene2vec(
        table,
        features=args.features,
        classifier=args.classifier,
        name_table=name_table,
        random_baseline=not args.no_random,
        use_valid=args.valid,
        texts=texts,
        clean=not args.no_clean,
        seed=args.seed,
    )
    print(result.summary())
    if args.json is not None:
        from ..report.provenance import write_result_json

        # the table it was computed on (content fingerprint) and a digest of the record:
        # `biobft assemble` checks both
        record = {**result.to_dict(curves=True), "provenance": provenance}
        write_result_json(record, args.json)
        print(f"wrote {args.json}")
    if args.plot is not None:
        from ..pl._ggi import roc_curves

        fig = roc_curves(result, return_fig=True)
        fig.savefig(args.plot, dpi=120, bbox_inches="tight")
        print(f"wrote {args.plot}")
    if args.save_model is not None:
        from ..ggi.model import save_model

        save_model(result.model, args.save_model)
        print(f"wrote {args.save_model}")
    return 0
