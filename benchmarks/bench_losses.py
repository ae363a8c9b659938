"""Forward + backward time and peak memory of the biobft losses vs ``F.cross_entropy``.

Same seeded logits ``[B, T, V]`` for every loss. Time: one process per dtype runs every case in
turn, ``--repeats`` rounds (interleaved, so machine load hits all cases alike), median per case.
Peak memory: each (loss, dtype) case runs once more in a fresh subprocess so that its peak
(``ru_maxrss`` above the RSS after allocating the inputs, or ``torch.cuda.max_memory_allocated``
on GPU) is its own. Baselines: ``cross_entropy`` = ``F.cross_entropy`` on the logits as they are
(labels shifted, logits viewed without a copy; bf16 maths for bf16 logits) and, for bf16,
``cross_entropy_fp32`` = what ``transformers``' ``ForCausalLMLoss`` does (``logits.float()`` then
``F.cross_entropy``). Prints ratios against ``cross_entropy`` and writes
``benchmarks/results/losses.json``.

    python benchmarks/bench_losses.py                       # B*T = 4096, V = 49152, fp32 + bf16
    python benchmarks/bench_losses.py --tokens 1024 --repeats 3 --no-memory

    python benchmarks/bench_losses.py --threads 1            # less barrier noise on a busy CPU

Goal: BFT time <= 1.15x and peak memory <= 1.0x of cross-entropy.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CASES = {
    "cross_entropy": {},
    "cross_entropy_fp32": {},
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


def _setup(dtype: str, tokens: int, vocab: int, batch: int, device: str):
    import torch

    torch.manual_seed(0)
    dt = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype]
    seq = tokens // batch
    logits = torch.empty(batch, seq, vocab, dtype=dt, device=device)
    for i in range(batch):  # fill row by row: no transient fp32 copy raises the baseline peak
        logits[i] = torch.randn(seq, vocab, device=device) * 2
    logits.requires_grad_(True)
    labels = torch.randint(0, vocab, (batch, seq), device=device)
    labels[:, : seq // 8] = -100  # a short prompt
    return logits, labels


def _make_step(case: str, logits, labels):
    import torch
    import torch.nn.functional as F

    sys.path.insert(0, str(REPO))
    from biobft.train.losses import loss_terms, shift_labels

    vocab = logits.shape[-1]
    opts = CASES[case]
    shifted = shift_labels(labels).reshape(-1)  # as transformers' ForCausalLMLoss: no logit copy

    def step():
        if case == "cross_entropy":
            loss = F.cross_entropy(logits.view(-1, vocab), shifted, ignore_index=-100)
        elif case == "cross_entropy_fp32":
            loss = F.cross_entropy(logits.float().view(-1, vocab), shifted, ignore_index=-100)
        else:
            loss = loss_terms(logits, labels, group_size=256, **opts).loss
        loss.backward()
        logits.grad = None
        return loss

    del torch
    return step


def _sync(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def time_cases(cases, dtype, tokens, vocab, batch, repeats, device):
    """Child process: interleaved forward+backward times of ``cases``; prints one JSON line."""
    logits, labels = _setup(dtype, tokens, vocab, batch, device)
    steps = {c: _make_step(c, logits, labels) for c in cases}
    times = {c: [] for c in cases}
    for c in cases:  # warm-up
        steps[c]()
    for _ in range(repeats):
        for c in cases:
            _sync(device)
            t0 = time.perf_counter()
            steps[c]()
            _sync(device)
            times[c].append(time.perf_counter() - t0)
    print(json.dumps({"dtype": dtype, "times": times}))


def peak_case(case, dtype, tokens, vocab, batch, device):
    """Child process: peak memory of one forward+backward of ``case``; prints one JSON line."""
    import torch

    logits, labels = _setup(dtype, tokens, vocab, batch, device)
    step = _make_step(case, logits, labels)
    if device == "cuda":
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
    base_rss = _rss_mb()
    maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    step()
    if device == "cuda":
        peak = (torch.cuda.max_memory_allocated() - base) / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - max(
            base_rss, maxrss_before
        )
    print(json.dumps({"case": case, "dtype": dtype, "peak_mb": peak}))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=4096, help="B*T positions")
    parser.add_argument("--batch", type=int, default=4, help="B (T = tokens / B)")
    parser.add_argument("--vocab", type=int, default=49152)
    parser.add_argument("--dtypes", default="fp32,bf16")
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--repeats", type=int, default=5, help="interleaved timing rounds")
    parser.add_argument("--threads", type=int, default=None, help="torch threads per child")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory runs")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "losses.json"))
    parser.add_argument("--_time", metavar="DTYPE", help=argparse.SUPPRESS)
    parser.add_argument("--_peak", nargs=2, metavar=("CASE", "DTYPE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._time or args._peak:
        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        shape = (args.tokens, args.vocab, args.batch)
        if args._time:
            cases = [c for c in args.cases.split(",") if c != "cross_entropy_fp32"]
            if args._time != "fp32" and "cross_entropy_fp32" in args.cases.split(","):
                cases.insert(1, "cross_entropy_fp32")
            time_cases(cases, args._time, *shape, args.repeats, args.device)
        else:
            peak_case(*args._peak, *shape, args.device)
        return 0

    common = ["--tokens", str(args.tokens), "--batch", str(args.batch), "--vocab",
              str(args.vocab), "--repeats", str(args.repeats), "--device", args.device,
              "--cases", args.cases]  # fmt: skip
    if args.threads:
        common += ["--threads", str(args.threads)]

    def child(*extra):
        cmd = [sys.executable, __file__, *extra, *common]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        return json.loads(out.strip().splitlines()[-1])

    load0 = os.getloadavg()
    results = []
    for dtype in args.dtypes.split(","):
        timed = child("--_time", dtype)["times"]
        for case, ts in timed.items():
            r = {"case": case, "dtype": dtype, "time_s": statistics.median(ts), "times_s": ts}
            if not args.no_memory:
                r["peak_mb"] = child("--_peak", case, dtype)["peak_mb"]
            results.append(r)
            mem = f"{r['peak_mb']:9.1f} MB" if "peak_mb" in r else ""
            print(f"{dtype:5s} {case:22s} {r['time_s'] * 1e3:9.1f} ms (median) {mem}", flush=True)
    load1 = os.getloadavg()
    print("\nratios vs cross_entropy on the same logits (time, peak memory):")
    for r in results:
        ce = next(x for x in results if x["dtype"] == r["dtype"] and x["case"] == "cross_entropy")
        r["time_ratio"] = r["time_s"] / ce["time_s"]
        r["mem_ratio"] = (
            r["peak_mb"] / ce["peak_mb"] if "peak_mb" in r and ce["peak_mb"] > 0 else None
        )
        mem = f"{r['mem_ratio']:.2f}x" if r["mem_ratio"] is not None else "n/a"
        print(f"{r['dtype']:5s} {r['case']:22s} time {r['time_ratio']:.2f}x  memory {mem}")
    import torch

    meta = {
        "tokens": args.tokens, "batch": args.batch, "vocab": args.vocab, "repeats": args.repeats,
        "device": args.device, "torch": torch.__version__, "cpu_count": os.cpu_count(),
        "threads": args.threads or torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
        "loadavg_start_end": [list(load0), list(load1)],
        "note": "time = median over interleaved repeats of forward+backward (one process per "
        "dtype, cases in turn); peak = max RSS (CPU) or max allocated (CUDA) above the inputs, "
        "one fresh process per case; cross_entropy views the logits and shifts the labels (no "
        "logit copy); CPU shared with other jobs",
    }  # fmt: skip
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    print(f"\nload average start {load0}, end {load1}\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
