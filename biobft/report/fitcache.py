"""Content-keyed cache of the benchmark's fitted results, so a rerun does not refit.

Each entry is one JSON file ``cache_dir("results", kind)/<key>.json``, written atomically. The key
is a sha256 of everything that can change the result: the content of every input (embedding
tables: gene symbols and float32 bytes; pair frames; texts), the step's configuration, the
source code of the installed ``biobft`` package and the versions of the numerical libraries.
Editing any biobft module or upgrading scikit-learn therefore refits; an unreadable entry is
logged and recomputed, never trusted.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from .._paths import atomic_path, cache_dir

logger = logging.getLogger(__name__)

__all__ = ["cached_result", "content_key"]

T = TypeVar("T")

#: bump when the JSON layout of an entry changes
FORMAT_VERSION = 1


@lru_cache(maxsize=1)
def code_version() -> str:
    """sha256 of every ``biobft/**/*.py`` file plus numpy, pandas, scipy, scikit-learn versions."""
    import scipy
    import sklearn

    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    for mod in (np, pd, scipy, sklearn):
        h.update(f"{mod.__name__}={mod.__version__};".encode())
    return h.hexdigest()


def _strings(h: Any, values: Any) -> None:
    """Feed a sequence of labels (symbols, column names; ``None`` allowed) into ``h``."""
    items = ["\x00" if v is None else str(v) for v in values]
    h.update(f"S{len(items)};".encode() + "\x1f".join(items).encode() + b";")


def _update(h: Any, obj: Any) -> None:
    """Feed ``obj`` into the hash ``h`` with its type, so ``"1"`` and ``1`` differ."""
    if isinstance(obj, np.generic):
        obj = obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        h.update(b"J" + json.dumps(obj).encode() + b";")
    elif isinstance(obj, pd.DataFrame):
        h.update(f"D{obj.shape};".encode())
        _strings(h, obj.columns)
        _strings(h, obj.index)
        dtypes = set(obj.dtypes)
        if len(dtypes) == 1 and all(isinstance(t, np.dtype) and t.kind != "O" for t in dtypes):
            _update(h, obj.to_numpy())  # one block (an embedding table): hashed at once
        else:
            for col in range(obj.shape[1]):
                _update(h, obj.iloc[:, col].to_numpy())
    elif isinstance(obj, pd.Series):
        _update(h, obj.to_frame(name=str(obj.name)))
    elif isinstance(obj, pd.Index):
        _strings(h, obj)
    elif hasattr(obj, "tocsr") and hasattr(obj, "nnz"):  # a scipy.sparse matrix or array
        csr = obj.tocsr()
        h.update(f"C{csr.shape};".encode())
        for arr in (csr.data, csr.indices, csr.indptr):
            _update(h, np.asarray(arr))
    elif isinstance(obj, np.ndarray):
        if obj.dtype == object or obj.dtype.kind in "US":
            h.update(f"O{obj.shape};".encode())
            _strings(h, obj.ravel().tolist())
        else:
            arr = np.ascontiguousarray(obj)
            h.update(f"A{arr.dtype.str}{arr.shape};".encode())
            h.update(arr.tobytes())
    elif isinstance(obj, Mapping):
        h.update(f"M{len(obj)};".encode())
        for k in sorted(obj, key=str):
            _update(h, str(k))
            _update(h, obj[k])
    elif isinstance(obj, (list, tuple)):
        h.update(f"L{len(obj)};".encode())
        for v in obj:
            _update(h, v)
    else:
        raise TypeError(f"cannot key a {type(obj).__name__} (use tables, arrays, JSON values)")


def content_key(*parts: Any) -> str:
    """sha256 hex key of ``parts`` (tables, Series, arrays, dicts, lists, JSON scalars) + code.

    Parameters
    ----------
    *parts
        Everything the cached value depends on besides :func:`code_version`.

    Raises
    ------
    TypeError
        On a part of another type (its content could not be keyed faithfully).
    """
    h = hashlib.sha256(f"biobft-fitcache-{FORMAT_VERSION};{code_version()};".encode())
    _update(h, list(parts))
    return h.hexdigest()


def cached_result(
    kind: str,
    key: str,
    compute: Callable[[], T],
    *,
    dump: Callable[[T], Any],
    load: Callable[[Any], T],
    enabled: bool = True,
) -> tuple[T, bool]:
    """Return ``load(entry)`` when ``cache_dir("results", kind)/<key>.json`` exists, else compute.

    Parameters
    ----------
    kind
        Sub-folder (``"ggi"``, ``"perturbqa"``, ...).
    key
        :func:`content_key` of the inputs.
    compute
        Builds the value on a miss; it is stored as ``json.dumps(dump(value))``.
    dump, load
        JSON-ready record of a value, and back.
    enabled
        ``False``: always compute, read and write nothing.

    Returns
    -------
    ``(value, hit)``: ``hit`` is ``True`` when the value came from the cache.
    """
    if not enabled:
        return compute(), False
    path = cache_dir("results", kind) / f"{key}.json"
    if path.is_file():
        try:
            return load(json.loads(path.read_text())), True
        except Exception as err:  # a broken entry is recomputed, never trusted
            logger.warning("ignoring unreadable result cache entry %s (%s)", path, err)
    value = compute()
    try:
        text = json.dumps(dump(value))
    except (TypeError, ValueError) as err:  # not storable: the run goes on, uncached
        logger.warning("not caching this %s result (%s)", kind, err)
        return value, False
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return value, False


# ----------------------------------------------------------------------------- records
def frame_record(df: pd.DataFrame) -> dict[str, Any]:
    """A DataFrame as JSON: plain columns (str, int, float, bool, None), categoricals (their
    categories and order kept) and JSON-ready ``attrs``; the index is not kept."""
    cats = {
        str(c): [df[c].cat.categories.tolist(), bool(df[c].cat.ordered)]
        for c in df.columns
        if isinstance(df[c].dtype, pd.CategoricalDtype)
    }
    plain = df.astype({c: object for c in cats})
    return {
        "columns": [str(c) for c in df.columns],
        "data": [[v.item() if isinstance(v, np.generic) else v for v in r] for r in plain.values],
        "categoricals": cats,
        "attrs": df.attrs,
    }


def frame_from_record(rec: Mapping[str, Any]) -> pd.DataFrame:
    """Inverse of :func:`frame_record` (a RangeIndex)."""
    df = pd.DataFrame(rec["data"], columns=rec["columns"])
    for col, (categories, ordered) in rec.get("categoricals", {}).items():
        df[col] = pd.Categorical(df[col], categories=categories, ordered=ordered)
    df.attrs.update(rec["attrs"])
    return df


def ggi_record(res: Any) -> dict[str, Any]:
    """A :class:`~biobft.ggi.GGIResult` as JSON (ROC curves included, fitted model left out)."""
    return res.to_dict(curves=True)


def ggi_from_record(rec: Mapping[str, Any]) -> Any:
    """Inverse of :func:`ggi_record`; ``model`` is ``None`` (the fit was not repeated)."""
    from dataclasses import fields

    from ..ggi import GGIResult

    names = {f.name for f in fields(GGIResult)} - {"curves", "model"}
    curves = {k: {kk: np.asarray(vv) for kk, vv in v.items()} for k, v in rec["curves"].items()}
    return GGIResult(**{k: rec[k] for k in names}, curves=curves)
