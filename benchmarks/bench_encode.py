"""Throughput of ``biobft.embed.encode`` vs ``SentenceTransformer.encode`` (fp32) on gene texts.

All run in the same process on the same texts (a seeded sample of the RefSeq corpus), in
interleaved rounds. Each ``--backends`` entry is ``BACKEND[:PRECISION]``: ``torch`` (autocast at
the precision), ``onnx`` (ONNX Runtime, fp32 only, :mod:`biobft.embed.backends`), ``openvino``
(fp32 or bf16, :mod:`biobft.embed.openvino_backend`) or ``auto`` (what ``encode`` picks); without
``:PRECISION`` it runs at ``--precision`` (``auto``: bf16 where the CPU has AMX / AVX-512 BF16).
For each the script prints the throughput, the speed-up over ``SentenceTransformer.encode`` fp32
measured in the same run and the worst cosine similarity to its vectors, with the CPU model and
flags, and writes them to ``benchmarks/results/encode.json``. With ``--cached-corpus`` it also
times a cached ``embed_genes`` rerun of the whole corpus.

    flock /tmp/biobft-timing.lock python benchmarks/bench_encode.py --n-texts 400 \
        --backends torch:fp32 torch:bf16 onnx openvino:fp32 openvino:bf16
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:  # pragma: no cover - not Linux
        pass
    return platform.processor()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-texts", type=int, default=1000)
    parser.add_argument("--source", default="refseq")
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--precision", default="auto", help="of entries without :PRECISION")
    parser.add_argument(
        "--backends",
        nargs="+",
        default=["torch", "onnx", "openvino"],
        help="BACKEND[:PRECISION] entries; BACKEND in auto, torch, onnx, openvino",
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=4, help="interleaved timing rounds")
    parser.add_argument("--cached-corpus", action="store_true", help="also time a cached rerun")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "encode.json"
    )
    args = parser.parse_args(argv)

    import torch

    from biobft.embed.backends import onnx_available
    from biobft.embed.encoding import encode, resolve_backend, resolve_encoder, resolve_precision
    from biobft.embed.openvino_backend import openvino_available
    from biobft.text import gene_texts

    if args.threads:
        torch.set_num_threads(args.threads)
    corpus = gene_texts(source=args.source)
    rng = np.random.default_rng(args.seed)
    pick = rng.choice(len(corpus), size=min(args.n_texts, len(corpus)), replace=False)
    texts = corpus.iloc[np.sort(pick)].tolist()
    handle = resolve_encoder(args.model)
    st = handle.model
    precision = resolve_precision(args.precision, handle.device.type)

    installed = {"onnx": onnx_available(), "openvino": openvino_available()}
    specs: dict[str, tuple[str, str]] = {}  # label -> (backend, precision)
    for entry in args.backends:
        backend, _, prec = entry.partition(":")
        prec = resolve_precision(prec or args.precision, handle.device.type)
        if backend == "onnx":
            prec = "fp32"
        if not installed.get(backend, True):
            print(
                f"{backend} skipped: the extra is not installed (pip install 'biobft[{backend}]')"
            )
            continue
        if backend == "auto":
            backend = resolve_backend("auto", handle, precision=prec)
        specs[f"{backend}:{prec}"] = (backend, prec)
    backends = list(specs)

    def run(which, chunk):
        if which == "st":
            return st.encode(chunk, batch_size=args.batch_size)
        backend, prec = specs[which]
        return encode(
            chunk, model=handle, precision=prec, batch_size=args.batch_size, backend=backend
        )

    load_start = os.getloadavg()[0]
    # warm-up (allocator, oneDNN kernels, the one-time ONNX export / OpenVINO conversion)
    for which in ("st", *backends):
        run(which, texts[:16])

    # interleaved rounds (rotating which runs first): load changes on a shared CPU hit all paths
    rounds = np.array_split(np.arange(len(texts)), max(1, min(args.rounds, len(texts))))
    names = ["st", *backends]
    parts: dict[str, list] = {k: [] for k in names}
    secs = dict.fromkeys(names, 0.0)
    for r, idx in enumerate(rounds):
        chunk = [texts[i] for i in idx]
        for which in names[r % len(names) :] + names[: r % len(names)]:
            t0 = time.perf_counter()
            parts[which].append(run(which, chunk))
            secs[which] += time.perf_counter() - t0
    ref = np.concatenate(parts["st"])

    def cos(got):
        return (got * ref).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(ref, axis=1)

    flags = ""
    try:
        line = next(
            x for x in Path("/proc/cpuinfo").read_text().splitlines() if x.startswith("flags")
        )
        keep = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8", "fma")
        flags = " ".join(f for f in line.split(":", 1)[1].split() if f in keep)
    except (OSError, StopIteration):  # pragma: no cover - not Linux
        pass
    result = {
        "n_texts": len(texts),
        "source": args.source,
        "model": args.model,
        "precision": precision,
        "batch_size": args.batch_size,
        "rounds": len(rounds),
        "torch_threads": torch.get_num_threads(),
        "cpu_model": _cpu_model(),
        "cpu_flags": flags,
        "cpu_capability": str(torch.backends.cpu.get_cpu_capability()),
        "device": str(handle.device),
        "load_avg_1min": os.getloadavg()[0],
        "load_avg_1min_at_start": load_start,
        "sentence_transformers_fp32_texts_per_s": len(texts) / secs["st"],
        "backends": {},
        "platform": platform.platform(),
        "torch": torch.__version__,
    }
    for b in backends:
        c = cos(np.concatenate(parts[b]))
        result["backends"][b] = {
            "backend": specs[b][0],
            "precision": specs[b][1],
            "texts_per_s": len(texts) / secs[b],
            "speedup": secs["st"] / secs[b],
            "min_cosine_to_fp32": float(c.min()),
            "mean_cosine_to_fp32": float(c.mean()),
        }
    if args.cached_corpus:
        from biobft.embed import embed_genes, table_metadata

        t0 = time.perf_counter()
        table = embed_genes(source=args.source, model=args.model, precision=precision)
        meta = table_metadata(table)
        result["cached_corpus"] = {
            "n_genes": int(table.shape[0]),
            "seconds": time.perf_counter() - t0,
            "cache_hits": meta["cache"]["hits"],
            "encoded": meta["cache"]["encoded"],
        }
    print(
        f"{len(texts)} {args.source} texts, {args.model}, {torch.get_num_threads()} threads, "
        f"{result['cpu_model']} [{flags}] (load avg {load_start:.1f} at start, "
        f"{result['load_avg_1min']:.1f} at end, on {os.cpu_count()} CPUs)\n"
        f"  SentenceTransformer.encode fp32: "
        f"{result['sentence_transformers_fp32_texts_per_s']:.1f} texts/s"
    )
    for b, r in result["backends"].items():
        print(
            f"  biobft {b:14s}: {r['texts_per_s']:.1f} texts/s  speed-up "
            f"{r['speedup']:.2f}x  worst cosine to fp32 {r['min_cosine_to_fp32']:.7f}"
        )
    if "cached_corpus" in result:
        c = result["cached_corpus"]
        print(
            f"  cached embed_genes of the whole corpus: {c['n_genes']} genes in "
            f"{c['seconds']:.1f} s ({c['cache_hits']} hits, {c['encoded']} encoded)"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
