"""One training step of SmolLM2-135M: BFT vs SFT loss, and bf16 autocast vs fp32, on CPU.

Four configurations train side by side on the same fixed batch (response-only labels, chat
template) from the same initial weights, each with its own model copy and AdamW optimiser:

- ``sft_fp32``: the Hugging Face model loss (``model(..., labels=...)``, i.e. ``ForCausalLMLoss``:
  fp32 upcast of the logits + ``F.cross_entropy``) -- the baseline a plain ``Trainer`` uses;
- ``bft_fp32``: ``biobft.train.losses.bft_loss`` (released variant) on ``outputs.logits``;
- ``sft_bf16`` / ``bft_bf16``: the same under ``torch.autocast("cpu", dtype=torch.bfloat16)``
  (fp32 master weights and optimiser, as ``TrainingArguments(bf16=True)`` does).

Steps are interleaved (step i of every configuration before step i + 1 of any), so machine load
hits all of them alike; times are medians over steps 2..N (step 1 is warm-up). The loss curves of
bf16 and fp32 (same loss) are compared step by step. Prints ratios and writes
``benchmarks/results/train_step.json``.

    BIOBFT_CACHE_DIR=data/cache python benchmarks/bench_train_step.py             # 10 steps
    python benchmarks/bench_train_step.py --steps 4 --batch 2 --seq 64            # quicker

Goals (issue 3): BFT step <= 1.05x SFT step; bf16 made the CPU default when faster and its loss
curve matches fp32.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CONFIGS = ("sft_fp32", "bft_fp32", "sft_bf16", "bft_bf16")
# gene-like instruction records (fixed text: the benchmark needs no data download)
RECORDS = [
    {
        "prompt": "Tell me about gene TP53.",
        "response": "TP53 encodes tumor protein p53, a transcription factor that responds to "
        "cellular stresses by regulating target genes that induce cell cycle arrest, apoptosis, "
        "senescence, DNA repair, or changes in metabolism. Mutations in this gene are associated "
        "with a variety of human cancers, including hereditary cancers such as Li-Fraumeni "
        "syndrome. Alternative splicing and the use of alternate promoters result in multiple "
        "transcript variants and isoforms.",
    },
    {
        "prompt": "Tell me about gene BRCA1.",
        "response": "BRCA1 encodes a 190 kD nuclear phosphoprotein that plays a role in "
        "maintaining genomic stability, and it also acts as a tumor suppressor. The encoded "
        "protein combines with other tumor suppressors, DNA damage sensors, and signal "
        "transducers to form a large multi-subunit protein complex known as the BRCA1-associated "
        "genome surveillance complex (BASC). This gene product associates with RNA polymerase II "
        "and, through the C-terminal domain, also interacts with histone deacetylase complexes.",
    },
    {
        "prompt": "Tell me about gene GAPDH.",
        "response": "GAPDH encodes a member of the glyceraldehyde-3-phosphate dehydrogenase "
        "protein family. The encoded protein has been identified as a moonlighting protein based "
        "on its ability to perform mechanistically distinct functions. The product of this gene "
        "catalyzes an important energy-yielding step in carbohydrate metabolism, the reversible "
        "oxidative phosphorylation of glyceraldehyde-3-phosphate.",
    },
    {
        "prompt": "Tell me about gene CD4.",
        "response": "CD4 encodes the CD4 membrane glycoprotein of T lymphocytes. The CD4 antigen "
        "acts as a coreceptor with the T-cell receptor on the T lymphocyte to recognize antigens "
        "displayed by an antigen presenting cell in the context of class II MHC molecules. The "
        "CD4 antigen is also a primary receptor for entry of the human immunodeficiency virus.",
    },
]


def make_batch(tokenizer, batch: int, seq: int):
    """A fixed padded batch of ``batch`` records truncated to ``seq`` tokens."""
    from biobft.train.data import DataCollatorForCompletion
    from biobft.train.tokenization import tokenize_example

    feats = []
    for i in range(batch):
        f, _ = tokenize_example(RECORDS[i % len(RECORDS)], tokenizer, max_length=seq)
        feats.append(f)
    return DataCollatorForCompletion(tokenizer)(feats)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--seq", type=int, default=128, help="max tokens per sample")
    parser.add_argument("--lr", type=float, default=1e-5)
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--group-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(
        "--match-rtol", type=float, default=0.02, help="max relative bf16-fp32 loss difference"
    )
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "train_step.json"))
    args = parser.parse_args(argv)
    load0 = os.getloadavg()

    import torch

    from biobft.models import load_causal_lm
    from biobft.train.losses import bft_loss

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    base, tokenizer = load_causal_lm(args.model, dtype="fp32", device="cpu")
    base.config.use_cache = False
    batch = make_batch(tokenizer, args.batch, args.seq)
    n_resp = int((batch["labels"][:, 1:] != -100).sum())
    print(f"batch {tuple(batch['input_ids'].shape)}, {n_resp} response target tokens")
    configs = args.configs.split(",")
    runs = {}
    for name in configs:
        model = copy.deepcopy(base).train()
        opt = torch.optim.AdamW(model.parameters(), lr=args.lr, foreach=False)
        runs[name] = {"model": model, "opt": opt, "times": [], "losses": []}
    del base

    def step(name):
        r = runs[name]
        loss_name, prec = name.split("_")
        ctx = (
            torch.autocast("cpu", dtype=torch.bfloat16)
            if prec == "bf16"
            else torch.autocast("cpu", enabled=False)
        )
        t0 = time.perf_counter()
        with ctx:
            if loss_name == "sft":
                loss = r["model"](**batch).loss  # HF ForCausalLMLoss (fp32 upcast + CE)
            else:
                inputs = {k: v for k, v in batch.items() if k != "labels"}
                logits = r["model"](**inputs).logits
                loss = bft_loss(logits, batch["labels"], group_size=args.group_size)
        loss.backward()
        r["opt"].step()
        r["opt"].zero_grad(set_to_none=True)
        r["times"].append(time.perf_counter() - t0)
        r["losses"].append(float(loss.detach()))

    for i in range(args.steps):
        for name in configs:
            step(name)
        print(f"step {i + 1}: " + "  ".join(
            f"{n} {runs[n]['times'][-1]:.2f}s loss {runs[n]['losses'][-1]:.4f}" for n in configs
        ), flush=True)  # fmt: skip

    med = {n: statistics.median(runs[n]["times"][1:] or runs[n]["times"]) for n in configs}
    ratios = {}
    for a, b in [("bft_fp32", "sft_fp32"), ("bft_bf16", "sft_bf16"),
                 ("sft_bf16", "sft_fp32"), ("bft_bf16", "bft_fp32")]:  # fmt: skip
        if a in med and b in med:
            ratios[f"{a}/{b}"] = med[a] / med[b]
    curves = {}
    for loss_name in ("sft", "bft"):
        a, b = f"{loss_name}_bf16", f"{loss_name}_fp32"
        if a in runs and b in runs:
            la, lb = runs[a]["losses"], runs[b]["losses"]
            rel = [abs(x - y) / abs(y) for x, y in zip(la, lb)]
            curves[loss_name] = {
                "max_rel_diff": max(rel),
                "final_rel_diff": rel[-1],
                "matches": max(rel) <= args.match_rtol,
                "fp32_drop": lb[0] - lb[-1],
                "bf16_drop": la[0] - la[-1],
            }
    print("\nmedian step time (steps 2..N):")
    for n in configs:
        print(f"  {n:9s} {med[n]:.3f} s")
    print("ratios:")
    for k, v in ratios.items():
        print(f"  {k:20s} {v:.3f}x")
    for k, v in curves.items():
        print(f"  {k} bf16 vs fp32 loss curve: max rel diff {v['max_rel_diff']:.4f} "
              f"(matches within {args.match_rtol}: {v['matches']})")  # fmt: skip
    meta = {
        "model": args.model, "batch": args.batch, "seq_max": args.seq,
        "input_shape": list(batch["input_ids"].shape), "response_tokens": n_resp,
        "steps": args.steps, "lr": args.lr, "optimizer": "AdamW", "torch": torch.__version__,
        "threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "loadavg_start_end": None,
        "note": "interleaved steps, same batch and initial weights; time = median over steps "
        "2..N of forward+backward+AdamW step; sft = HF model loss (fp32-upcast cross-entropy)",
    }  # fmt: skip
    meta["loadavg_start_end"] = [list(load0), list(os.getloadavg())]
    results = {n: {"median_s": med[n], "times_s": runs[n]["times"], "losses": runs[n]["losses"]}
               for n in configs}  # fmt: skip
    out = {"meta": meta, "results": results, "ratios": ratios, "loss_curves": curves}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"load average start {load0}, end {os.getloadavg()}\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
