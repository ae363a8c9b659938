"""Fixtures for biobft.datasets tests: a toy registry entry with tmp mirror / cache folders."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from biobft.datasets import DatasetFile, registry

TOY_BYTES = b"GENE1 GENE2\nGENE3 GENE4\n"


@pytest.fixture
def toy_entry(tmp_path, monkeypatch) -> DatasetFile:
    """A registered toy file ``toy_pairs`` with an empty tmp mirror and an empty tmp cache.

    The file's bytes are :data:`TOY_BYTES`; its URL points at ``tmp_path/upstream/...`` (file://),
    which exists, so a download succeeds without network.
    """
    upstream = tmp_path / "upstream" / "toy" / "pairs.txt"
    upstream.parent.mkdir(parents=True)
    upstream.write_bytes(TOY_BYTES)
    entry = DatasetFile(
        name="toy_pairs",
        path="toy/pairs.txt",
        url=upstream.as_uri(),
        sha256=hashlib.sha256(TOY_BYTES).hexdigest(),
        license="CC0",
        citation="nobody",
        description="toy pairs",
    )
    monkeypatch.setitem(registry(), entry.name, entry)
    (tmp_path / "mirror").mkdir()
    monkeypatch.setenv("BIOBFT_DATA_DIR", str(tmp_path / "mirror"))
    monkeypatch.setenv("BIOBFT_CACHE_DIR", str(tmp_path / "cache"))
    return entry


@pytest.fixture
def toy_bytes() -> bytes:
    """The toy file's content."""
    return TOY_BYTES


@pytest.fixture
def toy_dirs(toy_entry, tmp_path) -> dict[str, Path]:
    """Where the toy file would live: mirror, cache and upstream paths."""
    return {
        "mirror": tmp_path / "mirror" / toy_entry.path,
        "cache": tmp_path / "cache" / "downloads" / toy_entry.path,
        "upstream": tmp_path / "upstream" / toy_entry.path,
    }
