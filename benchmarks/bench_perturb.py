"""Speed / memory benchmark of the perturbation pipeline on a Norman-sized synthetic AnnData.

~91k cells x 5,000 genes (sparse raw counts), 280 conditions (105 singles + 175 doubles): normalise,
pseudobulk (+ top-20 DE by Welch t), 5-fold leave-perturbation-out split, fit + predict + metrics
for every predictor. Baseline measured in the same run: a Python loop over conditions with boolean
masks (``X[mask].mean(0)``), the usual per-condition pseudobulk. Target: <= 60 s, <= 4 GB peak RSS
on 2 cores. Writes ``benchmarks/results/perturb.json``.

Run: ``PYTHONPATH=. .venv/bin/python benchmarks/bench_perturb.py [--quick]``
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np

from biobft.perturb._synthetic import synthetic_perturbation_data
from biobft.perturb.conditions import expression_matrix
from biobft.perturb.evaluate import evaluate_split
from biobft.perturb.predictors import PREDICTORS
from biobft.perturb.pseudobulk import pseudobulk
from biobft.perturb.splits import make_split

OUT = Path(__file__).resolve().parent / "results" / "perturb.json"


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB -> GiB (Linux)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="1/10 of the cells (smoke test)")
    args = ap.parse_args(argv)
    cells = 33 if args.quick else 325
    t = time.perf_counter()
    adata, table, _ = synthetic_perturbation_data(
        n_genes=5000,
        n_perturbed=105,
        n_doubles=175,
        cells_per_condition=cells,
        dim=16,
        mean_count=0.1,
        seed=0,
    )
    t_gen = time.perf_counter() - t
    rss_data = peak_rss_gb()
    density = adata.X.nnz / (adata.n_obs * adata.n_vars)
    print(
        f"data: {adata.n_obs} cells x {adata.n_vars} genes, density {density:.3f}, "
        f"{adata.obs['condition'].nunique()} conditions ({t_gen:.1f} s to simulate)"
    )

    timings = {}
    t0 = time.perf_counter()
    pb = pseudobulk(adata, condition_key="condition", control="control", n_top_de=20)
    timings["pseudobulk_de"] = time.perf_counter() - t0
    t = time.perf_counter()
    split = make_split(pb, "kfold", n_splits=5, seed=0)
    timings["split"] = time.perf_counter() - t
    t = time.perf_counter()
    df = evaluate_split(pb, split, list(PREDICTORS), embedding=table)
    timings["fit_predict_metrics"] = time.perf_counter() - t
    total = time.perf_counter() - t0
    rss = peak_rss_gb()

    # baseline: per-condition Python loop with boolean masks on the same normalised matrix
    X, _ = expression_matrix(adata)
    labels = adata.obs["condition"].astype(str).to_numpy()
    t = time.perf_counter()
    loop = {c: np.asarray(X[labels == c].mean(axis=0)).ravel() for c in np.unique(labels)}
    t_loop = time.perf_counter() - t
    t = time.perf_counter()
    pb_plain = pseudobulk(adata, condition_key="condition", control="control", n_top_de=0)
    t_ours = time.perf_counter() - t
    err = max(np.abs(pb_plain.profiles([c])[0] - v).max() for c, v in loop.items())
    t = time.perf_counter()
    from biobft.perturb.pseudobulk import group_means

    codes = np.unique(labels, return_inverse=True)[1]
    group_means(X, codes, codes.max() + 1)
    t_product = time.perf_counter() - t

    means = df.groupby("predictor")["pearson_delta"].mean().round(3).to_dict()
    summary = {k: (None if np.isnan(v) else v) for k, v in means.items()}  # strict JSON
    result = {
        "n_cells": int(adata.n_obs),
        "n_genes": int(adata.n_vars),
        "n_conditions": int(adata.obs["condition"].nunique()),
        "density": round(density, 4),
        "split": "kfold(5)",
        "n_test_rows": len(df),
        "predictors": list(PREDICTORS),
        "seconds": {k: round(v, 2) for k, v in timings.items()} | {"total": round(total, 2)},
        "peak_rss_gb": round(rss, 2),
        "peak_rss_gb_after_simulation": round(rss_data, 2),
        "baseline": {
            "name": "python loop over conditions, X[mask].mean(0)",
            "loop_seconds": round(t_loop, 3),
            "sparse_product_seconds": round(t_product, 3),
            "speedup": round(t_loop / max(t_product, 1e-9), 1),
            "pseudobulk_incl_normalisation_seconds": round(t_ours, 2),
            "max_abs_diff": float(err),
        },
        "pearson_delta_mean": summary,
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
        "quick": bool(args.quick),
    }
    print(json.dumps(result, indent=1))
    print(
        f"TOTAL {total:.1f} s (target <= 60 s); peak RSS {rss:.2f} GB (target <= 4 GB); "
        f"pseudobulk: sparse product {t_product:.2f} s vs loop {t_loop:.2f} s "
        f"({t_loop / max(t_product, 1e-9):.1f}x)"
    )
    if not args.quick:
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
