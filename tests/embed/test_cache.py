from __future__ import annotations

import numpy as np
import pytest

from biobft.embed.cache import EmbeddingCache, text_hash


def test_corrupt_shard_is_skipped(tmp_path):
    store = EmbeddingCache({"model": "x"}, root=tmp_path)
    store.write(["a" * 64, "b" * 64], np.ones((2, 3), dtype=np.float32))
    (store.path / "shard-broken.npz").write_bytes(b"not a zip file")
    np.savez(
        store.path / "shard-nan.npz",
        hashes=np.asarray(["c" * 64], dtype="S64"),
        vectors=np.full((1, 3), np.nan, dtype=np.float32),
    )
    loaded = store.load()
    assert sorted(loaded) == ["a" * 64, "b" * 64]
    np.testing.assert_array_equal(loaded["a" * 64], np.ones(3, dtype=np.float32))
    assert EmbeddingCache({"model": "x"}, root=tmp_path).path == store.path
    assert EmbeddingCache({"model": "y"}, root=tmp_path).path != store.path


def test_roundtrip_and_hash(tmp_path):
    import hashlib

    assert text_hash("TP53") == hashlib.sha256(b"TP53").hexdigest()
    store = EmbeddingCache({"model": "x", "pooling": "mean"}, root=tmp_path)
    vecs = np.arange(6, dtype=np.float64).reshape(2, 3)
    shard = store.write([text_hash("a"), text_hash("b")], vecs)
    assert shard in store.shards() and not list(store.path.glob("*.tmp"))
    loaded = store.load()
    np.testing.assert_array_equal(loaded[text_hash("b")], np.array([3, 4, 5], dtype=np.float32))
    with pytest.raises(ValueError, match="2 hashes for 1 vectors"):
        store.write(["a", "b"], np.zeros((1, 3)))
