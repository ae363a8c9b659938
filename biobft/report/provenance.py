"""Provenance of the result files that ``biobft assemble`` reads: which embedding table each
was computed on.

``biobft ggi --json``, ``biobft perturb evaluate --out`` and ``biobft perturbqa --json`` record
:func:`table_provenance` of the table they read (a content fingerprint, :func:`table_fingerprint`,
plus its model and source): the JSON files under ``"provenance"``, the perturbation CSV in a
sidecar ``<file>.csv.json`` (:func:`write_perturbation_table`; the CSV itself is unchanged).
:func:`check_provenance` compares every input of a report with its ``--embeddings`` table and
refuses, in one error listing each file and the fix, a result of another table, of no table, or
without a fingerprint (a file written before results recorded one): an unverifiable file is never
passed silently.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = [
    "DIGEST_KEY",
    "FINGERPRINT",
    "PRODUCERS",
    "check_provenance",
    "perturbation_experiment",
    "read_provenance",
    "table_fingerprint",
    "table_provenance",
    "write_perturbation_table",
    "write_result_json",
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


#: key of a result JSON's own digest (:func:`write_result_json`)
DIGEST_KEY = "content_sha256"


def _digest(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != DIGEST_KEY}
    blob = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def write_result_json(record: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write a result record (``biobft ggi --json``, ``biobft perturbqa --json``) atomically,
    with ``"content_sha256"``: the sha256 of the record's canonical JSON, so that numbers edited
    after the file was written no longer match and :func:`assemble_report` refuses the file
    (as the perturbation CSV's sidecar does for the CSV)."""
    from .._paths import atomic_path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = json.loads(json.dumps(record))  # digest what a reader will see (str keys, lists)
    sealed = {**record, DIGEST_KEY: _digest(record)}
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(sealed, indent=2))
    return path


def _read_json(kind: str, path: str | os.PathLike) -> dict[str, Any]:
    path = _existing(kind, path)
    try:
        record = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise _bad(kind, path, f"is not valid JSON ({err})") from None
    if not isinstance(record, dict):
        raise _bad(kind, path, f"holds a JSON {type(record).__name__}, not an object")
    if DIGEST_KEY in record and record[DIGEST_KEY] != _digest(record):
        raise _bad(
            kind,
            path,
            f"does not match its own {DIGEST_KEY!r} (its content was edited after it was written)",
        )
    return record


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
    df: pd.DataFrame,
    path: str | os.PathLike,
    *,
    provenance: dict[str, Any],
    data: str | None = None,
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
    data
        The perturbation data set the rows come from (e.g. ``"perturbench_devel:norman19"``);
        recorded with the split kind (``df.attrs["biobft"]["split"]``) under ``"experiment"``,
        so that the assembled report's title says what was run.

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
    split = (df.attrs.get("biobft") or {}).get("split")
    record = {
        "provenance": dict(provenance),
        "csv_sha256": digest,
        "n_rows": len(df),
        "experiment": {"data": data, "split": split},
    }
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


def check_provenance(
    inputs: Sequence[tuple[str, str | os.PathLike]],
    *,
    embeddings: str | os.PathLike,
    table: pd.DataFrame,
) -> None:
    """Refuse every input file not shown to be computed on ``table``, in one error.

    Parameters
    ----------
    inputs
        ``(kind, path)`` pairs, kind ``"ggi"``, ``"perturbation"`` or ``"perturbqa"``.
    embeddings
        The file ``table`` was read from (named in the error).
    table
        The report's embedding table.

    Raises
    ------
    FileNotFoundError, ValueError
        A missing or unreadable file or sidecar (see :func:`read_provenance`); or, listing
        each such file with the command to rerun, files whose recorded fingerprint
        (:func:`table_fingerprint`) differs from ``table``'s, that record the same fingerprint
        but another model / source, that were computed without a table, or that record no
        fingerprint (or one of another scheme).
    """
    expected = table_provenance(table, embeddings)
    problems = []
    inputs = [(kind, Path(path)) for kind, path in inputs]
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


def perturbation_experiment(path: str | os.PathLike) -> dict[str, Any]:
    """``{"data": ..., "split": ...}`` recorded in a perturbation CSV's sidecar (``{}`` when the
    sidecar predates this record or is absent; :func:`read_provenance` checks the sidecar)."""
    side = _sidecar(Path(path))
    if not side.is_file():
        return {}
    try:
        rec = json.loads(side.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}
    exp = rec.get("experiment") if isinstance(rec, dict) else None
    return {k: v for k, v in exp.items() if v is not None} if isinstance(exp, dict) else {}
