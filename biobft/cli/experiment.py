"""``biobft describe`` (LLM-written gene profiles) and ``biobft experiment`` (BFT vs DFT vs SFT)."""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from ._common import read_gene_list

logger = logging.getLogger(__name__)


def add_parser(subparsers) -> None:
    """Register ``describe`` and ``experiment``."""
    d = subparsers.add_parser(
        "describe",
        help="let a causal LM write a profile of each gene (cached, resumable)",
        description="Generate 'Tell me about gene X.' profiles with a causal LM (chat template, "
        "greedy by default) and write them as gene,profile rows (.parquet or .csv). Embed them "
        "with biobft.embed.embed_genes(source=profiles).",
    )
    d.add_argument("--model", default="smollm2-135m", help="smollm2-135m or a model folder")
    g = d.add_mutually_exclusive_group(required=True)
    g.add_argument("--genes", type=Path, help="file with one gene symbol per line")
    g.add_argument(
        "--n-genes", type=int, help="the first N genes (alphabetical) with a RefSeq summary"
    )
    d.add_argument("--out", type=Path, required=True, help="output .parquet or .csv")
    d.add_argument("--prompt", default="Tell me about gene {gene}.", help="with {gene}")
    d.add_argument("--system-prompt", default=None)
    d.add_argument("--max-new-tokens", type=int, default=128)
    d.add_argument("--batch-size", type=int, default=8)
    d.add_argument("--sample", action="store_true", help="seeded sampling instead of greedy")
    d.add_argument("--temperature", type=float, default=0.7)
    d.add_argument("--top-p", type=float, default=0.9)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--device", default=None)
    d.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    d.set_defaults(func=run_describe)

    e = subparsers.add_parser(
        "experiment",
        help="BFT vs DFT vs SFT: train, describe genes, embed, score GGI and perturbation",
        description="Fine-tune a causal LM with each loss on RefSeq gene instructions (every "
        "evaluation gene excluded), then score the base and each trained model: held-out NLL "
        "and token accuracy, Gene2vec GGI ROC-AUC and Norman 2019 Pearson delta from hidden "
        "states of RefSeq text and from MiniLM embeddings of the model's own gene profiles. "
        "Writes runs.csv, summary.csv, results.json, results.md and summary.png.",
    )
    e.add_argument("--model", default="smollm2-135m", help="smollm2-135m or a model folder")
    e.add_argument(
        "--loss-types",
        nargs="+",
        default=["sft", "dft", "bft", "bft_gn"],
        help="arms: sft dft bft bft_gn p_alpha (alpha 0.5) chord_phi (default: sft dft bft bft_gn)",
    )
    e.add_argument(
        "--seeds", nargs="+", type=int, default=None,
        help="training seeds (default: 0 1 2; --quick: 0)",
    )  # fmt: skip
    e.add_argument("--quick", action="store_true", help="CI-sized run (a few steps, ~100 genes)")
    e.add_argument("--out-dir", type=Path, default=Path("results") / "experiment")
    e.add_argument("--device", default=None)
    for name, typ in (
        ("n-train-genes", int),
        ("n-eval-genes", int),
        ("n-ggi-train-genes", int),
        ("n-ggi-test-genes", int),
        ("max-steps", int),
        ("learning-rate", float),
        ("batch-size", int),
        ("gradient-accumulation-steps", int),
        ("max-length", int),
        ("lora-r", int),
        ("group-size", int),
        ("max-new-tokens", int),
        ("gen-batch-size", int),
        ("embed-max-length", int),
        ("embed-batch-size", int),
    ):
        e.add_argument(f"--{name}", type=typ, default=None, help="(default: from the preset)")
    e.add_argument("--dtype", default=None, choices=["fp32", "bf16", "fp16"])
    e.add_argument("--encoder", default=None, help="profile encoder (default: minilm)")
    e.set_defaults(func=run_experiment_cmd)


def run_describe(args: argparse.Namespace) -> int:
    """Run ``biobft describe``."""
    from biobft._paths import atomic_path
    from biobft.embed.describe import describe_genes

    out: Path = args.out
    if out.suffix.lower() not in {".parquet", ".csv"}:
        raise ValueError(f"--out must end in .parquet or .csv; got {str(out)!r}")
    from ._common import check_cache_writable, check_writable

    check_writable(out, what="--out")
    if not args.no_cache:
        check_cache_writable()
    if args.genes is not None:
        genes = read_gene_list(args.genes)
    else:
        if args.n_genes < 1:
            raise ValueError(f"--n-genes must be >= 1; got {args.n_genes}")
        from biobft.text import gene_texts

        genes = sorted(gene_texts(None, source="refseq").index.astype(str))[: args.n_genes]
    t0 = time.perf_counter()
    profiles = describe_genes(
        genes,
        model=args.model,
        prompt=args.prompt,
        system_prompt=args.system_prompt,
        max_new_tokens=args.max_new_tokens,
        batch_size=args.batch_size,
        do_sample=args.sample,
        temperature=args.temperature,
        top_p=args.top_p,
        seed=args.seed,
        cache=not args.no_cache,
        device=args.device,
        show_progress_bar=True,
    )
    frame = profiles.to_frame()
    with atomic_path(out) as tmp:
        if out.suffix.lower() == ".parquet":
            frame.to_parquet(tmp)
        else:
            frame.to_csv(tmp)
    meta = profiles.attrs["biobft"]
    print(
        f"wrote {len(frame)} profiles to {out} ({meta['cache']['hits']} from cache, "
        f"{time.perf_counter() - t0:.1f} s)"
    )
    return 0


def run_experiment_cmd(args: argparse.Namespace) -> int:
    """Run ``biobft experiment``."""
    from ..experiment.run import run_experiment
    from ._common import check_cache_writable, check_writable

    check_writable(args.out_dir, what="--out-dir", folder=True)
    check_cache_writable()
    overrides = {
        k: getattr(args, k)
        for k in (
            "n_train_genes", "n_eval_genes", "n_ggi_train_genes", "n_ggi_test_genes",
            "max_steps", "learning_rate", "batch_size", "gradient_accumulation_steps",
            "max_length", "lora_r", "group_size", "max_new_tokens", "gen_batch_size",
            "embed_max_length", "embed_batch_size", "dtype", "encoder",
        )
    }  # fmt: skip
    result = run_experiment(
        model=args.model,
        loss_types=args.loss_types,
        seeds=args.seeds,
        quick=args.quick,
        out_dir=args.out_dir,
        device=args.device,
        **overrides,
    )
    print((result.out_dir / "results.md").read_text())
    print(f"wrote {result.out_dir} in {result.seconds / 60:.1f} min")
    return 0
