"""Assemble a benchmark report from results already on disk, without re-running any step.

The Snakemake workflow (``workflows/Snakefile``) runs each step once, one rule per step: ``embed``
writes the embedding table, ``ggi`` the GGI result JSON, ``perturb`` the per-condition CSV,
``perturbqa`` one JSON per PerturbQA file. :func:`assemble_report` reads and checks them and
returns the :class:`~biobft.report.benchmark.BenchmarkResult` that
:func:`~biobft.report.write.write_report` writes (the same ``report.md``, ``results.json``
and figures as ``biobft benchmark``). ``biobft assemble`` is its command line.

Each input is checked before anything is written; a missing or malformed file raises one error
that names the file and the rule (and command) that makes it. Every result file records the
provenance of the embedding table it was computed on (:func:`table_provenance`: a content
fingerprint of the table, its model and source): the GGI and PerturbQA JSON under
``"provenance"``, the perturbation CSV in a sidecar ``<file>.csv.json``
(:func:`write_perturbation_table`). :func:`assemble_report` compares every input file with the
``embeddings`` table and refuses, in one error listing each file, any result computed on another
table, on no table, or without a fingerprint (an unverifiable file is never passed silently).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .benchmark import PERTURB_SUMMARY, BenchmarkResult
from .perturbqa import PUBLISHED, PerturbQAResult

__all__ = [
    "FINGERPRINT",
    "PRODUCERS",
    "assemble_report",
    "read_ggi_result",
    "read_perturbation_table",
    "read_perturbqa_results",
    "read_provenance",
    "table_fingerprint",
    "table_provenance",
    "write_perturbation_table",
]

#: input kind -> the workflow rule and the command that write it (named in every error)
PRODUCERS: dict[str, str] = {
    "embeddings": "the workflow's `embed` rule (`biobft embed --out`)",
    "ggi": "the workflow's `ggi` rule (`biobft ggi --json`)",
    "perturbation": "the workflow's `perturb` rule (`biobft perturb evaluate --out`)",
    "perturbqa": "the workflow's `perturbqa` rule (`biobft perturbqa --json`)",
}

#: input kind -> the option of its command that names the embedding table
_TABLE_FLAG = {"ggi": "--embeddings", "perturbation": "--embedding", "perturbqa": "--embeddings"}

#: the fingerprint scheme recorded with each result (bump when :func:`table_fingerprint` changes)
FINGERPRINT = "biobft-table-v1"

_GGI_KEYS = ("roc_auc", "pr_auc", "accuracy", "features", "classifier", "seed", "n_raw", "n_used")
_PERTURBQA_COLUMNS = (
    "predictor", "kind", "auroc_per_gene", "perturbation_coverage", "n_genes_scored",
    "n_test_perturbations", "coverage", "auroc", "average_precision", "inner_cv_auroc_per_gene",
    "params",
)  # fmt: skip


def _bad(
    kind: str,
    path: Path,
    problem: str,
    error: type[Exception] = ValueError,
    *,
    fix: str | None = None,
) -> Exception:
    """One error for an unusable input: the file, what is wrong, which rule writes it (or
    ``fix``, what to do instead)."""
    fix = fix or (
        f"It is written by {PRODUCERS[kind]}; run that step again (snakemake --forcerun <rule>) "
        "or pass the right file"
    )
    return error(f"cannot assemble the report: {kind} file {str(path)!r} {problem}. {fix}")


def _existing(kind: str, path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.is_file():
        raise _bad(kind, path, "does not exist", FileNotFoundError)
    return path


def _read_json(kind: str, path: str | os.PathLike) -> dict[str, Any]:
    path = _existing(kind, path)
    try:
        record = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise _bad(kind, path, f"is not valid JSON ({err})") from None
    if not isinstance(record, dict):
        raise _bad(kind, path, f"holds a JSON {type(record).__name__}, not an object")
    return record


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
    :func:`write_perturbation_table`; :func:`read_provenance` reads it.
    """
    path = _existing("perturbation", path)
    try:
        df = pd.read_csv(path)
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


# ----------------------------------------------------------------------------- provenance
def table_fingerprint(table: pd.DataFrame) -> str:
    """sha256 hex fingerprint of an embedding table's content.

    The gene symbols in row order, the column names and the ``float32`` values are hashed with
    the content hashing of :func:`biobft.report.fitcache.content_key`, without the code version
    (a fingerprint stays valid across biobft versions) and without the metadata
    (``table.attrs``). The same table read from ``.parquet`` or ``.csv`` has one fingerprint;
    one changed value, gene or row order gives another.

    Parameters
    ----------
    table
        Embedding table (validated: ``float32``, unique string gene symbols).

    Raises
    ------
    TypeError, ValueError
        If ``table`` breaks the embedding-table contract (see
        :func:`~biobft.embed.table.validate_table`).
    """
    from ..embed.table import validate_table
    from .fitcache import _update

    h = hashlib.sha256(f"{FINGERPRINT};".encode())
    _update(h, validate_table(table))
    return h.hexdigest()


def table_provenance(
    table: pd.DataFrame | None, path: str | os.PathLike | None = None
) -> dict[str, Any]:
    """The record of the embedding table a result was computed on, for the result's file.

    Parameters
    ----------
    table
        The table the result was computed on, or ``None`` for a result computed without one
        (such a result is refused by :func:`assemble_report`).
    path
        The file the table was read from (informative; the check uses the fingerprint).

    Returns
    -------
    dict
        ``embeddings`` (path), ``fingerprint`` (:data:`FINGERPRINT`), ``table_sha256``
        (:func:`table_fingerprint`, ``None`` without a table), ``model``, ``source``
        (the table's metadata, ``None`` when absent), ``n_genes``, ``dim``.
    """
    from ..embed.table import table_metadata

    rec: dict[str, Any] = {
        "embeddings": None if path is None else str(path),
        "fingerprint": FINGERPRINT,
        "table_sha256": None,
        "model": None,
        "source": None,
        "n_genes": None,
        "dim": None,
    }
    if table is not None:
        meta = table_metadata(table)
        rec.update(
            table_sha256=table_fingerprint(table),
            model=meta.get("model"),
            source=meta.get("source"),
            n_genes=int(table.shape[0]),
            dim=int(table.shape[1]),
        )
    return rec


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def write_perturbation_table(
    df: pd.DataFrame, path: str | os.PathLike, *, provenance: dict[str, Any]
) -> Path:
    """Write the per-condition table as CSV (``index=False``) and its provenance sidecar.

    The CSV is exactly ``df.to_csv(path, index=False)`` (read it with ``pandas.read_csv``).
    Beside it, ``<path>.json`` holds ``{"provenance": provenance, "csv_sha256": ...}``: the
    table the rows were computed on and the sha256 of the CSV's bytes, so that a CSV replaced
    or edited after it was written no longer matches its sidecar. Both files are written
    atomically, the CSV first (an interrupted write leaves a sidecar that does not match).

    Parameters
    ----------
    df
        Rows of :func:`biobft.tl.evaluate_perturbation`.
    path
        The ``.csv`` file.
    provenance
        :func:`table_provenance` of the embedding table used.

    Returns
    -------
    The CSV path.
    """
    from .._paths import atomic_path
    from ..datasets._fetch import file_sha256

    path = Path(path)
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)
        digest = file_sha256(tmp)
    record = {"provenance": dict(provenance), "csv_sha256": digest, "n_rows": len(df)}
    with atomic_path(_sidecar(path)) as tmp:
        tmp.write_text(json.dumps(record, indent=2))
    return path


def _table_record(rec: dict[str, Any]) -> dict[str, Any]:
    """What a JSON result records of its table: its ``provenance`` block, else the older
    ``table_meta`` / ``embeddings`` keys (no fingerprint)."""
    prov = rec.get("provenance")
    if isinstance(prov, dict):
        return dict(prov)
    meta = rec.get("table_meta") if isinstance(rec.get("table_meta"), dict) else {}
    return {
        "embeddings": rec.get("embeddings"),
        "model": meta.get("model"),
        "source": meta.get("source"),
    }


def read_provenance(kind: str, path: str | os.PathLike) -> dict[str, Any] | None:
    """The record of the embedding table an input file was computed on.

    Parameters
    ----------
    kind
        ``"ggi"`` or ``"perturbqa"`` (the JSON's ``provenance`` block, else its older
        ``table_meta`` / ``embeddings`` keys without a fingerprint), or ``"perturbation"``
        (the CSV's sidecar ``<file>.json``).
    path
        The result file.

    Returns
    -------
    dict or None
        Keys as :func:`table_provenance` (those recorded); ``None`` for a CSV without sidecar.

    Raises
    ------
    FileNotFoundError, ValueError
        A missing file, invalid JSON, or a sidecar that does not belong to its CSV (its
        ``csv_sha256`` differs from the CSV's bytes).
    """
    if kind not in _TABLE_FLAG:
        raise ValueError(f"kind must be one of {sorted(_TABLE_FLAG)}; got {kind!r}")
    path = _existing(kind, path)
    if kind != "perturbation":
        return _table_record(_read_json(kind, path))
    from ..datasets._fetch import file_sha256

    side = _sidecar(path)
    if not side.is_file():
        return None
    try:
        rec = json.loads(side.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise _bad(
            kind, path, f"has a provenance sidecar {side.name!r} that is not JSON ({err})"
        ) from None
    if not isinstance(rec, dict) or not isinstance(rec.get("provenance"), dict):
        raise _bad(kind, path, f"has a provenance sidecar {side.name!r} without 'provenance'")
    if rec.get("csv_sha256") != file_sha256(path):
        raise _bad(
            kind,
            path,
            f"does not match its provenance sidecar {side.name!r} (the CSV's sha256 differs "
            "from the one recorded: the CSV was replaced or edited after it was written)",
        )
    return dict(rec["provenance"])


def _describe(rec: dict[str, Any]) -> str:
    """``'emb.parquet', sha256 1a2b3c4d5e6f, model 'minilm', source 'refseq', 30 genes``."""
    parts = []
    if rec.get("embeddings"):
        parts.append(repr(str(rec["embeddings"])))
    if rec.get("table_sha256"):
        parts.append(f"sha256 {str(rec['table_sha256'])[:12]}")
    for key in ("model", "source"):
        if rec.get(key) is not None:
            parts.append(f"{key} {rec[key]!r}")
    if rec.get("n_genes") is not None:
        parts.append(f"{rec['n_genes']} genes")
    return ", ".join(parts) or "nothing recorded"


def _differs(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Two records of tables that cannot be the same table (compared on what both record)."""
    if a.get("table_sha256") and b.get("table_sha256") and a["table_sha256"] != b["table_sha256"]:
        return True
    return any(
        a.get(k) is not None and b.get(k) is not None and str(a[k]) != str(b[k])
        for k in ("model", "source")
    )


def _provenance_problem(kind: str, path: Path, expected: dict[str, Any]) -> str | None:
    """Why ``path`` cannot be shown to be computed on the table ``expected``, or ``None``."""
    rec = read_provenance(kind, path)
    if rec is None:
        return (
            f"has no provenance sidecar {_sidecar(path).name!r} (written by an older biobft or "
            "copied without it), so nothing shows which embedding table it was computed on"
        )
    if "fingerprint" not in rec:
        return (
            "records no fingerprint of the embedding table it was computed on (written by an "
            f"older biobft or by hand; it records {_describe(rec)}), so it cannot be checked"
        )
    if rec["fingerprint"] != FINGERPRINT:
        return (
            f"records a table fingerprint of scheme {rec['fingerprint']!r}; this biobft "
            f"compares {FINGERPRINT!r}"
        )
    if not rec.get("table_sha256"):
        return f"was computed without an embedding table (no {_TABLE_FLAG[kind]})"
    if rec["table_sha256"] != expected["table_sha256"]:
        return f"was computed on another embedding table ({_describe(rec)})"
    for key in ("model", "source"):
        if str(rec.get(key)) != str(expected.get(key)):
            return (
                f"was computed on the same vectors but records {key} {rec.get(key)!r} where "
                f"--embeddings records {expected.get(key)!r} (metadata changed since)"
            )
    return None


def _check_provenance(
    inputs: Sequence[tuple[str, Path]], embeddings: Path, expected: dict[str, Any]
) -> None:
    """Refuse, in one error listing each file, every input not computed on ``expected``."""
    problems = []
    for kind, path in inputs:
        problem = _provenance_problem(kind, path, expected)
        if problem is not None:
            problems.append(
                f"  - {kind} file {str(path)!r} {problem}: rerun {PRODUCERS[kind]} with "
                f"{_TABLE_FLAG[kind]} {str(embeddings)!r}"
            )
    if problems:
        raise ValueError(
            f"cannot assemble the report: {len(problems)} input file(s) are not shown to be "
            f"computed on --embeddings {str(embeddings)!r} "
            f"({_describe({**expected, 'embeddings': None})}):\n"
            + "\n".join(problems)
            + "\nA report holds the results of one embedding table. Recompute the listed "
            "step(s) on this table (in the workflow: snakemake --forcerun <rule>), or pass "
            "the --embeddings they were computed on. Nothing was written."
        )


def assemble_report(
    *,
    embeddings: str | os.PathLike,
    ggi: str | os.PathLike | None = None,
    perturbation: str | os.PathLike | None = None,
    perturbqa: Sequence[str | os.PathLike] = (),
    perturb_dataset: str = "norman19",
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
        Name of the perturbation data set, for the section title.

    Returns
    -------
    :class:`~biobft.report.benchmark.BenchmarkResult`; ``config["assembled_from"]`` records the
    files, ``timings`` the wall times the inputs recorded (GGI model fit, PerturbQA scoring).

    Raises
    ------
    FileNotFoundError, ValueError
        No result given, or an input that is missing or malformed (the message names the file
        and the rule that writes it); or inputs not shown to be computed on ``embeddings``: a
        file whose recorded table fingerprint (:func:`table_provenance`) or model / source
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
    for p in perturbqa:  # each file's own checks first, then every file against the table
        read_perturbqa_results([p])
    inputs = [("ggi", Path(ggi))] if ggi is not None else []
    inputs += [("perturbation", Path(perturbation))] if perturbation is not None else []
    inputs += [("perturbqa", Path(p)) for p in perturbqa]
    _check_provenance(inputs, path, table_provenance(table, path))
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
        "perturb_dataset": perturb_dataset,
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
