"""Throughput of ``biobft.embed.encode`` vs ``SentenceTransformer.encode`` (fp32) on gene texts.

Both run in the same process on the same texts (a seeded sample of the RefSeq corpus); the
script prints both throughputs, the speed-up ratio and the worst cosine similarity of biobft's
vectors to the fp32 baseline, and writes them to ``benchmarks/results/encode.json``.
With ``--cached-corpus`` it also times a cached ``embed_genes`` rerun of the whole corpus.

    python benchmarks/bench_encode.py --n-texts 300
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-texts", type=int, default=1000)
    parser.add_argument("--source", default="refseq")
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--precision", default="auto")
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

    from biobft.embed.encoding import encode, resolve_encoder, resolve_precision
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

    # warm-up (allocator, oneDNN kernels) on both paths
    st.encode(texts[:16], batch_size=args.batch_size)
    encode(texts[:16], model=handle, precision=precision, batch_size=args.batch_size)

    # interleaved rounds (alternating which runs first): load changes on a shared CPU hit both
    rounds = np.array_split(np.arange(len(texts)), max(1, min(args.rounds, len(texts))))
    ref_parts, got_parts, t_st, t_bb = [], [], 0.0, 0.0
    for r, idx in enumerate(rounds):
        chunk = [texts[i] for i in idx]
        for which in ("st", "bb") if r % 2 == 0 else ("bb", "st"):
            t0 = time.perf_counter()
            if which == "st":
                ref_parts.append(st.encode(chunk, batch_size=args.batch_size))
                t_st += time.perf_counter() - t0
            else:
                got_parts.append(
                    encode(chunk, model=handle, precision=precision, batch_size=args.batch_size)
                )
                t_bb += time.perf_counter() - t0
    ref, got = np.concatenate(ref_parts), np.concatenate(got_parts)

    cos = (got * ref).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(ref, axis=1)
    result = {
        "n_texts": len(texts),
        "source": args.source,
        "model": args.model,
        "precision": precision,
        "batch_size": args.batch_size,
        "rounds": len(rounds),
        "torch_threads": torch.get_num_threads(),
        "cpu_capability": str(torch.backends.cpu.get_cpu_capability()),
        "device": str(handle.device),
        "load_avg_1min": os.getloadavg()[0],
        "sentence_transformers_fp32_texts_per_s": len(texts) / t_st,
        "biobft_texts_per_s": len(texts) / t_bb,
        "speedup": t_st / t_bb,
        "min_cosine_to_fp32": float(cos.min()),
        "mean_cosine_to_fp32": float(cos.mean()),
        "platform": platform.platform(),
        "torch": torch.__version__,
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
        f"{len(texts)} {args.source} texts, {args.model}, {torch.get_num_threads()} threads "
        f"(load avg {result['load_avg_1min']:.1f}: the CPU is shared, numbers are noisy)\n"
        f"  SentenceTransformer.encode fp32: "
        f"{result['sentence_transformers_fp32_texts_per_s']:.1f} texts/s\n"
        f"  biobft.embed.encode {precision}:     {result['biobft_texts_per_s']:.1f} texts/s\n"
        f"  speed-up: {result['speedup']:.2f}x   worst cosine to fp32: "
        f"{result['min_cosine_to_fp32']:.5f}"
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
