"""``biobft embed``: embed gene texts into an embedding table file."""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

from ._common import add_runtime_options, check_cache_writable, check_writable, read_gene_list

DEFAULT_OUT = Path("results") / "embeddings"


def add_parser(subparsers) -> None:
    """Add the ``embed`` sub-command."""
    p = subparsers.add_parser(
        "embed",
        help="embed gene texts into an embedding table (.parquet / .csv)",
        description=(
            "Embed gene texts (RefSeq summaries, GO text, names, ...) with a packaged or local "
            "model and write a gene x dimension table. Vectors are cached, so a rerun is fast."
        ),
    )
    p.add_argument(
        "--source",
        default="refseq",
        help="text source: refseq, go, narrative, name; combine with '+' (concatenate) or "
        "'|' (first available), e.g. 'refseq|go|name'; or a gene,text table file (.parquet, "
        ".csv, .tsv) such as the profiles `biobft describe` writes (default: refseq)",
    )
    p.add_argument(
        "--model",
        default="minilm",
        help="minilm (packaged encoder), smollm2-135m (packaged LM) or a model folder",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output .parquet or .csv (default: results/embeddings/<source>_<model>.parquet)",
    )
    p.add_argument("--genes", type=Path, default=None, help="file with one gene symbol per line")
    p.add_argument("--pooling", default=None, help="mean, last_token, cls, max (default: model's)")
    add_runtime_options(p)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-length", type=int, default=256)
    p.add_argument("--layer", type=int, default=-1, help="hidden layer to pool (LMs)")
    p.add_argument("--normalize", action="store_true", help="L2-normalise vectors")
    p.add_argument("--device", default=None)
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    p.set_defaults(func=run)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", Path(text).name if "/" in text else text).strip("-")


def run(args: argparse.Namespace) -> int:
    """Run ``biobft embed``."""
    from ..embed.genes import embed_genes
    from ..embed.pooling import get_pooling
    from ..embed.table import table_metadata, write_table

    out = args.out or DEFAULT_OUT / f"{_slug(args.source)}_{_slug(str(args.model))}.parquet"
    if out.suffix.lower() not in {".parquet", ".csv", ".tsv"}:
        raise ValueError(f"--out must end in .parquet, .csv or .tsv; got {str(out)!r}")
    check_writable(out, what="--out")
    if not args.no_cache:
        check_cache_writable()
    if args.pooling is not None:
        get_pooling(args.pooling)
    genes = read_gene_list(args.genes) if args.genes else None
    t0 = time.perf_counter()
    table = embed_genes(
        genes,
        source=args.source,
        model=args.model,
        pooling=args.pooling,
        precision=args.precision,
        backend=args.backend,
        batch_size=args.batch_size,
        max_length=args.max_length,
        layer=args.layer,
        normalize=args.normalize,
        device=args.device,
        cache=not args.no_cache,
        show_progress_bar=None,
    )
    write_table(table, out)
    meta = table_metadata(table)
    cache = meta.get("cache", {})
    missing = meta.get("missing", [])
    lines = [
        f"wrote {out}",
        f"  genes: {table.shape[0]} of {meta.get('n_requested')} requested "
        f"({100 * meta.get('coverage', 0):.1f}% covered, "
        f"{len(meta.get('via_alias', {}))} via alias)",
        f"  dim: {table.shape[1]}  model: {meta.get('model')}  pooling: {meta.get('pooling')}  "
        f"backend: {meta.get('backend')}  precision: {meta.get('precision')}",
        f"  missing: {len(missing)}" + (f" (e.g. {', '.join(missing[:10])})" if missing else ""),
        f"  cache: {cache.get('hits', 0)} hit(s), {cache.get('encoded', 0)} encoded"
        + (f" ({cache['dir']})" if cache.get("dir") else " (disabled)"),
        f"  time: {time.perf_counter() - t0:.1f} s",
    ]
    print("\n".join(lines))
    return 0
