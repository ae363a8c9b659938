from __future__ import annotations

import numpy as np
import pytest

from biobft.datasets import gene2vec, gene2vec_pairs


@pytest.mark.parametrize(("split", "n"), [("train", 263_016), ("valid", 5_568), ("test", 21_448)])
def test_real_splits(data_mirror, split, n):
    df = gene2vec_pairs(split)
    assert list(df.columns) == ["gene_a", "gene_b", "label"]
    assert len(df) == n
    assert df["label"].dtype == np.int8
    assert set(df["label"].unique()) == {0, 1}
    assert df["gene_a"].map(type).eq(str).all()
    # file order and raw pairs: compare with a naive read of the mirror files
    texts = (data_mirror / f"gene2vec/{split}_text.txt").read_text().splitlines()
    labels = (data_mirror / f"gene2vec/{split}_label.txt").read_text().split()
    for i in (0, n // 2, n - 1):
        a, b = texts[i].split(" ")
        assert (df.at[i, "gene_a"], df.at[i, "gene_b"], df.at[i, "label"]) == (a, b, int(labels[i]))


def test_real_first_test_pair_and_raw_rows_kept(data_mirror):
    df = gene2vec_pairs("test")
    assert df.iloc[0].tolist() == ["ALDOB", "SIGMAR1", 0]
    assert (df["gene_a"] == df["gene_b"]).sum() > 0  # self-pairs are kept
    assert df.duplicated(["gene_a", "gene_b"]).sum() > 0  # duplicates are kept


def test_real_splits_share_no_genes(data_mirror):
    genes = {
        s: set(gene2vec_pairs(s)[["gene_a", "gene_b"]].to_numpy().ravel())
        for s in ("valid", "test")
    }
    assert not genes["valid"] & genes["test"]


def _fake_fetch(tmp_path, text: str, label: str):
    files = {"text": tmp_path / "t.txt", "label": tmp_path / "l.txt"}
    files["text"].write_text(text)
    files["label"].write_text(label)
    return lambda name: files[name.rsplit("_", 1)[-1]]


def test_parser_on_toy_files(tmp_path, monkeypatch):
    monkeypatch.setattr(gene2vec, "fetch", _fake_fetch(tmp_path, "A B\nC C\nA B\n", "1\n0\n0\n"))
    df = gene2vec_pairs("valid")
    assert df.to_dict("list") == {
        "gene_a": ["A", "C", "A"],
        "gene_b": ["B", "C", "B"],
        "label": [1, 0, 0],
    }


def test_line_count_mismatch(tmp_path, monkeypatch):
    monkeypatch.setattr(gene2vec, "fetch", _fake_fetch(tmp_path, "A B\nC D\n", "1\n"))
    with pytest.raises(ValueError, match=r"has 2 lines but .* has 1"):
        gene2vec_pairs("test")


def test_malformed_lines(tmp_path, monkeypatch):
    monkeypatch.setattr(gene2vec, "fetch", _fake_fetch(tmp_path, "A B\nC\n", "1\n0\n"))
    with pytest.raises(ValueError, match="line 2: 'C'"):
        gene2vec_pairs("test")
    monkeypatch.setattr(gene2vec, "fetch", _fake_fetch(tmp_path, "A B\nC D\n", "1\n2\n"))
    with pytest.raises(ValueError, match="not 0/1; first at line 2"):
        gene2vec_pairs("test")


def test_unknown_split():
    with pytest.raises(ValueError, match=r"unknown Gene2vec split 'dev'.*'train', 'valid', 'test'"):
        gene2vec_pairs("dev")
