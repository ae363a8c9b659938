"""The embedding table: the contract between biobft's upstream and downstream halves.

An embedding table is a :class:`pandas.DataFrame` whose index holds unique gene symbols and whose
columns are ``float32`` embedding dimensions (named ``"0"``, ``"1"``, ...). Its metadata (model id,
text source, pooling, dimension, creation time) lives in ``table.attrs["biobft"]`` and travels with
the table through :func:`write_table` / :func:`read_table` (parquet schema metadata, or a JSON
sidecar for CSV).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from .._paths import atomic_path, read_csv_symbols

META_KEY = "biobft"


def make_table(
    vectors: np.ndarray,
    genes: Sequence[str],
    *,
    model: str,
    source: str,
    pooling: str | None = None,
    **extra: Any,
) -> pd.DataFrame:
    """Build an embedding table from a ``genes x d`` matrix.

    Parameters
    ----------
    vectors
        Array of shape ``(len(genes), d)``.
    genes
        Gene symbols (unique), one per row.
    model, source, pooling
        Provenance recorded in ``table.attrs["biobft"]``.
    **extra
        Further JSON-serialisable metadata.

    Returns
    -------
    The validated table.
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[0] != len(genes):
        raise ValueError(
            f"vectors must have shape (n_genes, d) = ({len(genes)}, d); got {vectors.shape}"
        )
    table = pd.DataFrame(
        vectors,
        index=pd.Index([str(g) for g in genes], name="gene"),
        columns=[str(i) for i in range(vectors.shape[1])],
    )
    table.attrs[META_KEY] = {
        "model": str(model),
        "source": str(source),
        "pooling": pooling,
        "dim": int(vectors.shape[1]),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **extra,
    }
    return validate_table(table)


def table_metadata(table: pd.DataFrame) -> dict[str, Any]:
    """The provenance record of a table (empty dict when it has none)."""
    return dict(table.attrs.get(META_KEY, {}))


def validate_table(table: pd.DataFrame, *, name: str = "embedding table") -> pd.DataFrame:
    """Check the embedding-table contract and return the table as ``float32``.

    Raises
    ------
    TypeError
        If ``table`` is not a DataFrame, or has bool or complex columns.
    ValueError
        On an empty table, duplicate or empty gene symbols, non-numeric columns, or NaN/inf values
        (the message names the offending genes).
    """
    if not isinstance(table, pd.DataFrame):
        raise TypeError(
            f"{name} must be a pandas DataFrame (index = gene symbol, columns = dimensions); "
            f"got {type(table).__name__}. Build one with biobft.embed.make_table(vectors, genes)"
        )
    if table.shape[0] == 0 or table.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {table.shape}); it needs genes and dimensions")
    index = table.index.astype(str)
    dup = index[index.duplicated()].unique()
    if len(dup):
        raise ValueError(
            f"{name} has {len(dup)} duplicate gene symbol(s) in its index, e.g. {list(dup[:5])}; "
            "keep one row per gene (table[~table.index.duplicated()])"
        )
    odd = [c for c in table.columns if table[c].dtype.kind in "bc"]
    if odd:
        kinds = sorted({str(table[c].dtype) for c in odd})
        raise TypeError(
            f"{name} has {kinds} column(s) (e.g. {odd[:5]}); an embedding is real-valued "
            "(int or float): convert it (table.astype(np.float32)) or use the real vectors"
        )
    non_numeric = [c for c in table.columns if not pd.api.types.is_numeric_dtype(table[c])]
    if non_numeric:
        raise ValueError(
            f"{name} has non-numeric column(s) {non_numeric[:5]}; every column must be a dimension"
        )
    values = table.to_numpy(dtype=np.float32)
    bad = ~np.isfinite(values).all(axis=1)
    if bad.any():
        raise ValueError(
            f"{name} has {int(bad.sum())} row(s) with NaN or inf, e.g. {list(index[bad][:5])}; "
            "drop them (table.dropna()) or re-embed those genes"
        )
    if table.dtypes.eq(np.float32).all() and table.index.equals(index):
        return table
    out = pd.DataFrame(values, index=pd.Index(index, name="gene"), columns=table.columns)
    out.attrs = dict(table.attrs)
    return out


def concat_tables(
    tables: Sequence[pd.DataFrame],
    *,
    normalize: bool = False,
    how: Literal["inner", "outer"] = "inner",
    source: str | None = None,
) -> pd.DataFrame:
    """Put embedding tables side by side: the gene vector becomes ``[table_0[g], table_1[g], ...]``.

    E.g. the RefSeq + GO text vector beside the name-only vector (the GGI configuration chosen on
    the Gene2vec valid split), or text beside functional tables for the perturbation predictors.

    Parameters
    ----------
    tables
        Two or more embedding tables (validated).
    normalize
        L2-normalise each table's rows before joining, so that every block weighs the same in a
        cosine (GenePert-style perturbation features); ``False`` keeps the raw vectors.
    how
        ``"inner"``: genes present in every table, in the first table's order; ``"outer"``: every
        gene of any table, a missing block filled with zeros.
    source
        Source recorded in the metadata (default: the parts' sources joined with ``","``).

    Returns
    -------
    pandas.DataFrame
        ``(genes, sum of dims)`` float32 table; metadata ``parts`` holds each part's metadata.

    Raises
    ------
    ValueError
        Fewer than two tables, an unknown ``how``, or (inner) no gene in common.
    """
    if isinstance(tables, pd.DataFrame):
        raise TypeError("concat_tables takes a list of tables: concat_tables([a, b])")
    tables = [validate_table(t, name=f"table {i}") for i, t in enumerate(tables)]
    if len(tables) < 2:
        raise ValueError(f"concat_tables needs at least two tables; got {len(tables)}")
    if how not in ("inner", "outer"):
        raise ValueError(f"how must be 'inner' or 'outer'; got {how!r}")
    genes = tables[0].index
    for t in tables[1:]:
        genes = (
            genes.intersection(t.index, sort=False)
            if how == "inner"
            else genes.union(t.index.difference(genes), sort=False)
        )
    if len(genes) == 0:
        raise ValueError(
            "the tables have no gene symbol in common; embed the same genes in every table"
        )
    blocks = []
    for t in tables:
        vec = t.to_numpy(dtype=np.float64)
        if normalize:
            norm = np.linalg.norm(vec, axis=1, keepdims=True)
            vec = np.divide(vec, norm, out=np.zeros_like(vec), where=norm > 0)
        block = pd.DataFrame(vec, index=t.index).reindex(genes).fillna(0.0)
        blocks.append(block.to_numpy(dtype=np.float32))
    metas = [table_metadata(t) for t in tables]
    models = list(dict.fromkeys(str(m.get("model")) for m in metas))
    return make_table(
        np.hstack(blocks),
        list(genes),
        model="+".join(models),
        source=source or ",".join(str(m.get("source")) for m in metas),
        pooling=metas[0].get("pooling"),
        parts=[{k: m.get(k) for k in ("model", "source", "pooling", "dim")} for m in metas],
    )


def write_table(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a table atomically to ``.parquet`` (metadata in the schema) or ``.csv`` (+ ``.json``).

    Returns
    -------
    The path written.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = validate_table(table)
    path = Path(path)
    meta = json.dumps(table_metadata(table))
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        arrow = pa.Table.from_pandas(table, preserve_index=True)
        arrow = arrow.replace_schema_metadata(
            {**(arrow.schema.metadata or {}), META_KEY.encode(): meta.encode()}
        )
        with atomic_path(path) as tmp:
            pq.write_table(arrow, tmp)
    elif suffix in {".csv", ".tsv"}:
        sep = "," if suffix == ".csv" else "\t"
        with atomic_path(path) as tmp:
            table.to_csv(tmp, sep=sep)
        with atomic_path(path.with_suffix(path.suffix + ".json")) as tmp:
            tmp.write_text(meta)
    else:
        raise ValueError(f"unsupported table format {path.suffix!r}; use .parquet, .csv or .tsv")
    return path


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a table written by :func:`write_table` (or any gene x dimension parquet / CSV)."""
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"embedding table {str(path)!r} does not exist; write one with `biobft embed --out`"
        )
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        arrow = pq.read_table(path)
        raw = (arrow.schema.metadata or {}).get(META_KEY.encode())
        table = arrow.to_pandas()
        meta = json.loads(raw) if raw else {}
    elif suffix in {".csv", ".tsv"}:
        # gene symbols verbatim: pandas would read a gene called "NA" or "NULL" as NaN
        table = read_csv_symbols(path, sep="," if suffix == ".csv" else "\t", index_col=0)
        sidecar = path.with_suffix(path.suffix + ".json")
        meta = json.loads(sidecar.read_text()) if sidecar.is_file() else {}
    else:
        raise ValueError(f"unsupported table format {path.suffix!r}; use .parquet, .csv or .tsv")
    table.index = table.index.astype(str)
    table.index.name = "gene"
    table.columns = [str(c) for c in table.columns]
    table.attrs[META_KEY] = meta
    return validate_table(table, name=f"embedding table {path.name}")
