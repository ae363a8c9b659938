from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from biobft.datasets import _cache, ncbi, refseq, refseq_summaries, stringdb


def test_real(data_mirror, caplog):
    with caplog.at_level(logging.INFO, logger="biobft.datasets.refseq"):
        df = refseq_summaries()
    assert list(df.columns[:3]) == ["symbol", "entrez_id", "summary"]
    assert df["entrez_id"].dtype == np.int64
    assert df["symbol"].is_unique and df["symbol"].is_monotonic_increasing
    assert (df["summary"].str.len() > 0).all()
    rep = df.attrs["report"]
    assert rep["human_rows"] == 73_575
    assert rep["entrez_ids"] == 15_149  # 15,150 distinct IDs in the file, one of them NA
    assert rep["rows_without_entrez_id"] == 18
    assert rep["mapped_via_ncbi"] + rep["mapped_via_string"] + rep["unmapped_entrez_ids"] == 15_149
    assert rep["symbols"] == len(df) > 14_500
    assert "could not be mapped" in caplog.text
    tp53 = df.set_index("symbol").loc["TP53"]
    assert tp53["entrez_id"] == 7157
    assert tp53["summary"].startswith("This gene encodes a tumor suppressor protein")
    # independent check of the mapping: NCBI-mapped rows carry goatools' symbol for their ID
    table = ncbi.ncbi_genes()
    via = df.loc[df["symbol_source"] == "ncbi"]
    assert (table.loc[via["entrez_id"], "symbol"].to_numpy() == via["symbol"].to_numpy()).all()
    fallback = df.loc[df["symbol_source"] == "string"]
    assert not fallback["entrez_id"].isin(table.index).any()


def test_second_load_uses_parquet_cache(data_mirror, monkeypatch):
    first = refseq_summaries()
    assert list(_cache.cache_dir("parsed").glob("refseq_summaries-*.parquet"))

    def boom(*args, **kwargs):
        raise AssertionError("the .rds was parsed again")

    import pyreadr

    monkeypatch.setattr(pyreadr, "read_r", boom)
    monkeypatch.setattr(refseq, "_read_rds", boom)
    second = refseq_summaries()
    pd.testing.assert_frame_equal(first, second)
    assert second.attrs["report"] == first.attrs["report"]


def test_dedup_rules(tmp_path, monkeypatch):
    """Toy .rds content through the real build: duplicates resolved as documented."""
    raw = pd.DataFrame(
        {
            "RefSeq_accession": ["NM_2", "NM_1", "NM_3", "NM_4", "NM_5", "NM_6", "NM_7", "NM_8"],
            "Organism": ["Homo sapiens"] * 7 + ["Mus musculus"],
            "Taxon_ID": pd.array([9606] * 7 + [10090], dtype="Int32"),
            "Gene_ID": pd.array([1, 1, 2, 3, 4, 5, None, 1], dtype="Int32"),
            "Review_status": [
                "PROVISIONAL REFSEQ",  # longer, but worse status than NM_1
                "REVIEWED REFSEQ",
                "REVIEWED REFSEQ",
                "REVIEWED REFSEQ",
                "VALIDATED REFSEQ",
                "REVIEWED REFSEQ",
                "REVIEWED REFSEQ",
                "REVIEWED REFSEQ",
            ],
            "Gene_summary": [
                "long provisional text",
                "g1",
                "g2 same sym",
                "g3 same sym but longer",
                "via string",
                "unmappable",
                "no id",
                "mouse",
            ],
        }
    )
    monkeypatch.setenv("BIOBFT_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(refseq, "_read_rds", lambda: raw)
    ncbi_table = pd.DataFrame(
        {"symbol": ["G1", "DUP", "DUP"], "aliases": [[], [], []], "name": ["", "", ""]},
        index=pd.Index([1, 2, 3], name="entrez_id", dtype=np.int64),
    )
    monkeypatch.setattr(ncbi, "ncbi_genes", lambda: ncbi_table)
    monkeypatch.setattr(
        stringdb,
        "string_nodes",
        lambda: pd.DataFrame({"symbol": ["S4", "G1X"], "entrez_id": np.array([4, 1], np.int64)}),
    )
    df = refseq._build()
    got = df.set_index("symbol")[["entrez_id", "summary", "symbol_source"]].to_dict("index")
    assert got == {
        "DUP": {"entrez_id": 3, "summary": "g3 same sym but longer", "symbol_source": "ncbi"},
        "G1": {"entrez_id": 1, "summary": "g1", "symbol_source": "ncbi"},
        "S4": {"entrez_id": 4, "summary": "via string", "symbol_source": "string"},
    }
    rep = df.attrs["report"]
    assert rep["human_rows"] == 7 and rep["rows_without_entrez_id"] == 1
    assert rep["unmapped_entrez_ids"] == 1 and rep["unmapped_examples"] == [5]
    assert rep["duplicate_symbol_rows_dropped"] == 1 and rep["symbols"] == 3


@pytest.mark.parametrize("bad", [pd.DataFrame({"x": [1]}), [1, 2]])
def test_unexpected_rds_content(bad, monkeypatch):
    import pyreadr

    monkeypatch.setattr(refseq, "fetch", lambda name: "x.rds")
    monkeypatch.setattr(pyreadr, "read_r", lambda path: {None: bad})
    with pytest.raises(ValueError, match=r"expected an R data\.frame with columns"):
        refseq._read_rds()


def test_rds_that_pyreadr_cannot_read_is_one_clear_error(tmp_path, monkeypatch):
    path = tmp_path / "x.rds"
    path.write_bytes(b"not an rds file at all")  # librdata: "Unhandled S-Expression"
    monkeypatch.setattr(refseq, "fetch", lambda name: path)
    with pytest.raises(ValueError, match=r"x\.rds: not an R data\.frame saved with saveRDS"):
        refseq._read_rds()


@pytest.mark.realdata
def test_pyreadr_reads_the_same_values_as_rdata(data_mirror):
    """Independent reference: the pure-Python ``rdata`` parser (the project's earlier one)."""
    import warnings

    import rdata

    got = refseq._read_rds()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Missing constructor for R class")
        ref = rdata.read_rds(refseq.fetch(refseq._NAME))
    assert [str(c) for c in ref.columns] == list(got.columns) and len(ref) == len(got) == 103_803
    for col in got.columns:
        a, b = got[col], ref[col]
        np.testing.assert_array_equal(a.isna().to_numpy(), b.isna().to_numpy())
        keep = a.notna().to_numpy()
        np.testing.assert_array_equal(
            a[keep].astype(str).to_numpy(), b[keep].astype(str).to_numpy(), err_msg=col
        )
