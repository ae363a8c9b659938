"""Assemble a benchmark report from results already on disk, without re-running any step.

The Snakemake workflow (``workflows/Snakefile``) runs each step once, one rule per step: ``embed``
writes the embedding table, ``ggi`` the GGI result JSON, ``perturb`` the per-condition CSV,
``perturbqa`` one JSON per PerturbQA file. :func:`assemble_report` reads and checks them and
returns the :class:`~biobft.report.benchmark.BenchmarkResult` that
:func:`~biobft.report.write.write_report` writes (the same ``report.md``, ``results.json``
and figures as ``biobft benchmark``). ``biobft assemble`` is its command line.

Each input is checked before anything is written; a missing or malformed file raises one error
that names the file and the rule (and command) that makes it. Every result file records the
embedding table it was computed on (:mod:`biobft.report.provenance`: a content fingerprint of
the table, its model and source); :func:`assemble_report` compares every input file with the
``embeddings`` table and refuses, in one error listing each file, any result computed on another
table, on no table, or without a fingerprint (an unverifiable file is never passed silently).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path

import numpy as np
import pandas as pd

from .._paths import read_csv_symbols
from .benchmark import PERTURB_SUMMARY, BenchmarkResult
from .perturbqa import PUBLISHED, PerturbQAResult
from .provenance import (
    PRODUCERS,
    _bad,
    _describe,
    _differs,
    _existing,
    _read_json,
    _table_record,
    check_provenance,
    perturbation_experiment,
)

__all__ = [
    "PRODUCERS",
    "assemble_report",
    "read_ggi_result",
    "read_perturbation_table",
    "read_perturbqa_results",
]

_GGI_KEYS = ("roc_auc", "pr_auc", "accuracy", "features", "classifier", "seed", "n_raw", "n_used")
_PERTURBQA_COLUMNS = (
    "predictor", "kind", "auroc_per_gene", "perturbation_coverage", "n_genes_scored",
    "n_test_perturbations", "coverage", "auroc", "average_precision", "inner_cv_auroc_per_gene",
    "params",
)  # fmt: skip


def _need_keys(kind: str, path: Path, record: dict, keys: Sequence[str]) -> None:
    missing = [k for k in keys if k not in record]
    if missing:
        raise _bad(kind, path, f"lacks the key(s) {missing}")


def read_ggi_result(path: str | os.PathLike):
    """The :class:`~biobft.ggi.GGIResult` saved by ``biobft ggi --json`` (ROC curves included).

    Parameters
    ----------
    path
        JSON file of :meth:`GGIResult.to_json(curves=True) <biobft.ggi.GGIResult.to_json>`.

    Returns
    -------
    :class:`~biobft.ggi.GGIResult` without the fitted model (``model=None``).

    Raises
    ------
    FileNotFoundError, ValueError
        A missing file, invalid JSON, missing keys, non-numeric metrics or no model ROC curve;
        the message names the file and the ``ggi`` rule.
    """
    from ..ggi.evaluate import GGIResult

    path = Path(path)
    rec = _read_json("ggi", path)
    _need_keys("ggi", path, rec, _GGI_KEYS)
    for key in ("roc_auc", "pr_auc", "accuracy"):
        if isinstance(rec[key], bool) or not isinstance(rec[key], (int, float)):
            raise _bad("ggi", path, f"has a non-numeric {key!r}: {rec[key]!r}")
    curves = rec.get("curves")
    if not isinstance(curves, dict) or not isinstance(curves.get("model"), dict):
        raise _bad("ggi", path, "has no ROC curve of the model (write it with `--json`)")
    arrays: dict[str, dict[str, np.ndarray]] = {}
    for name, curve in curves.items():
        try:
            fpr = np.asarray(curve["fpr"], dtype=np.float64)
            tpr = np.asarray(curve["tpr"], dtype=np.float64)
        except (KeyError, TypeError, ValueError):
            raise _bad("ggi", path, f"has a malformed ROC curve {name!r}") from None
        if fpr.ndim != 1 or fpr.shape != tpr.shape:
            raise _bad("ggi", path, f"has ROC curve {name!r} with fpr/tpr of different lengths")
        arrays[name] = {"fpr": fpr, "tpr": tpr}
    keep = {f.name for f in fields(GGIResult)} - {"curves", "model"}
    return GGIResult(**{k: v for k, v in rec.items() if k in keep}, curves=arrays)


def read_perturbation_table(path: str | os.PathLike) -> pd.DataFrame:
    """The per-condition table written by ``biobft perturb evaluate --out`` (one row per
    predictor and held-out condition), checked for the columns the report summarises.

    Raises
    ------
    FileNotFoundError, ValueError
        A missing or unreadable file, no rows, a missing column (``group``, ``predictor`` and
        :data:`~biobft.report.benchmark.PERTURB_SUMMARY`) or a non-numeric metric; the message
        names the file and the ``perturb`` rule.

    Notes
    -----
    The embedding table the rows were computed on is in the sidecar ``<path>.json`` written by
    :func:`~biobft.report.provenance.write_perturbation_table`;
    :func:`~biobft.report.provenance.read_provenance` reads it.
    """
    path = _existing("perturbation", path)
    try:
        df = read_csv_symbols(path, symbols=("group", "condition", "predictor"))
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise _bad("perturbation", path, f"is not a readable CSV table ({err})") from None
    missing = [c for c in ("group", "predictor", *PERTURB_SUMMARY) if c not in df.columns]
    if missing:
        raise _bad("perturbation", path, f"lacks the column(s) {missing}")
    if df.empty:
        raise _bad("perturbation", path, "has no rows")
    odd = [c for c in PERTURB_SUMMARY if not pd.api.types.is_numeric_dtype(df[c])]
    if odd:
        raise _bad("perturbation", path, f"has non-numeric metric column(s) {odd}")
    return df


def read_perturbqa_results(paths: Sequence[str | os.PathLike]) -> PerturbQAResult | None:
    """The PerturbQA section from ``biobft perturbqa --json`` files (one per cell line / task).

    Returns ``None`` for no paths.

    Raises
    ------
    FileNotFoundError, ValueError
        A missing or invalid file, a file scored on one's own ``--pairs`` (no published numbers
        to set beside it), two files of the same cell line and task, rows without the
        report's columns, or two files computed on different embedding tables (their recorded
        fingerprints or model / source differ); the message names the file and the
        ``perturbqa`` rule.
    """
    if not paths:
        return None
    res = PerturbQAResult(config={"table": "main"})
    metas, seconds = [], 0.0
    first: tuple[Path, dict] | None = None  # the first file and its table's record
    for p in paths:
        path = Path(p)
        rec = _read_json("perturbqa", path)
        _need_keys("perturbqa", path, rec, ("cell_line", "task", "rows", "per_gene"))
        key = (rec["cell_line"], rec["task"])
        if key == (None, None):
            raise _bad(
                "perturbqa",
                path,
                f"holds scores on one's own DE-pair table ({rec.get('pairs')!r}, "
                "`biobft perturbqa --pairs`), not on a PerturbQA file",
                fix="The report's PerturbQA section sets each score beside the published "
                f"PerturbQA numbers, which exist only for the PerturbQA files {sorted(PUBLISHED)}. "
                "Leave this file out of --perturbqa (the JSON itself is the result on your own "
                "table), or score a PerturbQA file for the report: `biobft perturbqa --cell-line "
                "k562 --task de --embeddings <table> --json k562_de.json`",
            )
        if key not in PUBLISHED:
            raise _bad(
                "perturbqa",
                path,
                f"scores cell line / task {key}, not a PerturbQA file ({sorted(PUBLISHED)})",
            )
        if key in res.tables:
            raise _bad("perturbqa", path, f"repeats cell line / task {key}")
        rows = pd.DataFrame(rec["rows"])
        missing = [c for c in _PERTURBQA_COLUMNS if c not in rows.columns]
        if rows.empty or missing:
            raise _bad("perturbqa", path, f"has no rows or lacks the column(s) {missing}")
        rows.attrs["per_gene"] = rec["per_gene"]
        res.tables[key] = rows
        metas.append(rec.get("table_meta") or {})
        mine = _table_record(rec)
        if first is None:
            first = (path, mine)
        elif _differs(first[1], mine):
            raise _bad(
                "perturbqa",
                path,
                f"was computed on another embedding table ({_describe(mine)}) than "
                f"{str(first[0])!r} ({_describe(first[1])})",
                fix="All PerturbQA files of one report come from one table: rerun the odd one "
                f"out with {PRODUCERS['perturbqa']} on the report's table, or pass the right file",
            )
        seconds += float(rec.get("seconds") or 0.0)
    res.seconds = round(seconds, 2)
    res.config.update(
        cell_lines=sorted({c for c, _ in res.tables}),
        tasks=sorted({t for _, t in res.tables}),
        table_meta=metas[0],
    )
    return res


def assemble_report(
    *,
    embeddings: str | os.PathLike,
    ggi: str | os.PathLike | None = None,
    perturbation: str | os.PathLike | None = None,
    perturbqa: Sequence[str | os.PathLike] = (),
    perturb_dataset: str | None = None,
) -> BenchmarkResult:
    """Read one run's results from disk into the report's :class:`BenchmarkResult`.

    Nothing is computed again: the GGI numbers and ROC curves come from the GGI JSON, the
    perturbation summary is the per-(group, predictor) mean of the per-condition CSV (as in
    ``biobft benchmark``), the PerturbQA tables from the PerturbQA JSON files. Write the result
    with :func:`~biobft.report.write.write_report`.

    Parameters
    ----------
    embeddings
        The run's embedding table (``.parquet`` / ``.csv``): its provenance heads the report.
    ggi
        ``biobft ggi --json`` output, or ``None`` for no GGI section.
    perturbation
        ``biobft perturb evaluate --out`` output, or ``None`` for no perturbation section.
    perturbqa
        ``biobft perturbqa --json`` outputs (PerturbQA files only), or none.
    perturb_dataset
        Name of the perturbation data set, for the section title; default: the one the
        perturbation CSV's sidecar records (``biobft perturb evaluate --data``). A name that
        differs from the recorded one is refused. The split kind comes from the sidecar too.

    Returns
    -------
    :class:`~biobft.report.benchmark.BenchmarkResult`; ``config["assembled_from"]`` records the
    files, ``timings`` the wall times the inputs recorded (GGI model fit, PerturbQA scoring).

    Raises
    ------
    FileNotFoundError, ValueError
        No result given, or an input that is missing or malformed (the message names the file
        and the rule that writes it); or inputs not shown to be computed on ``embeddings``: a
        file whose recorded table fingerprint (:func:`~biobft.report.provenance.table_provenance`)
        or model / source
        differs, one computed without a table, and one that records no fingerprint (an older
        or hand-made file; rerun its step). One error lists every such file and the fix.
    """
    from ..embed.table import read_table, table_metadata

    if ggi is None and perturbation is None and not perturbqa:
        raise ValueError(
            "nothing to assemble: pass a GGI JSON (ggi=...), a perturbation table "
            "(perturbation=...) or PerturbQA JSON files (perturbqa=[...])"
        )
    path = _existing("embeddings", embeddings)
    try:
        table = read_table(path)
    except (ValueError, TypeError, OSError) as err:
        raise _bad("embeddings", path, f"is not a readable embedding table ({err})") from None
    meta = table_metadata(table)
    ggi_result = None if ggi is None else read_ggi_result(ggi)
    per_condition = None if perturbation is None else read_perturbation_table(perturbation)
    experiment = {} if perturbation is None else perturbation_experiment(perturbation)
    recorded = experiment.get("data")
    if (
        perturb_dataset is not None
        and recorded is not None
        and not (
            str(recorded) == str(perturb_dataset) or str(recorded).endswith(f":{perturb_dataset}")
        )
    ):
        raise _bad(
            "perturbation",
            Path(perturbation),
            f"was computed on {recorded!r}, but perturb_dataset={perturb_dataset!r} was given",
            fix="Leave perturb_dataset (--perturb-dataset) out to use the recorded name",
        )
    dataset = perturb_dataset or (str(recorded).split(":")[-1] if recorded else None)
    for p in perturbqa:  # each file's own checks first, then every file against the table
        read_perturbqa_results([p])
    inputs = [("ggi", Path(ggi))] if ggi is not None else []
    inputs += [("perturbation", Path(perturbation))] if perturbation is not None else []
    inputs += [("perturbqa", Path(p)) for p in perturbqa]
    check_provenance(inputs, embeddings=path, table=table)
    pqa = read_perturbqa_results(list(perturbqa))
    timings = {}
    if ggi_result is not None:
        timings["ggi model fit"] = round(float(ggi_result.fit_seconds), 2)
    if pqa is not None:
        timings["perturbqa"] = pqa.seconds
    config = {
        "model": meta.get("model"),
        "source": meta.get("source"),
        "pooling": meta.get("pooling"),
        "precision": meta.get("precision"),
        "features": None if ggi_result is None else ggi_result.features,
        "classifier": None if ggi_result is None else ggi_result.classifier,
        "best_ggi": None,
        "perturb_dataset": dataset or "data set not recorded",
        "perturb_split": experiment.get("split"),
        "predictors": None
        if per_condition is None
        else list(pd.unique(per_condition["predictor"].astype(str))),
        "seed": None if ggi_result is None else ggi_result.seed,
        "assembled_from": {
            "embeddings": str(embeddings),
            "ggi": None if ggi is None else str(ggi),
            "perturbation": None if perturbation is None else str(perturbation),
            "perturbqa": [str(p) for p in perturbqa],
        },
    }
    return BenchmarkResult(
        config=config,
        embedding={**meta, "n_genes": int(table.shape[0])},
        ggi=ggi_result,
        perturbation=per_condition,
        timings=timings,
        perturbqa=pqa,
    )
