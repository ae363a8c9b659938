from __future__ import annotations

import hashlib
import os
from dataclasses import replace

import pytest

from biobft.datasets import (
    ChecksumError,
    _fetch,
    fetch,
    file_sha256,
    list_datasets,
    registry,
    verify,
)

TOY_BYTES = b"GENE1 GENE2\nGENE3 GENE4\n"  # same as conftest.TOY_BYTES (checked below)


def _place(path, data=TOY_BYTES):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_mirror_first(toy_entry, toy_dirs, toy_bytes):
    assert toy_bytes == TOY_BYTES
    _place(toy_dirs["mirror"])
    _place(toy_dirs["cache"])
    assert fetch(toy_entry.name) == toy_dirs["mirror"]


def test_cache_second(toy_entry, toy_dirs):
    _place(toy_dirs["cache"])
    assert fetch(toy_entry.name) == toy_dirs["cache"]


def test_download_third_into_cache(toy_entry, toy_dirs):
    assert not toy_dirs["cache"].exists()
    path = fetch(toy_entry.name)
    assert path == toy_dirs["cache"]
    assert path.read_bytes() == TOY_BYTES
    # no temporary files are left next to the download
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]
    # a second fetch finds it in the cache (the upstream copy is gone now)
    toy_dirs["upstream"].unlink()
    assert fetch(toy_entry.name) == toy_dirs["cache"]


def test_download_hash_mismatch_writes_nothing(toy_entry, toy_dirs):
    toy_dirs["upstream"].write_bytes(b"tampered\n")
    actual = hashlib.sha256(b"tampered\n").hexdigest()
    with pytest.raises(ChecksumError, match=rf"expected {toy_entry.sha256}, got {actual}"):
        fetch(toy_entry.name)
    cache = toy_dirs["cache"].parent
    assert not cache.exists() or list(cache.iterdir()) == []


def test_download_failure_is_one_clear_error(toy_entry, toy_dirs):
    toy_dirs["upstream"].unlink()
    with pytest.raises(FileNotFoundError) as err:
        fetch(toy_entry.name)
    msg = str(err.value)
    for part in ("toy_pairs", toy_entry.sha256, toy_entry.url, "BIOBFT_DATA_DIR"):
        assert part in msg
    assert not toy_dirs["cache"].exists()


def test_no_download(toy_entry, toy_dirs):
    with pytest.raises(FileNotFoundError, match="BIOBFT_DATA_DIR"):
        fetch(toy_entry.name, download=False)
    assert not toy_dirs["cache"].exists()


def test_corrupt_mirror_raises_with_both_hashes(toy_entry, toy_dirs):
    bad = b"GENE1 GENE2\nGENE3 GENE5\n"
    _place(toy_dirs["mirror"], bad)
    _place(toy_dirs["cache"])  # a good cached copy does not mask a corrupt mirror
    actual = hashlib.sha256(bad).hexdigest()
    with pytest.raises(ChecksumError) as err:
        fetch(toy_entry.name)
    msg = str(err.value)
    for part in (str(toy_dirs["mirror"]), toy_entry.sha256, actual, toy_entry.url):
        assert part in msg
    assert "BIOBFT_DATA_DIR" in msg
    assert isinstance(err.value, ValueError)


def test_corrupt_real_file_copy(data_mirror, tmp_path, monkeypatch):
    """A corrupted copy of a real small file in a tmp mirror is rejected before parsing."""
    entry = registry()["gene2vec_valid_label"]
    text = registry()["gene2vec_valid_text"]
    data = (data_mirror / entry.path).read_bytes()
    target = tmp_path / "mirror" / entry.path
    target.parent.mkdir(parents=True)
    (tmp_path / "mirror" / text.path).write_bytes((data_mirror / text.path).read_bytes())
    target.write_bytes(data[:-2] + (b"1\n" if data[-2:] == b"0\n" else b"0\n"))
    monkeypatch.setenv("BIOBFT_DATA_DIR", str(tmp_path / "mirror"))
    monkeypatch.setenv("BIOBFT_CACHE_DIR", str(tmp_path / "cache"))
    from biobft.datasets import gene2vec_pairs

    with pytest.raises(ChecksumError, match=f"expected {entry.sha256}"):
        gene2vec_pairs("valid")


def test_unknown_name_lists_valid_and_close_matches():
    with pytest.raises(KeyError, match=r"Did you mean 'gene2vec_test_text'.*Valid names: "):
        fetch("gene2vec_tset_text")
    with pytest.raises(KeyError, match="kang2018"):
        fetch("no_such_dataset")
    with pytest.raises(TypeError, match="must be a str"):
        fetch(3)


def test_file_sha256_memoised(tmp_path, monkeypatch):
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")
    want_abc, want_abcd = (hashlib.sha256(x).hexdigest() for x in (b"abc", b"abcd"))
    assert file_sha256(path) == want_abc
    calls = []
    real = hashlib.sha256
    monkeypatch.setattr(_fetch.hashlib, "sha256", lambda *a: calls.append(1) or real(*a))
    assert file_sha256(path) == want_abc
    assert calls == []  # memoised: not hashed again
    path.write_bytes(b"abcd")  # size (and mtime) change -> hashed again
    os.utime(path, ns=(1, 1))
    assert file_sha256(path) == want_abcd
    assert calls == [1]


def test_list_and_verify(toy_entry, toy_dirs, monkeypatch):
    second = replace(toy_entry, name="toy_missing", path="toy/missing.txt")
    third = replace(toy_entry, name="toy_bad", path="toy/bad.txt")
    monkeypatch.setitem(registry(), second.name, second)
    monkeypatch.setitem(registry(), third.name, third)
    _place(toy_dirs["cache"])
    _place(toy_dirs["mirror"].parent / "bad.txt", b"bad")

    listed = list_datasets().set_index("name")
    assert listed.loc["toy_pairs", "found"] == "cache"
    assert listed.loc["toy_missing", "found"] == "missing"
    assert listed.loc["toy_bad", "found"] == "mirror"
    assert {"path", "license", "description"} <= set(listed.columns)

    res = verify(["toy_pairs", "toy_missing", "toy_bad"]).set_index("name")
    assert res["status"].to_dict() == {
        "toy_pairs": "ok",
        "toy_missing": "missing",
        "toy_bad": "mismatch",
    }
    assert res.loc["toy_bad", "actual"] == hashlib.sha256(b"bad").hexdigest()
    assert verify("toy_pairs")["status"].tolist() == ["ok"]
    with pytest.raises(KeyError, match="unknown dataset"):
        verify(["toy_pairs", "nope"])


def test_verify_real_mirror(data_mirror):
    res = verify()
    assert len(res) == len(registry()) == 19
    assert (res["status"] == "ok").all(), res.loc[res["status"] != "ok"]
