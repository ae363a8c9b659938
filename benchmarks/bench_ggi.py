"""Speed / memory of the GGI logistic regression on the full Gene2vec train split.

Fits logistic regression on the 263k Gene2vec training pairs (``sum`` features, d = 384) once per
variant, each in a fresh subprocess so that peak memory (``resource.getrusage().ru_maxrss``) is per
fit:

- ``baseline``: ``make_pipeline(StandardScaler(), LogisticRegression())``, scikit-learn defaults;
- ``biobft``: :func:`biobft.ggi.make_classifier` (``"logistic"``), as ``biobft.ggi.fit`` runs it;
- ``biobft-tol1e-4`` / ``biobft-tol1e-3``: the same with an explicit stopping tolerance.

The table is ``results/embeddings/refseq_minilm.parquet`` when it exists, else random Gaussian
vectors (d = 384) for every Gene2vec gene. Prints fit time, peak memory, test ROC-AUC and the
ratios, and writes ``benchmarks/results/ggi.json``.

Usage: ``python benchmarks/bench_ggi.py [--table PATH] [--threads 2]``

Accuracy runs (appended to ``benchmarks/results/ggi_runs.md``):
``python benchmarks/bench_ggi.py --sweep refseq:sum:logistic "refseq|go|name:sum+hadamard:mlp"``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TABLE = ROOT / "results" / "embeddings" / "refseq_minilm.parquet"


def _load(table_path: str | None):
    import numpy as np
    import pandas as pd

    from biobft.datasets import gene2vec_pairs
    from biobft.embed.table import make_table, read_table
    from biobft.ggi import clean_pairs, pair_matrix

    train, _ = clean_pairs(gene2vec_pairs("train"))
    test, _ = clean_pairs(gene2vec_pairs("test"))
    if table_path:
        table = read_table(table_path)
    else:
        genes = pd.unique(pd.concat([train.gene_a, train.gene_b, test.gene_a, test.gene_b]))
        vec = np.random.default_rng(0).standard_normal((len(genes), 384), dtype=np.float32)
        table = make_table(vec, genes, model="random-normal", source="random")
    Xtr, ctr = pair_matrix(table, train, "sum")
    Xte, cte = pair_matrix(table, test, "sum")
    return Xtr, train.label.to_numpy()[ctr], Xte, test.label.to_numpy()[cte]


VARIANTS: dict[str, dict | None] = {
    "baseline": None,
    "biobft": {},
    "biobft-tol1e-4": {"tol": 1e-4},
    "biobft-tol1e-3": {"tol": 1e-3},
}


def _one(name: str, table_path: str | None) -> dict:
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from biobft.ggi import make_classifier

    Xtr, ytr, Xte, yte = _load(table_path)
    rss_data = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    pipe = (
        make_pipeline(StandardScaler(), LogisticRegression())
        if VARIANTS[name] is None
        else make_classifier("logistic", seed=0, **VARIANTS[name])
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        t0 = time.perf_counter()
        pipe.fit(Xtr, ytr)
        fit_s = time.perf_counter() - t0
    auc = roc_auc_score(yte, pipe.predict_proba(Xte)[:, 1])
    clf = pipe[-1]
    return {
        "name": name,
        "params": VARIANTS[name],
        "n_train": len(ytr),
        "d": int(Xtr.shape[1]),
        "fit_seconds": fit_s,
        "n_iter": int(clf.n_iter_[0]),
        "converged": not any(issubclass(w.category, ConvergenceWarning) for w in caught),
        "test_roc_auc": float(auc),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_rss_after_data_mb": rss_data / 1024,
    }


EMB_DIR = ROOT / "results" / "embeddings"
RUNS_LOG = ROOT / "benchmarks" / "results" / "ggi_runs.md"


def _g2v_table(source: str):
    """MiniLM table of every Gene2vec gene with a text in ``source`` (a :func:`gene_texts` spec).

    Rows are keyed by the Gene2vec symbol; old symbols resolve to their official gene's text
    through the NCBI alias table. Vectors come from the embedding cache (the texts of
    ``results/embeddings/*_minilm.parquet`` are not re-encoded when ``BIOBFT_CACHE_DIR`` points
    at the same cache); the table is kept in ``cache_dir("ggi")``.
    """
    import re

    import pandas as pd

    from biobft._paths import cache_dir
    from biobft.datasets import gene2vec_pairs
    from biobft.embed import embed_genes
    from biobft.embed.table import read_table, write_table

    slug = re.sub(r"[^A-Za-z0-9_]+", "-", source.replace("+", "_and_").replace("|", "_or_"))
    path = cache_dir("ggi") / f"g2v_{slug}_minilm.parquet"
    if path.is_file():
        return read_table(path)
    genes = pd.unique(
        pd.concat(
            [gene2vec_pairs(s)[c] for s in ("train", "valid", "test") for c in ("gene_a", "gene_b")]
        ).astype(str)
    )
    table = embed_genes(list(genes), source=source, model="minilm", batch_size=128)
    write_table(table, path)
    return table


def _table(spec: str):
    """``refseq`` -> results/embeddings/refseq_minilm.parquet; ``a|b`` row-wise fallback (first
    table holding the gene); ``x,y`` column-wise concatenation (genes in every part);
    ``g2v=SOURCE``: the Gene2vec genes embedded from text source ``SOURCE`` with alias
    resolution (e.g. ``g2v=refseq|go|name``, text-level fallback; see :func:`_g2v_table`)."""
    import numpy as np
    import pandas as pd

    from biobft.embed.table import concat_tables, make_table, read_table, table_metadata

    if spec == "random":
        ref = _table("refseq")
        vec = np.random.default_rng(0).standard_normal(ref.shape, dtype=np.float32)
        return make_table(vec, list(ref.index), model="random-normal", source="random")
    if "," in spec:
        return concat_tables([_table(p) for p in spec.split(",")], source=spec)
    if spec.startswith("g2v="):
        return _g2v_table(spec[len("g2v=") :])
    if "|" in spec:
        parts = [_table(p) for p in spec.split("|")]
        rows, seen = [], set()
        for p in parts:
            new = p.loc[~p.index.isin(list(seen))]
            rows.append(new)
            seen.update(new.index)
        merged = pd.concat(rows)
        return make_table(merged.to_numpy(), list(merged.index), model="minilm", source=spec)
    path = Path(spec) if spec.endswith(".parquet") else EMB_DIR / f"{spec}_minilm.parquet"
    table = read_table(path)
    table.attrs["biobft"] = table_metadata(table) | {"spec": spec}
    return table


def _texts(spec: str, table):
    """Symbol -> embedded text(s) of ``table`` for the leakage audit (``None`` for random).

    For a column-wise concatenation ``x,y`` the texts of all parts are joined: a pair leaks when
    a symbol appears in any text that went into the other gene's vector.
    """
    import pandas as pd

    from biobft.text import gene_texts

    if spec == "random":
        return None
    parts = []
    for part in spec.split(","):
        sub = _table(part) if "," in spec else table
        src = part[len("g2v=") :] if part.startswith("g2v=") else sub.attrs["biobft"]["source"]
        try:
            parts.append(gene_texts(list(table.index), source=src))
        except (ValueError, KeyError) as err:
            print(f"no texts for {part}: {err}")
            return None
    if len(parts) == 1:
        return parts[0]
    return pd.concat(parts, axis=1).fillna("").agg(" ".join, axis=1)


def string_run(cfg: str, *, min_score: float = 700, test_size: float = 0.2, note: str = "") -> None:
    """``TABLE:FEATURES:CLASSIFIER[:PARAMS]`` on STRING pairs; append a row to ggi_string.md.

    Positives: STRING v12 edges with ``combined_score >= min_score``; negatives: as many
    degree-matched non-edges (:func:`biobft.ggi.pairs_from_graph`); gene-disjoint split
    (:func:`biobft.ggi.gene_disjoint_split`), so every test pair has two genes unseen in training.
    """
    from biobft.datasets import string_network
    from biobft.ggi import evaluate_pairs, gene_disjoint_split, pairs_from_graph

    spec, features, classifier, *rest = cfg.split(":", 3)
    params = json.loads(rest[0]) if rest else None
    table = _table(spec)
    t0 = time.perf_counter()
    G = string_network(min_score=min_score)
    pairs = pairs_from_graph(G, negatives="degree_matched", ratio=1.0, seed=0)
    # genes without an embedding cannot be scored: split among the embedded genes only
    keep = pairs.gene_a.isin(table.index) & pairs.gene_b.isin(table.index)
    train, test = gene_disjoint_split(pairs.loc[keep], test_size=test_size, seed=0)
    res = evaluate_pairs(
        table,
        train,
        test,
        features=features,
        classifier=classifier,
        params=params,
        name_table=_name_table(),
        texts=_texts(spec, table),
        seed=0,
    )
    log = RUNS_LOG.with_name("ggi_string.md")
    if not log.exists():
        log.write_text(
            "# GGI on STRING v12 (own graph): edges >= min_score vs degree-matched non-edges, "
            "gene-disjoint split\n\n"
            "| table | features | classifier | params | min_score | pairs (pos+neg) | "
            "covered | train / test pairs | test ROC-AUC | test PR-AUC | random | name-only | "
            "leakage | fit s | note |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
        )
    b = res.baselines
    leak = "" if res.leakage is None else f"{100 * res.leakage:.1f}%"
    row = (
        f"| {spec} | {features} | {classifier} | {json.dumps(params) if params else ''} "
        f"| {min_score:g} | {len(pairs)} | {int(keep.sum())} | {res.n_used['train']} / "
        f"{res.n_used['test']} | {res.roc_auc:.4f} | {res.pr_auc:.4f} "
        f"| {b.get('random', {}).get('roc_auc', float('nan')):.4f} "
        f"| {b.get('name', {}).get('roc_auc', float('nan')):.4f} | {leak} "
        f"| {res.fit_seconds:.0f} | {note} |"
    )
    print(res.summary())
    print(row, f"(total {time.perf_counter() - t0:.0f} s)", flush=True)
    with log.open("a") as fh:
        fh.write(row + "\n")


def _name_table():
    """The name-only table: results/embeddings/name_minilm.parquet, else ``g2v=name``."""
    return _table("name" if (EMB_DIR / "name_minilm.parquet").is_file() else "g2v=name")


def sweep(configs: list[str], *, note: str = "", name_baseline: bool = False) -> None:
    """Run ``TABLE:FEATURES:CLASSIFIER[:PARAMS_JSON]`` configs; append rows to ggi_runs.md."""
    from biobft.ggi import evaluate_gene2vec

    if not RUNS_LOG.exists():
        RUNS_LOG.parent.mkdir(parents=True, exist_ok=True)
        RUNS_LOG.write_text(
            "# GGI runs (Gene2vec; choose on VALID, report TEST)\n\n"
            "| table | features | classifier | params | valid ROC-AUC | test ROC-AUC | test PR-AUC"
            " | test coverage | random | leakage | fit s | note |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|---|\n"
        )
    for i, cfg in enumerate(configs):
        spec, features, classifier, *rest = cfg.split(":", 3)
        params = json.loads(rest[0]) if rest else None
        table = _table(spec)
        texts = _texts(spec, table)
        t0 = time.perf_counter()
        res = evaluate_gene2vec(
            table,
            features=features,
            classifier=classifier,
            params=params,
            use_valid=True,
            random_baseline=(i == 0),
            name_table=_name_table() if (i == 0 and name_baseline) else None,
            texts=texts,
            seed=0,
        )
        rnd = res.baselines.get("random", {}).get("roc_auc")
        leak = "" if res.leakage is None else f"{100 * res.leakage:.1f}%"
        row_note = note
        if "name" in res.baselines:
            nb = res.baselines["name"]
            row_note = f"{note}; name-only baseline on the same pairs {nb['roc_auc']:.4f}"
            row_note += f" (n={nb['n_test']})"
        row = (
            f"| {spec} | {features} | {classifier} | {json.dumps(params) if params else ''} "
            f"| {res.valid['roc_auc']:.4f} | {res.roc_auc:.4f} | {res.pr_auc:.4f} "
            f"| {res.n_used['test']}/{res.n_raw['test']} ({100 * res.coverage:.1f}%) "
            f"| {'' if rnd is None else f'{rnd:.4f}'} | {leak} | {res.fit_seconds:.0f} "
            f"| {row_note} |"
        )
        print(row, f"(total {time.perf_counter() - t0:.0f} s)", flush=True)
        with RUNS_LOG.open("a") as fh:
            fh.write(row + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", default=str(DEFAULT_TABLE) if DEFAULT_TABLE.is_file() else None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument(
        "--sweep",
        nargs="+",
        metavar="TABLE:FEATURES:CLASSIFIER[:PARAMS]",
        help="accuracy runs on Gene2vec instead of the speed benchmark (appends to ggi_runs.md)",
    )
    parser.add_argument(
        "--string",
        nargs="+",
        metavar="TABLE:FEATURES:CLASSIFIER[:PARAMS]",
        help="own-graph runs on STRING pairs (appends to ggi_string.md)",
    )
    parser.add_argument("--min-score", type=float, default=700)
    parser.add_argument("--note", default="")
    parser.add_argument(
        "--name-baseline",
        action="store_true",
        help="with --sweep: also fit the name-only table on the first config's pairs",
    )
    args = parser.parse_args()
    if args.one:
        print(json.dumps(_one(args.one, args.table)))
        return
    if args.sweep:
        sweep(args.sweep, note=args.note, name_baseline=args.name_baseline)
        return
    if args.string:
        for cfg in args.string:
            string_run(cfg, min_score=args.min_score, note=args.note)
        return
    env = os.environ | {
        "OMP_NUM_THREADS": str(args.threads),
        "OPENBLAS_NUM_THREADS": str(args.threads),
        "MKL_NUM_THREADS": str(args.threads),
        "PYTHONPATH": str(ROOT),
    }
    runs = []
    for name in VARIANTS:
        cmd = [sys.executable, __file__, "--one", name] + (
            ["--table", args.table] if args.table else []
        )
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        r = runs[-1]
        print(
            f"{name:9s} fit {r['fit_seconds']:6.1f} s  iters {r['n_iter']:4d}  converged "
            f"{r['converged']!s:5s}  peak RSS {r['peak_rss_mb']:7.0f} MB  "
            f"(data loaded: {r['peak_rss_after_data_mb']:.0f} MB)  "
            f"test ROC-AUC {r['test_roc_auc']:.4f}"
        )
    base, ours = runs[0], runs[1]
    ratio = ours["fit_seconds"] / base["fit_seconds"]
    print(
        f"table: {args.table or 'random d=384'}; {ours['n_train']} train pairs, d={ours['d']}, "
        f"{args.threads} threads; biobft / baseline fit time = {ratio:.2f}, "
        f"peak memory = {ours['peak_rss_mb'] / base['peak_rss_mb']:.2f}"
    )
    out = ROOT / "benchmarks" / "results" / "ggi.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "table": args.table or "random-normal d=384",
        "threads": args.threads,
        "runs": runs,
        "fit_time_ratio": ratio,
    }
    out.write_text(json.dumps(record, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
