"""Where biobft looks for data and writes caches.

- Mirror folder: ``$BIOBFT_DATA_DIR``, else ``../shared/data`` next to a source checkout.
- Cache folder: ``$BIOBFT_CACHE_DIR``, else the platform user cache dir (``~/.cache/biobft``).
- :func:`read_csv_symbols`: a user's CSV / TSV read with its gene-symbol columns kept verbatim.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
from platformdirs import user_cache_dir

REPO_ROOT = Path(__file__).resolve().parents[1]


def mirror_dir() -> Path | None:
    """The local data mirror, or ``None`` when there is none."""
    env = os.environ.get("BIOBFT_DATA_DIR")
    if env:
        return Path(env).expanduser()
    default = REPO_ROOT.parent / "shared" / "data"
    return default if default.is_dir() else None


def cache_dir(*parts: str) -> Path:
    """The user cache folder (created), optionally a sub-folder of it."""
    env = os.environ.get("BIOBFT_CACHE_DIR")
    root = Path(env).expanduser() if env else Path(user_cache_dir("biobft"))
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; rename it onto ``target`` only on success.

    An interrupted write never leaves a partial ``target`` behind.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    tmp_path = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    try:
        yield tmp_path
        if tmp_path.is_file():  # mkstemp makes 0600 files: give the usual permissions
            tmp_path.chmod(0o666 & ~umask)
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


#: pandas' default missing-value spellings (``pandas.read_csv(na_values=...)`` docs)
PANDAS_NA = (
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
)  # fmt: skip


def read_csv_symbols(
    path: str | os.PathLike,
    *,
    symbols: tuple[str, ...] = (),
    sep: str = ",",
    index_col: int | None = None,
) -> pd.DataFrame:
    """Read a CSV / TSV keeping gene-symbol columns as written (``NA``, ``NULL``, ``nan``).

    ``pandas.read_csv`` turns the strings ``NA``, ``NULL``, ``None``, ``nan`` (and more) into NaN
    in every column, so a gene called ``NA`` (Gene2vec names one 209 times) silently becomes a
    missing value or the string ``"nan"``. Here the columns named in ``symbols`` and the index
    column are read as ``str`` with no missing-value parsing; every other column keeps pandas'
    default missing values (:data:`PANDAS_NA`), so an empty or ``NaN`` number is still NaN and
    the caller's checks refuse it.

    Parameters
    ----------
    path
        ``.csv`` / ``.tsv`` file.
    symbols
        Columns that hold gene symbols or labels (absent names are ignored).
    sep
        Field separator.
    index_col
        Position of the index column (read verbatim too), or ``None``.

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    pandas.errors.EmptyDataError, pandas.errors.ParserError
        As :func:`pandas.read_csv`.
    """
    header = [str(c) for c in pd.read_csv(path, sep=sep, nrows=0).columns]
    keep = {c for c in header if c in set(symbols)}
    if index_col is not None and header:
        keep.add(header[index_col])
    na = {c: list(PANDAS_NA) for c in header if c not in keep}
    # the index is set afterwards: pandas' index_col with per-column na_values fails on an
    # unnamed index column (an empty first header cell, what df.to_csv() writes)
    df = pd.read_csv(path, sep=sep, keep_default_na=False, na_values=na,
                     dtype={c: str for c in keep})  # fmt: skip
    if index_col is None:
        return df
    name = df.columns[index_col]
    df = df.set_index(name)
    if str(name).startswith("Unnamed: "):  # pandas' label for an empty header cell
        df.index.name = None
    return df
