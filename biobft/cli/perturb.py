"""``biobft perturb evaluate | split | predict``: thin layer over :mod:`biobft.tl` / splits."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import comma_list


def _load_adata(spec: str):
    """An ``.h5ad`` path, or a loader ``perturbench_devel[:norman19]`` / ``kang2018``."""
    import anndata as ad

    from .. import datasets

    if spec.endswith(".h5ad"):
        if not Path(spec).is_file():
            raise FileNotFoundError(f"{spec!r} does not exist; pass an .h5ad path or a loader name")
        return ad.read_h5ad(spec)
    name, _, arg = spec.partition(":")
    loaders = {"perturbench_devel", "kang2018", "norman2019_gears_subset"}
    if name not in loaders:
        raise ValueError(f"--data must be an .h5ad path or one of {sorted(loaders)}; got {spec!r}")
    loader = getattr(datasets, name)
    return loader(arg) if arg else loader()


def _check_outputs(args: argparse.Namespace) -> None:
    """Every output path (and the cache, for a loader) is writable before any work."""
    from ._common import check_cache_writable, check_writable

    if getattr(args, "out", None):
        check_writable(args.out, what="--out")
    if not str(args.data).endswith(".h5ad"):
        check_cache_writable()


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, help="h5ad path or perturbench_devel:norman19 ...")
    p.add_argument("--condition-key", default="condition")
    p.add_argument("--control", default=None, help="control label (default: detect)")
    p.add_argument("--cell-type-key", default=None)
    p.add_argument("--sep", default="+")
    p.add_argument("--layer", default=None)


def _embedding(path: str | None):
    if path is None:
        return None
    from ..embed.table import read_table

    return read_table(path)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from ..tl._perturbation import evaluate_perturbation

    _check_outputs(args)
    adata = _load_adata(args.data)
    table = _embedding(args.embedding)
    provenance = None
    if args.out:  # fingerprinted before the run, as read
        from ..report.provenance import table_provenance

        provenance = table_provenance(table, args.embedding)
    df = evaluate_perturbation(
        adata,
        embedding=table,
        condition_key=args.condition_key,
        control=args.control,
        cell_type_key=args.cell_type_key,
        sep=args.sep,
        layer=args.layer,
        predictors=args.predictors,
        split=args.split,
        missing=args.missing,
    )
    summary = df.groupby(["group", "predictor"])[["pearson_delta", "pearson_delta_de", "rmse"]]
    print(summary.mean().round(3).to_string())
    print(f"normalisation: {df.attrs['biobft']['normalization']}")
    if args.out:
        from ..report.provenance import write_perturbation_table

        # the CSV as before, plus <out>.json: the table it was computed on (`biobft assemble`)
        out = write_perturbation_table(df, args.out, provenance=provenance, data=str(args.data))
        print(f"wrote {out} (+ {out.name}.json: the embedding table it was computed on)")
    return 0


def _cmd_split(args: argparse.Namespace) -> int:
    from ..perturb.pseudobulk import pseudobulk
    from ..perturb.splits import make_split

    _check_outputs(args)
    adata = _load_adata(args.data)
    pb = pseudobulk(adata, condition_key=args.condition_key, control=args.control,
                    cell_type_key=args.cell_type_key, sep=args.sep, layer=args.layer,
                    n_top_de=0)  # fmt: skip
    params = {"seed": args.seed} if args.kind in ("kfold", "simulation") else {}
    split = make_split(pb, args.kind, **params)
    path = split.save(args.out)
    print(f"wrote {path}: {len(split)} fold(s), {sum(len(f['test']) for f in split.folds)} tests")
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from ..tl._perturbation import predict_perturbation

    if not args.out.endswith(".h5ad"):
        raise ValueError(f"--out must end in .h5ad; got {args.out!r}")
    _check_outputs(args)
    adata = _load_adata(args.data)
    out = predict_perturbation(
        adata,
        embedding=_embedding(args.embedding),
        perturbations=args.perturbations,
        condition_key=args.condition_key,
        control=args.control,
        cell_type_key=args.cell_type_key,
        sep=args.sep,
        layer=args.layer,
        predictor=args.predictor,
        missing=args.missing,
    )
    out.write_h5ad(args.out)
    print(f"wrote {args.out}: {out.n_obs} predicted profile(s)")
    return 0


def add_parser(subparsers) -> None:
    """Register ``biobft perturb ...``."""
    parser = subparsers.add_parser("perturb", help="single-cell perturbation response")
    sub = parser.add_subparsers(dest="perturb_command", metavar="ACTION", required=True)

    ev = sub.add_parser("evaluate", help="score predictors on held-out conditions")
    _common(ev)
    ev.add_argument("--embedding", default=None, help="embedding table (.parquet/.csv)")
    ev.add_argument(
        "--predictors", type=comma_list, default=None, help="comma-separated (default: all usable)"
    )
    ev.add_argument(
        "--split", default=None, help="loo | kfold | simulation | cross_cell_type | JSON"
    )
    ev.add_argument("--missing", default="error", choices=["error", "skip", "mean"])
    ev.add_argument(
        "--out",
        default=None,
        help="CSV of per-condition metrics (+ <out>.json: the embedding table's fingerprint)",
    )
    ev.set_defaults(func=_cmd_evaluate)

    sp = sub.add_parser("split", help="write a split JSON file")
    _common(sp)
    sp.add_argument(
        "--kind", default="loo", choices=["loo", "kfold", "simulation", "cross_cell_type"]
    )
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--out", required=True)
    sp.set_defaults(func=_cmd_split)

    pr = sub.add_parser("predict", help="predict profiles of perturbations")
    _common(pr)
    pr.add_argument("--embedding", default=None)
    pr.add_argument(
        "--perturbations", type=comma_list, required=True, help="comma-separated condition labels"
    )
    pr.add_argument("--predictor", default="ridge")
    pr.add_argument("--missing", default="error", choices=["error", "skip", "mean"])
    pr.add_argument("--out", required=True, help="output .h5ad")
    pr.set_defaults(func=_cmd_predict)
