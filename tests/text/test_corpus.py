from __future__ import annotations

import pandas as pd
import pytest

from biobft.text import corpus
from biobft.text.corpus import (
    CoverageReport,
    SymbolResolver,
    gene_texts,
    parse_source,
    read_texts,
)

RESOLVER = SymbolResolver(
    ["TP53", "PCLAF", "SEPTIN7", "ABC1", "ABC2", "KLF1"],
    [["P53", "LFS1"], "KIAA0101, PAF15", ["SEPT7"], ["DUP"], ["DUP"], []],
)


@pytest.fixture
def toy_sources(monkeypatch):
    refseq = pd.Series(
        {"TP53": "Tumor suppressor.", "PCLAF": "PCNA clamp factor.", "ABC1": "one", "ABC2": "two"}
    )
    go = pd.Series({"TP53": "Enables DNA binding.", "SEPT7": "Part of septin complex."})
    names = pd.Series({"TP53": "tumor protein p53.", "KLF1": "KLF transcription factor 1."})
    monkeypatch.setitem(corpus.TEXT_SOURCES, "refseq", lambda: refseq)
    monkeypatch.setitem(corpus.TEXT_SOURCES, "go", lambda: go)
    monkeypatch.setitem(corpus.TEXT_SOURCES, "name", lambda: names)


def test_refseq_prefix_alias_and_report(toy_sources):
    s, rep = gene_texts(
        ["TP53", "KIAA0101", "p53", "DUP", "NOPE"], resolver=RESOLVER, return_report=True
    )
    assert s.to_dict() == {
        "TP53": "Gene symbol TP53. Tumor suppressor.",
        "KIAA0101": "Gene symbol PCLAF. PCNA clamp factor.",
        "p53": "Gene symbol TP53. Tumor suppressor.",
    }
    assert rep.found == ["TP53"]
    assert rep.via_alias == {"KIAA0101": "PCLAF", "p53": "TP53"}
    assert rep.missing == ["DUP", "NOPE"]  # DUP is ambiguous (ABC1 or ABC2): not guessed
    assert s.attrs["report"] is rep
    assert rep.coverage == pytest.approx(3 / 5)
    assert "5 genes requested, 1 found, 2 via alias, 2 missing (60.0% covered)" in str(rep)
    assert "KIAA0101->PCLAF" in str(rep) and "NOPE" in str(rep)


def test_source_keyed_by_old_symbol_resolves_current_symbol(toy_sources):
    s = gene_texts(["SEPTIN7"], source="go", resolver=RESOLVER)
    assert s.to_dict() == {"SEPTIN7": "Gene symbol SEPT7. Part of septin complex."}


def test_combined_and_fallback_sources(toy_sources):
    both = gene_texts(["TP53", "PCLAF", "KLF1"], source="refseq+go", resolver=RESOLVER)
    assert both["TP53"] == "Gene symbol TP53. Tumor suppressor. Enables DNA binding."
    assert both["PCLAF"] == "Gene symbol PCLAF. PCNA clamp factor."
    assert "KLF1" not in both.index
    chain, rep = gene_texts(
        ["TP53", "SEPT7", "KLF1", "NOPE"],
        source="go|refseq|name",
        resolver=RESOLVER,
        return_report=True,
    )
    assert chain.to_dict() == {
        "TP53": "Gene symbol TP53. Enables DNA binding.",
        "SEPT7": "Gene symbol SEPT7. Part of septin complex.",
        "KLF1": "Gene symbol KLF1. KLF transcription factor 1.",
    }
    assert rep.missing == ["NOPE"]
    assert parse_source("refseq+go|name") == [["refseq", "go"], ["name"]]


def test_all_genes_of_a_source(toy_sources):
    s = gene_texts(source="refseq|go")
    assert list(s.index) == ["TP53", "PCLAF", "ABC1", "ABC2", "SEPT7"]
    assert s.attrs["report"].found == list(s.index)


def test_bad_inputs(toy_sources):
    with pytest.raises(ValueError, match=r"unknown text source 'wiki'.*'\+'"):
        gene_texts(["TP53"], source="refseq+wiki")
    with pytest.raises(ValueError, match=r"genes is empty"):
        gene_texts([], resolver=RESOLVER)
    with pytest.raises(ValueError, match=r"None/NaN"):
        gene_texts(["TP53", None], resolver=RESOLVER)
    with pytest.raises(ValueError, match=r"none of the 2 requested genes has a text in source"):
        gene_texts(["FOO", "BAR"], resolver=RESOLVER)


def test_report_to_dict():
    rep = CoverageReport("refseq", found=["A"], via_alias={"b": "B"}, missing=["C", "D"])
    d = rep.to_dict(max_listed=1)
    assert d["n_requested"] == 4 and d["n_missing"] == 2 and d["missing"] == ["C"]
    assert d["coverage"] == 0.5


@pytest.mark.realdata
def test_real_sources(data_mirror):
    s, rep = gene_texts(["TP53", "p53", "KLF1"], source="refseq", return_report=True)
    assert s["TP53"].startswith("Gene symbol TP53. ") and "tumor" in s["TP53"].lower()
    assert rep.via_alias == {"p53": "TP53"}
    names = gene_texts(["TP53"], source="name")
    assert names["TP53"] == "Gene symbol TP53. tumor protein p53."
    go = gene_texts(source="go")
    assert 4000 <= len(go) <= 4100
    refseq = gene_texts(source="refseq")
    assert 14_500 <= len(refseq) <= 15_200
    assert refseq.index.is_unique and refseq.str.startswith("Gene symbol ").all()


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".parquet"])
def test_read_texts_round_trips_describe_output(tmp_path, suffix):
    profiles = pd.Series(
        {"TP53": "A tumor suppressor, p53.", "KLF1": "", "MYC": "Oncogene; binds E-box"},
        name="profile",
    ).rename_axis("gene")
    path = tmp_path / f"p{suffix}"
    frame = profiles.to_frame()  # what `biobft describe --out` writes
    if suffix == ".parquet":
        frame.to_parquet(path)
    else:
        frame.to_csv(path, sep="\t" if suffix == ".tsv" else ",")
    texts = read_texts(path)
    assert texts.name == "profile" and texts.index.name == "gene"
    pd.testing.assert_series_equal(texts, profiles, check_dtype=False)
    # a gene column instead of the index, extra columns picked by name
    extra = frame.reset_index().assign(model="smollm2")
    pd.testing.assert_series_equal(read_texts(extra), profiles, check_dtype=False)


def test_read_texts_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"does not exist; write one with `biobft describe"):
        read_texts(tmp_path / "nope.csv")
    with pytest.raises(ValueError, match=r"must end in .parquet, .csv, .tsv"):
        read_texts(tmp_path / "p.txt")
    two = pd.DataFrame({"gene": ["A"], "a": ["x"], "b": ["y"]})
    with pytest.raises(ValueError, match=r"cannot tell the text column .* pass column="):
        read_texts(two)
    assert read_texts(two, column="b").tolist() == ["y"]
    with pytest.raises(ValueError, match=r"has no column 'c'"):
        read_texts(two, column="c")
    dup = pd.DataFrame({"gene": ["A", "A"], "text": ["x", "y"]})
    with pytest.raises(ValueError, match=r"duplicate gene symbols, e.g. \['A'\]"):
        read_texts(dup)
