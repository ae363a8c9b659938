"""Runtime settings behind ``bench_encode.py``: OpenVINO and ONNX Runtime options, one run.

Every variant encodes the same seeded gene texts (RefSeq summaries by default) with biobft's
sorting, batching and truncation (as :func:`biobft.embed.encoding._encode_exported`) over
biobft's cached exports, in interleaved rounds with ``SentenceTransformer.encode`` fp32 (the
reference) and biobft's own ``encode`` (and torch bf16 autocast). Variants:

- OpenVINO fp32 / bf16 ``INFERENCE_PRECISION_HINT``, ``PERFORMANCE_HINT`` LATENCY (one request,
  all threads) vs THROUGHPUT (biobft's default: ``AsyncInferQueue`` with the plugin's optimal
  number of requests on parallel streams), 1 thread, batches of 8 / 16 / 64 texts, token budgets
  of 1,024 / 2,048 / 4,096 padded tokens per batch (``biobft.embed.encoding._batches``; biobft's
  OpenVINO default is :data:`biobft.embed.openvino_backend.MAX_BATCH_TOKENS`), padding to a
  multiple of 8 / 16 / 32 (length buckets);
- ONNX Runtime (fused graph) with 1 / 2 intra-op threads, spinning on / off, graph optimisation
  ALL vs EXTENDED. (Its x86 CPU provider has no bf16 / fast-math GEMM option: the only
  ``mlas.enable_gemm_fastmath_arm64_bfloat16`` key is for ARM.)

``--fp32-only`` skips the bf16 variants: for a CPU without bf16, or to emulate one by capping
oneDNN (torch, OpenVINO), MKL and ATen at AVX2 (ONNX Runtime's MLAS has no such cap)::

    ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 \
        python benchmarks/bench_encode_settings.py --fp32-only

``--source name`` times the short name-only texts instead of RefSeq summaries.

    flock /tmp/biobft-timing.lock python benchmarks/bench_encode_settings.py --n-texts 200
"""

from __future__ import annotations

import argparse
import json
import os
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-texts", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--source", default="refseq", help="gene text source (e.g. name)")
    parser.add_argument(
        "--fp32-only",
        action="store_true",
        help="skip the bf16 variants (a CPU without bf16, or oneDNN capped by ONEDNN_MAX_CPU_ISA)",
    )
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "encode_settings.json"
    )
    args = parser.parse_args(argv)

    import onnxruntime as ort
    import torch
    from bench_encode import _cpu_model

    from biobft.embed.encoding import (
        _batches,
        _max_len,
        _runner,
        encode,
        resolve_encoder,
    )
    from biobft.embed.openvino_backend import OpenVinoEncoder
    from biobft.text import gene_texts

    corpus = gene_texts(source=args.source)
    rng = np.random.default_rng(args.seed)
    pick = rng.choice(len(corpus), size=min(args.n_texts, len(corpus)), replace=False)
    texts = corpus.iloc[np.sort(pick)].tolist()
    h = resolve_encoder("minilm", device="cpu")
    tok, max_len = h.tokenizer, _max_len(h, 256)
    threads = torch.get_num_threads()
    xml = str(_runner("openvino", h, "fp32").path)  # biobft's cached exports
    onnx_path = str(_runner("onnx", h, "fp32").path)

    def ov(precision, performance, n_threads=threads):
        return OpenVinoEncoder(xml, precision=precision, threads=n_threads, performance=performance)

    def ort_session(n_threads=threads, spin=True, level="ORT_ENABLE_ALL"):
        opts = ort.SessionOptions()
        opts.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
        opts.intra_op_num_threads, opts.inter_op_num_threads = n_threads, 1
        opts.log_severity_level = 3
        opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
        sess = ort.InferenceSession(onnx_path, opts, providers=["CPUExecutionProvider"])
        names = [i.name for i in sess.get_inputs()]
        return lambda enc: sess.run(None, {k: enc[k] for k in names})[0]

    def batches(chunk, batch_size=32, pad_to=None, max_tokens=None):
        """biobft's batches: tokenised once, sorted by token length, padded per batch; with
        ``max_tokens`` each batch also holds at most that many (padded) tokens."""
        encoded = tok(chunk, truncation=True, max_length=max_len)
        lengths = [len(x) for x in encoded["input_ids"]]
        order = np.argsort(-np.asarray(lengths), kind="stable")
        for idx in _batches(order, lengths, batch_size, max_tokens):
            rows = {key: [encoded[key][i] for i in idx] for key in encoded}
            yield idx, tok.pad(rows, padding=True, pad_to_multiple_of=pad_to, return_tensors="np")

    def biobft_loop(runner, batch_size=32, pad_to=None, max_tokens=None):
        """biobft's loop (run_all where the runner has it) with other batch sizes / padding."""

        def run(chunk):
            out = np.empty((len(chunk), 384), np.float32)
            sink = out.__setitem__
            if hasattr(runner, "run_all"):
                runner.run_all(batches(chunk, batch_size, pad_to, max_tokens), sink)
            else:
                for idx, enc in batches(chunk, batch_size, pad_to, max_tokens):
                    sink(idx, runner(enc))
            return out

        return run

    ov_f32 = ov("fp32", "THROUGHPUT")
    variants = {
        "SentenceTransformer fp32": lambda c: h.model.encode(c, batch_size=32),
        "biobft encode openvino fp32": lambda c: encode(
            c, model=h, precision="fp32", backend="openvino"
        ),
        "openvino f32 LATENCY": biobft_loop(ov("fp32", "LATENCY")),
        "openvino f32 THROUGHPUT": biobft_loop(ov_f32),
        "openvino f32 THROUGHPUT batch 8": biobft_loop(ov_f32, batch_size=8),
        "openvino f32 THROUGHPUT batch 16": biobft_loop(ov_f32, batch_size=16),
        "openvino f32 THROUGHPUT batch 16 pad x16": biobft_loop(ov_f32, batch_size=16, pad_to=16),
        "openvino f32 THROUGHPUT batch 64": biobft_loop(ov_f32, batch_size=64),
        **{
            f"openvino f32 THROUGHPUT {n} tokens": biobft_loop(ov_f32, batch_size=128, max_tokens=n)
            for n in (1024, 2048, 4096)
        },
        "openvino f32 THROUGHPUT pad x8": biobft_loop(ov_f32, pad_to=8),
        "openvino f32 THROUGHPUT pad x16": biobft_loop(ov_f32, pad_to=16),
        "openvino f32 THROUGHPUT pad x32": biobft_loop(ov_f32, pad_to=32),
        "openvino f32 LATENCY pad x16": biobft_loop(ov("fp32", "LATENCY"), pad_to=16),
    }
    if not args.fp32_only:
        ov_bf16 = ov("bf16", "THROUGHPUT")
        variants |= {
            "torch bf16 autocast": lambda c: encode(c, model=h, precision="bf16", backend="torch"),
            "biobft encode openvino bf16": lambda c: encode(
                c, model=h, precision="bf16", backend="openvino"
            ),
            "openvino bf16 LATENCY": biobft_loop(ov("bf16", "LATENCY")),
            "openvino bf16 LATENCY 1 thread": biobft_loop(ov("bf16", "LATENCY", n_threads=1)),
            "openvino bf16 THROUGHPUT": biobft_loop(ov_bf16),
            "openvino bf16 THROUGHPUT batch 8": biobft_loop(ov_bf16, batch_size=8),
            "openvino bf16 THROUGHPUT batch 16": biobft_loop(ov_bf16, batch_size=16),
            "openvino bf16 THROUGHPUT batch 16 pad x16": biobft_loop(
                ov_bf16, batch_size=16, pad_to=16
            ),
            "openvino bf16 THROUGHPUT batch 64": biobft_loop(ov_bf16, batch_size=64),
            **{
                f"openvino bf16 THROUGHPUT {n} tokens": biobft_loop(
                    ov_bf16, batch_size=128, max_tokens=n
                )
                for n in (1024, 2048, 4096)
            },
            "openvino bf16 THROUGHPUT pad x16": biobft_loop(ov_bf16, pad_to=16),
        }
    variants |= {
        "onnxruntime fp32 spin": biobft_loop(ort_session()),
        "onnxruntime fp32 no spin": biobft_loop(ort_session(spin=False)),
        "onnxruntime fp32 1 thread": biobft_loop(ort_session(n_threads=1)),
        "onnxruntime fp32 EXTENDED": biobft_loop(ort_session(level="ORT_ENABLE_EXTENDED")),
    }
    names = list(variants)
    load_start = os.getloadavg()[0]
    for name in names:  # warm-up: kernels for the first shapes
        variants[name](texts[:16])
    secs = dict.fromkeys(names, 0.0)
    parts: dict[str, list] = {k: [] for k in names}
    for r, idx in enumerate(np.array_split(np.arange(len(texts)), args.rounds)):
        chunk = [texts[i] for i in idx]
        for name in names[r % len(names) :] + names[: r % len(names)]:
            t0 = time.perf_counter()
            parts[name].append(variants[name](chunk))
            secs[name] += time.perf_counter() - t0
    ref = np.concatenate(parts[names[0]])
    result = {
        "n_texts": len(texts),
        "rounds": args.rounds,
        "threads": threads,
        "cpu_model": _cpu_model(),
        "cpu_capability": str(torch.backends.cpu.get_cpu_capability()),
        "isa_caps": {
            k: os.environ[k]
            for k in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")
            if k in os.environ
        },
        "openvino": version("openvino"),
        "onnxruntime": ort.__version__,
        "load_avg_1min_at_start": load_start,
        "load_avg_1min_at_end": os.getloadavg()[0],
        "variants": {},
    }
    print(
        f"{len(texts)} {args.source} texts, {threads} threads, {result['cpu_model']}, load avg "
        f"{load_start:.1f} -> {result['load_avg_1min_at_end']:.1f}"
    )
    for name in names:
        got = np.concatenate(parts[name])
        cos = (got * ref).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(ref, axis=1)
        row = {
            "texts_per_s": len(texts) / secs[name],
            "speedup_vs_st_fp32": secs[names[0]] / secs[name],
            "min_cosine_to_st_fp32": float(cos.min()),
        }
        result["variants"][name] = row
        print(
            f"  {name:36s} {row['texts_per_s']:6.1f} texts/s {row['speedup_vs_st_fp32']:5.2f}x "
            f"worst cosine {row['min_cosine_to_st_fp32']:.7f}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
