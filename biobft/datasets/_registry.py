"""The dataset registry shipped inside the package (``registry.toml``)."""

from __future__ import annotations

import difflib
import sys
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

_FIELDS = ("path", "url", "sha256", "license", "citation", "description")


@dataclass(frozen=True)
class DatasetFile:
    """One registered upstream file.

    Attributes
    ----------
    name
        Registry key, e.g. ``"gene2vec_test_text"``.
    path
        Relative path inside a mirror folder and inside the download cache.
    url
        Raw upstream URL at the pinned commit.
    sha256
        Expected SHA-256 hex digest of the file's bytes.
    license, citation, description
        Provenance, as free text.
    """

    name: str
    path: str
    url: str
    sha256: str
    license: str
    citation: str
    description: str


@lru_cache(maxsize=1)
def registry() -> dict[str, DatasetFile]:
    """All registered files, ``{name: DatasetFile}`` in registry order."""
    text = resources.files("biobft.datasets").joinpath("registry.toml").read_text("utf-8")
    raw = tomllib.loads(text)
    out: dict[str, DatasetFile] = {}
    for name, entry in raw.items():
        missing = [f for f in _FIELDS if f not in entry]
        if missing:  # pragma: no cover - guarded by tests/datasets/test_registry.py
            raise ValueError(f"registry.toml entry {name!r} lacks field(s) {missing}")
        out[name] = DatasetFile(name=name, **{f: str(entry[f]) for f in _FIELDS})
    return out


def get_entry(name: str) -> DatasetFile:
    """The registry entry ``name``; an unknown name raises a KeyError listing valid names."""
    reg = registry()
    if not isinstance(name, str):
        raise TypeError(f"dataset name must be a str, got {type(name).__name__}")
    try:
        return reg[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(reg), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise KeyError(f"unknown dataset {name!r}.{hint} Valid names: {', '.join(reg)}") from None
