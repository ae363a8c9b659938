"""Find a registered file, verify its sha256 and return its path.

Look-up order: the mirror folder (``$BIOBFT_DATA_DIR``, else ``../shared/data`` next to a source
checkout) -> the download cache (``$BIOBFT_CACHE_DIR/downloads``, else the platform user cache)
-> download from the registered upstream URL into the cache (written atomically, verified before
it is renamed into place). A file is hashed at most once per process for a given
``(path, size, mtime)``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from biobft._paths import atomic_path, cache_dir, mirror_dir

from ._registry import DatasetFile, get_entry, registry

logger = logging.getLogger(__name__)

__all__ = ["ChecksumError", "fetch", "file_sha256", "list_datasets", "verify"]

_CHUNK = 1 << 20
_HASH_MEMO: dict[tuple[str, int, int], str] = {}
_ENV_HINT = (
    "Set BIOBFT_DATA_DIR to a folder that holds the registered files (e.g. a copy of the "
    "project's ../shared/data mirror), or BIOBFT_CACHE_DIR to a writable cache folder."
)


class ChecksumError(ValueError):
    """A file's sha256 differs from the registered one."""


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 hex digest of a file, memoised per process on ``(path, size, mtime_ns)``."""
    path = Path(path).resolve()
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    digest = _HASH_MEMO.get(key)
    if digest is None:
        h = hashlib.sha256()
        with path.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                h.update(chunk)
        digest = h.hexdigest()
        _HASH_MEMO[key] = digest
    return digest


def _candidates(entry: DatasetFile) -> list[tuple[str, Path]]:
    """Existing local copies of ``entry`` in look-up order, as ``(where, path)``."""
    out = []
    mirror = mirror_dir()
    if mirror is not None and (mirror / entry.path).is_file():
        out.append(("mirror", mirror / entry.path))
    cached = _cache_path(entry)
    if cached.is_file():
        out.append(("cache", cached))
    return out


def _cache_path(entry: DatasetFile) -> Path:
    return cache_dir("downloads") / entry.path


def _mismatch(entry: DatasetFile, path: Path | str, actual: str, where: str) -> ChecksumError:
    fixes = {
        "cache": f"delete {path} and rerun to download it again",
        "download": "nothing was written; retry, or put a verified copy in the mirror folder",
        "mirror": "replace it with the upstream file",
    }
    return ChecksumError(
        f"sha256 mismatch for dataset {entry.name!r} ({where} {path}): expected "
        f"{entry.sha256}, got {actual}. The file is corrupt or a different version: "
        f"{fixes[where]} (upstream URL: {entry.url}). {_ENV_HINT}"
    )


def _download(entry: DatasetFile, target: Path, timeout: float) -> Path:
    """Download ``entry.url`` to ``target`` atomically; verify the sha256 before renaming."""
    logger.info("downloading %s from %s", entry.name, entry.url)
    h = hashlib.sha256()
    with atomic_path(target) as tmp:
        try:
            with urllib.request.urlopen(entry.url, timeout=timeout) as resp, tmp.open("wb") as out:
                while chunk := resp.read(_CHUNK):
                    h.update(chunk)
                    out.write(chunk)
        except (urllib.error.URLError, OSError, ValueError) as err:
            raise FileNotFoundError(
                f"dataset {entry.name!r} ({entry.path}, sha256 {entry.sha256}) is not in the "
                f"mirror or the cache, and downloading {entry.url} failed: {err}. {_ENV_HINT}"
            ) from err
        actual = h.hexdigest()
        if actual != entry.sha256:
            raise _mismatch(entry, entry.url, actual, "download")
    st = target.stat()
    _HASH_MEMO[(str(target.resolve()), st.st_size, st.st_mtime_ns)] = actual
    return target


def fetch(name: str, *, download: bool = True, timeout: float = 60.0) -> Path:
    """Local path of a verified registered file.

    Parameters
    ----------
    name
        Registry name (see :func:`list_datasets`), e.g. ``"gene2vec_test_text"``.
    download
        Download from the upstream URL into the cache when no local copy exists.
    timeout
        Network time-out in seconds for the download.

    Returns
    -------
    Path
        A file whose sha256 equals the registered one.

    Raises
    ------
    KeyError
        Unknown ``name`` (the message lists valid names and close matches).
    ChecksumError
        (a ``ValueError``) The first local copy found, or the download, has another sha256.
    FileNotFoundError
        No local copy and the download is disabled or fails.
    """
    entry = get_entry(name)
    for where, path in _candidates(entry):
        actual = file_sha256(path)
        if actual != entry.sha256:
            raise _mismatch(entry, path, actual, where)
        logger.debug("dataset %s found in %s: %s", name, where, path)
        return path
    if not download:
        raise FileNotFoundError(
            f"dataset {entry.name!r} ({entry.path}, sha256 {entry.sha256}) is in neither the "
            f"mirror ({mirror_dir()}) nor the cache; download it from {entry.url} or rerun "
            f"with download=True. {_ENV_HINT}"
        )
    return _download(entry, _cache_path(entry), timeout)


def _where(entry: DatasetFile) -> tuple[str, Path | None]:
    found = _candidates(entry)
    return found[0] if found else ("missing", None)


def list_datasets() -> pd.DataFrame:
    """All registered files and where a local copy is (no hashing).

    Returns
    -------
    DataFrame
        One row per registry entry; columns ``name``, ``path`` (relative), ``license``,
        ``description``, ``url``, ``sha256``, ``found`` (``"mirror"``, ``"cache"`` or
        ``"missing"``) and ``location`` (absolute path, or ``None``).
    """
    rows = []
    for entry in registry().values():
        where, path = _where(entry)
        rows.append(
            {
                "name": entry.name,
                "path": entry.path,
                "license": entry.license,
                "description": entry.description,
                "url": entry.url,
                "sha256": entry.sha256,
                "found": where,
                "location": str(path) if path else None,
            }
        )
    return pd.DataFrame(rows)


def verify(names: str | Iterable[str] | None = None) -> pd.DataFrame:
    """Hash local copies of registered files (never downloads).

    Parameters
    ----------
    names
        Registry names to check; all when ``None``. Unknown names raise a KeyError first.

    Returns
    -------
    DataFrame
        Columns ``name``, ``status`` (``"ok"``, ``"missing"`` or ``"mismatch"``), ``found``
        (``"mirror"``, ``"cache"`` or ``"missing"``), ``path``, ``expected``, ``actual``.
    """
    if names is None:
        entries = list(registry().values())
    else:
        names = [names] if isinstance(names, str) else list(names)
        entries = [get_entry(n) for n in names]  # all KeyErrors before any hashing
    rows = []
    for entry in entries:
        where, path = _where(entry)
        actual = file_sha256(path) if path is not None else None
        status = "missing" if path is None else ("ok" if actual == entry.sha256 else "mismatch")
        rows.append(
            {
                "name": entry.name,
                "status": status,
                "found": where,
                "path": str(path) if path else None,
                "expected": entry.sha256,
                "actual": actual,
            }
        )
    return pd.DataFrame(rows)
