"""Forward + backward time and peak memory of the biobft losses vs ``F.cross_entropy``.

Same seeded logits ``[B, T, V]`` for every loss; each (loss, dtype) case runs in a fresh
subprocess so that its peak memory (``ru_maxrss`` above the RSS after allocating the inputs, or
``torch.cuda.max_memory_allocated`` on GPU) is its own. Prints ratios against cross-entropy and
writes ``benchmarks/results/losses.json``.

    python benchmarks/bench_losses.py                       # B*T = 4096, V = 49152, fp32 + bf16
    python benchmarks/bench_losses.py --tokens 1024 --repeats 2

Goal: BFT time <= 1.15x and peak memory <= 1.0x of cross-entropy.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CASES = {
    "cross_entropy": {},
    "sft": {"loss_type": "sft"},
    "dft": {"loss_type": "dft"},
    "bft_released": {"loss_type": "bft", "variant": "released"},
    "bft_group_normalized": {"loss_type": "bft", "variant": "group_normalized"},
    "p_alpha": {"loss_type": "p_alpha", "alpha": 0.5},
    "chord_phi": {"loss_type": "chord_phi"},
}


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def run_case(case: str, dtype: str, tokens: int, vocab: int, batch: int, repeats: int, device: str):
    """Child process: time and peak memory of one case; prints one JSON line."""
    import torch
    import torch.nn.functional as F

    sys.path.insert(0, str(REPO))
    from biobft.train.losses import loss_terms

    torch.manual_seed(0)
    dt = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype]
    seq = tokens // batch
    logits = torch.empty(batch, seq, vocab, dtype=dt, device=device)
    for i in range(batch):  # fill row by row: no transient fp32 copy raises the baseline peak
        logits[i] = torch.randn(seq, vocab, device=device) * 2
    logits.requires_grad_(True)
    labels = torch.randint(0, vocab, (batch, seq), device=device)
    labels[:, : seq // 8] = -100  # a short prompt
    opts = CASES[case]

    def step():
        if case == "cross_entropy":
            loss = F.cross_entropy(
                logits[:, :-1].reshape(-1, vocab), labels[:, 1:].reshape(-1), ignore_index=-100
            )
        else:
            loss = loss_terms(logits, labels, group_size=256, **opts).loss
        loss.backward()
        logits.grad = None
        return loss

    if device == "cuda":
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
    base_rss = _rss_mb()
    maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    step()  # warm-up (also sets the peak)
    times = []
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        step()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    if device == "cuda":
        peak = (torch.cuda.max_memory_allocated() - base) / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - max(
            base_rss, maxrss_before
        )
    print(json.dumps({"case": case, "dtype": dtype, "time_s": min(times), "peak_mb": peak}))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=4096, help="B*T positions")
    parser.add_argument("--batch", type=int, default=4, help="B (T = tokens / B)")
    parser.add_argument("--vocab", type=int, default=49152)
    parser.add_argument("--dtypes", default="fp32,bf16")
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads per case")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "losses.json"))
    parser.add_argument("--_child", nargs=2, metavar=("CASE", "DTYPE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._child:
        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        run_case(*args._child, args.tokens, args.vocab, args.batch, args.repeats, args.device)
        return 0

    results = []
    for dtype in args.dtypes.split(","):
        for case in args.cases.split(","):
            cmd = [sys.executable, __file__, "--_child", case, dtype, "--tokens", str(args.tokens),
                   "--batch", str(args.batch), "--vocab", str(args.vocab), "--repeats",
                   str(args.repeats), "--device", args.device]  # fmt: skip
            if args.threads:
                cmd += ["--threads", str(args.threads)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            results.append(json.loads(out.strip().splitlines()[-1]))
            r = results[-1]
            print(f"{dtype:5s} {case:22s} {r['time_s'] * 1e3:9.1f} ms {r['peak_mb']:9.1f} MB")
    print("\nratios vs cross_entropy (time, peak memory):")
    for r in results:
        ce = next(x for x in results if x["dtype"] == r["dtype"] and x["case"] == "cross_entropy")
        r["time_ratio"] = r["time_s"] / ce["time_s"]
        r["mem_ratio"] = r["peak_mb"] / ce["peak_mb"] if ce["peak_mb"] > 0 else None
        mem = f"{r['mem_ratio']:.2f}x" if r["mem_ratio"] is not None else "n/a"
        print(f"{r['dtype']:5s} {r['case']:22s} time {r['time_ratio']:.2f}x  memory {mem}")
    import torch

    meta = {
        "tokens": args.tokens, "batch": args.batch, "vocab": args.vocab, "repeats": args.repeats,
        "device": args.device, "torch": torch.__version__, "cpu_count": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "note": "time = min over repeats of forward+backward; peak = max RSS (CPU) or max "
        "allocated (CUDA) above the inputs; CPU shared with other jobs",
    }  # fmt: skip
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
