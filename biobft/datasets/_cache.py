"""Parquet cache of parsed data sets (slow R formats), keyed by content hashes. No pickle."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from biobft._paths import atomic_path, cache_dir

logger = logging.getLogger(__name__)

_META_KEY = b"biobft.attrs"


def parsed_cache_path(stem: str, *key_parts: str) -> Path:
    """``$BIOBFT_CACHE_DIR/parsed/<stem>-<hash of key_parts>.parquet``."""
    key = hashlib.sha256("\0".join(key_parts).encode()).hexdigest()[:20]
    return cache_dir("parsed") / f"{stem}-{key}.parquet"


def write_frame(df: pd.DataFrame, path: Path) -> None:
    """Write ``df`` (index dropped, ``df.attrs`` as JSON metadata) atomically as parquet."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[_META_KEY] = json.dumps(df.attrs, default=str).encode()
    table = table.replace_schema_metadata(meta)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def read_frame(path: Path) -> pd.DataFrame:
    """Read a frame written by :func:`write_frame`, restoring ``df.attrs``."""
    table = pq.read_table(path)
    df = table.to_pandas()
    raw = (table.schema.metadata or {}).get(_META_KEY)
    df.attrs = json.loads(raw) if raw else {}
    return df


def cached_frame(stem: str, key_parts: tuple[str, ...], build: Callable[[], pd.DataFrame]):
    """Return the cached frame for ``key_parts``, building and caching it on a miss.

    A cache file that cannot be read (e.g. truncated by hand) is rebuilt.
    """
    path = parsed_cache_path(stem, *key_parts)
    if path.is_file():
        try:
            return read_frame(path)
        except (OSError, pa.ArrowException, ValueError) as err:
            logger.warning("ignoring unreadable cache %s (%s); rebuilding", path, err)
    df = build()
    write_frame(df, path)
    logger.debug("cached %s at %s", stem, path)
    return read_frame(path)
