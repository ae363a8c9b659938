from __future__ import annotations

import json
from dataclasses import fields

import numpy as np
import pandas as pd
import pytest

from biobft.embed.table import make_table
from biobft.ggi import GGIResult, evaluate_pairs
from biobft.ggi._synthetic import planted
from biobft.report.fitcache import (
    cached_result,
    content_key,
    frame_from_record,
    frame_record,
    ggi_from_record,
    ggi_record,
)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BIOBFT_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "results"


def _table(seed=0, n=20, d=8):
    rng = np.random.default_rng(seed)
    return make_table(rng.normal(size=(n, d)), [f"G{i}" for i in range(n)], model="m", source="s")


def test_content_key_follows_every_input():
    t = _table()
    base = content_key(t, {"C": 1e-4}, "sum")
    assert content_key(_table(), {"C": 1e-4}, "sum") == base  # same content, same key
    other = t.copy()
    other.attrs = {"biobft": {"model": "other", "seconds": 9.0}}  # provenance is not content
    assert content_key(other, {"C": 1e-4}, "sum") == base
    one = t.copy()
    one.iloc[3, 5] = np.nextafter(one.iloc[3, 5], np.float32(np.inf), dtype=np.float32)
    renamed = t.rename(index={"G3": "G99"})
    changes = [
        content_key(one, {"C": 1e-4}, "sum"),  # one float32 ulp
        content_key(renamed, {"C": 1e-4}, "sum"),  # one gene symbol
        content_key(t.iloc[::-1], {"C": 1e-4}, "sum"),  # row order
        content_key(t, {"C": 1e-3}, "sum"),  # configuration
        content_key(t, {"C": 1e-4}, "sum+hadamard"),
        content_key(t, {"C": 1e-4}, "sum", None),  # an absent optional input
        content_key(t.astype(np.float64), {"C": 1e-4}, "sum"),  # dtype
    ]
    assert len({base, *changes}) == len(changes) + 1
    # values of different types never collide
    assert content_key("1") != content_key(1) != content_key(1.0) != content_key(True)
    assert content_key(["a", "b"]) != content_key(["a\x1fb"]) != content_key(["ab"])
    pairs = pd.DataFrame({"gene_a": ["A", "B"], "gene_b": ["C", "D"], "label": [1, 0]})
    flipped = pairs.assign(label=[0, 1])
    assert content_key(pairs) != content_key(flipped)
    with pytest.raises(TypeError, match="cannot key a object"):
        content_key(object())


def test_cached_result_computes_once_and_reuses(cache):
    calls = []

    def compute():
        calls.append(1)
        return {"auc": 0.8125, "n": 3}

    kw = dict(dump=lambda v: v, load=lambda r: r)
    v1, hit1 = cached_result("k", "abc", compute, **kw)
    v2, hit2 = cached_result("k", "abc", compute, **kw)
    assert (hit1, hit2) == (False, True) and v1 == v2 and len(calls) == 1
    assert json.loads((cache / "k" / "abc.json").read_text()) == v1
    assert [p.name for p in (cache / "k").iterdir()] == ["abc.json"]  # no temp file left
    # another key is another entry
    assert cached_result("k", "abd", compute, **kw) == (v1, False) and len(calls) == 2
    # disabled: always computes, never writes
    assert cached_result("k", "xyz", compute, enabled=False, **kw) == (v1, False)
    assert len(calls) == 3 and not (cache / "k" / "xyz.json").exists()


def test_broken_entry_is_recomputed_not_trusted(cache, caplog):
    kw = dict(dump=lambda v: v, load=lambda r: r["auc"])
    path = cache / "k" / "abc.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"auc": 0.9')  # truncated
    value, hit = cached_result("k", "abc", lambda: {"auc": 0.75}, **kw)
    assert hit is False and value == {"auc": 0.75} and "unreadable" in caplog.text
    path.write_text('{"other": 1}')  # valid JSON of the wrong shape: load raises
    assert cached_result("k", "abc", lambda: {"auc": 0.5}, **kw) == ({"auc": 0.5}, False)
    assert cached_result("k", "abc", lambda: {"auc": 0.1}, **kw) == (0.5, True)


def test_frame_record_round_trip():
    df = pd.DataFrame(
        {
            "predictor": ["knn", "random (knn)"],
            "n": np.array([3, 4], dtype=np.int64),
            "auc": [0.625, float("nan")],
            "ok": [True, False],
            "params": ["{'k': 5}", "{}"],
        }
    )
    df.attrs = {"per_gene": {"knn": {"G1": 0.5}}, "best": "knn"}
    back = frame_from_record(json.loads(json.dumps(frame_record(df))))
    pd.testing.assert_frame_equal(back, df)
    assert back.attrs == df.attrs


def test_ggi_record_round_trip_is_exact():
    table, pairs, _ = planted(n_genes=120, d=8, n_pairs=1500, seed=1)
    genes = table.index[:30]
    test_mask = pairs.gene_a.isin(genes) & pairs.gene_b.isin(genes)
    train = pairs[~pairs.gene_a.isin(genes) & ~pairs.gene_b.isin(genes)]
    res = evaluate_pairs(table, train, pairs[test_mask], valid=pairs[test_mask], seed=0)
    back = ggi_from_record(json.loads(json.dumps(ggi_record(res))))
    assert isinstance(back, GGIResult) and back.model is None
    for f in fields(GGIResult):
        if f.name not in ("curves", "model"):
            assert getattr(back, f.name) == getattr(res, f.name), f.name
    assert set(back.curves) == set(res.curves) == {"model", "random"}
    for name, curve in res.curves.items():
        for axis in ("fpr", "tpr"):
            np.testing.assert_array_equal(back.curves[name][axis], curve[axis])
    assert back.summary() == res.summary()


def test_unstorable_value_is_returned_uncached(cache, caplog):
    value, hit = cached_result("k", "abc", lambda: {"x": object()}, dump=lambda v: v, load=dict)
    assert hit is False and set(value) == {"x"} and "not caching" in caplog.text
    assert not (cache / "k").exists() or not any((cache / "k").iterdir())


def test_frame_record_keeps_categoricals():
    df = pd.DataFrame(
        {
            "group": pd.Categorical(["double", "single", "single"], ["single", "double"]),
            "fallback": [None, "mean", None],
            "pearson": [0.25, np.nan, -1.0],
        }
    )
    back = frame_from_record(json.loads(json.dumps(frame_record(df))))
    pd.testing.assert_frame_equal(back, df)
    # the category order (not the alphabet) still orders a groupby
    assert list(back.groupby("group", observed=True).size().index) == ["single", "double"]


def test_content_key_of_sparse_matrices():
    from scipy import sparse

    dense = np.array([[0, 1.5, 0], [2.0, 0, 0]], dtype=np.float32)
    base = content_key(sparse.csr_matrix(dense))
    assert content_key(sparse.csc_matrix(dense)) == base  # same content, another layout
    dense[1, 2] = 1e-30
    assert content_key(sparse.csr_matrix(dense)) != base
