"""Content-addressed, resumable cache of text embeddings.

One folder per encoder configuration (``cache_dir("embeddings", key)``, key = sha256 of model id,
the backend and precision that ran, pooling, max length, layer, normalisation). Each finished
chunk of texts is one ``shard-*.npz`` file (``hashes``: sha256 of each text, ``vectors``:
float32), written to a temporary file and renamed, so an interrupted run leaves only complete
shards; unreadable or inconsistent shards are skipped (and logged), never read as vectors.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._paths import atomic_path, cache_dir

logger = logging.getLogger(__name__)

__all__ = ["EmbeddingCache", "ShardCache", "text_hash"]


def text_hash(text: str) -> str:
    """sha256 hex digest of a text (UTF-8)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ShardCache:
    """A folder of finished shards for one configuration (``cache_dir(kind, key)``).

    The key is a sha256 of the JSON ``config``; the config is stored beside the shards. Subclasses
    define the shard format (:attr:`suffix`) and how shards are read and written.

    Parameters
    ----------
    config
        JSON-serialisable description of everything that changes the cached values.
    root
        Folder under which the configuration's folder lives; default ``cache_dir(kind)``.
    """

    kind = "shards"
    suffix = ".npz"

    def __init__(self, config: dict[str, Any], root: str | Path | None = None) -> None:
        self.config = dict(config)
        blob = json.dumps(self.config, sort_keys=True, default=str)
        self.key = hashlib.sha256(blob.encode()).hexdigest()[:24]
        base = Path(root) if root is not None else cache_dir(self.kind)
        self.path = base / self.key
        self.path.mkdir(parents=True, exist_ok=True)
        meta = self.path / "config.json"
        if not meta.is_file():
            with atomic_path(meta) as tmp:
                tmp.write_text(json.dumps(self.config, sort_keys=True, indent=1, default=str))

    def shards(self) -> list[Path]:
        """The finished shard files."""
        return sorted(self.path.glob(f"shard-*{self.suffix}"))


class EmbeddingCache(ShardCache):
    """Shards of ``text hash -> vector`` for one encoder configuration.

    Parameters
    ----------
    config
        JSON-serialisable description of everything that changes the vectors.
    root
        Folder under which the configuration's folder lives; default ``cache_dir("embeddings")``.
    """

    kind = "embeddings"
    suffix = ".npz"

    def load(self) -> dict[str, np.ndarray]:
        """All cached vectors as ``{text hash: vector}`` (corrupt shards skipped)."""
        out: dict[str, np.ndarray] = {}
        for shard in self.shards():
            try:
                with np.load(shard, allow_pickle=False) as data:
                    hashes = data["hashes"]
                    vectors = data["vectors"]
                if (
                    hashes.ndim != 1
                    or vectors.ndim != 2
                    or len(hashes) != len(vectors)
                    or vectors.dtype != np.float32
                    or not np.isfinite(vectors).all()
                ):
                    raise ValueError("inconsistent arrays")
            except Exception as err:
                logger.warning("skipping unreadable embedding cache shard %s (%s)", shard, err)
                continue
            for h, v in zip(hashes.astype(str), vectors):
                out[h] = v
        return out

    def write(self, hashes: Sequence[str], vectors: np.ndarray) -> Path:
        """Write one shard atomically; returns its path."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if len(hashes) != len(vectors):
            raise ValueError(f"{len(hashes)} hashes for {len(vectors)} vectors")
        name = hashlib.sha256("".join(hashes).encode()).hexdigest()[:20]
        target = self.path / f"shard-{name}.npz"
        with atomic_path(target) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, hashes=np.asarray(hashes, dtype="S64"), vectors=vectors)
        return target
