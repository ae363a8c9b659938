from __future__ import annotations

import numpy as np
import pandas as pd

from biobft.datasets import _cache


def test_roundtrip_keeps_attrs_and_dtypes(tmp_path, monkeypatch):
    monkeypatch.setenv("BIOBFT_CACHE_DIR", str(tmp_path))
    df = pd.DataFrame({"a": np.array([1, 2], np.int64), "s": ["x", "y"], "f": np.float32([1, 2])})
    df.attrs["report"] = {"n": 2, "ex": [1, 2]}
    calls = []

    def build():
        calls.append(1)
        return df

    first = _cache.cached_frame("toy", ("k1",), build)
    second = _cache.cached_frame("toy", ("k1",), build)
    assert calls == [1]
    pd.testing.assert_frame_equal(first, df)
    pd.testing.assert_frame_equal(second, df)
    assert second.attrs == {"report": {"n": 2, "ex": [1, 2]}}
    # another key -> another file, built again
    _cache.cached_frame("toy", ("k2",), build)
    assert calls == [1, 1]
    assert len(list((tmp_path / "parsed").glob("toy-*.parquet"))) == 2
    assert not list((tmp_path / "parsed").glob(".*tmp"))


def test_corrupt_cache_is_rebuilt(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("BIOBFT_CACHE_DIR", str(tmp_path))
    path = _cache.parsed_cache_path("toy", "k")
    path.write_bytes(b"not parquet")
    out = _cache.cached_frame("toy", ("k",), lambda: pd.DataFrame({"a": [1]}))
    assert out["a"].tolist() == [1]
    assert "rebuilding" in caplog.text
    assert _cache.read_frame(path)["a"].tolist() == [1]
