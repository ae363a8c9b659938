"""``biobft train`` (HfArgumentParser over BFTConfig) and ``biobft train-data`` sub-commands."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

logger = logging.getLogger(__name__)

_TRAIN_EPILOG = """\
examples:
  biobft train --loss-type bft --model smollm2-135m --data train.jsonl --output-dir runs/bft \\
      --max-steps 20 --per-device-train-batch-size 4 --logging-steps 5
  accelerate launch --num_processes 2 -m biobft.cli train --loss-type bft --data train.jsonl ...
"""


def add_parser(subparsers) -> None:
    """Register ``train`` and ``train-data``."""
    # every token after "train" goes to HfArgumentParser (prefix_chars that never occur make
    # argparse treat "--loss-type" etc. as plain values); "biobft train --help" shows its help
    p = subparsers.add_parser(
        "train",
        help="fine-tune a causal LM with SFT / DFT / BFT (see: biobft train --help)",
        add_help=False,
        prefix_chars="\x00",
    )
    p.add_argument("train_args", nargs="*")
    p.set_defaults(func=_run_train)

    d = subparsers.add_parser(
        "train-data",
        help="write gene instruction JSONL ('Tell me about gene X.' -> RefSeq summary)",
        description="Build instruction data from the gene text corpus with a gene-disjoint "
        "train/eval split; writes OUTPUT_DIR/train.jsonl and OUTPUT_DIR/eval.jsonl.",
    )
    d.add_argument("--output-dir", required=True, help="folder for train.jsonl / eval.jsonl")
    d.add_argument("--source", default="refseq", help="gene text source (biobft.text.gene_texts)")
    d.add_argument("--genes", help="file with gene symbols to use (whitespace separated)")
    d.add_argument(
        "--exclude-genes",
        action="append",
        default=[],
        help="file of symbols to keep out of both splits, or 'gene2vec-test' (repeatable)",
    )
    d.add_argument("--eval-fraction", type=float, default=0.1, help="fraction of genes held out")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--max-genes", type=int, help="use a random subset of this many genes")
    d.add_argument("--prompt", default=None, help="prompt template with {symbol}")
    d.set_defaults(func=_run_train_data)


def _hf_parser():
    from transformers import HfArgumentParser

    from ..train.config import BFTConfig

    return HfArgumentParser(
        BFTConfig,
        prog="biobft train",
        description="Fine-tune a causal LM with SFT / DFT / BFT losses (all TrainingArguments "
        "options are accepted, with dashes or underscores).",
        epilog=_TRAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def parse_train_args(argv: list[str]):
    """``BFTConfig`` from command-line tokens (raises ``ValueError`` on leftovers)."""
    (config,) = _hf_parser().parse_args_into_dataclasses(args=list(argv))
    return config


def _run_train(args: argparse.Namespace) -> int:
    from ..train.trainer import train
    from ._common import check_writable

    config = parse_train_args(args.train_args)
    if config.output_dir:
        check_writable(config.output_dir, what="--output-dir", folder=True)
    trainer = train(config)
    if trainer.is_world_process_zero():
        last = {k: v for h in trainer.state.log_history for k, v in h.items()}
        keep = ("train_loss", "eval_loss", "mean_sample_weight", "mean_min_group_conf")
        summary = {k: last[k] for k in keep if k in last}
        summary["global_step"] = trainer.state.global_step
        summary["output_dir"] = str(config.output_dir)
        print(json.dumps(summary))
    return 0


def _read_symbols(spec: str) -> set[str]:
    if spec == "gene2vec-test":
        from biobft.datasets import gene2vec_pairs

        pairs = gene2vec_pairs("test")
        return set(pairs["gene_a"]) | set(pairs["gene_b"])
    path = Path(spec)
    if not path.is_file():
        raise FileNotFoundError(
            f"gene list not found: {spec} (a file of symbols or 'gene2vec-test')"
        )
    return set(path.read_text(encoding="utf-8").split())


def _run_train_data(args: argparse.Namespace) -> int:
    from ..train.data import DEFAULT_GENE_PROMPT, build_gene_instruction_data, write_jsonl
    from ._common import check_cache_writable, check_writable

    check_writable(args.output_dir, what="--output-dir", folder=True)
    check_cache_writable()
    exclude: set[str] = set()
    for spec in args.exclude_genes:
        exclude |= _read_symbols(spec)
    genes = sorted(_read_symbols(args.genes)) if args.genes else None
    train, evals = build_gene_instruction_data(
        genes,
        source=args.source,
        prompt_template=args.prompt or DEFAULT_GENE_PROMPT,
        eval_fraction=args.eval_fraction,
        seed=args.seed,
        exclude_genes=exclude,
        max_genes=args.max_genes,
    )
    out = Path(args.output_dir)
    write_jsonl(train, out / "train.jsonl")
    if evals:
        write_jsonl(evals, out / "eval.jsonl")
    print(
        json.dumps(
            {
                "train": str(out / "train.jsonl"),
                "eval": str(out / "eval.jsonl") if evals else None,
                "n_train": len(train),
                "n_eval": len(evals),
                "n_excluded_genes": len(exclude),
            }
        )
    )
    return 0
