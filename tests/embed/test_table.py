from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from biobft.embed.table import make_table, read_table, table_metadata, validate_table, write_table


@pytest.fixture
def table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return make_table(
        rng.normal(size=(4, 3)), ["TP53", "KLF1", "BRCA1", "MYC"], model="m", source="s"
    )


def test_make_table_contract(table):
    assert table.shape == (4, 3)
    assert (table.dtypes == np.float32).all()
    assert list(table.index) == ["TP53", "KLF1", "BRCA1", "MYC"]
    meta = table_metadata(table)
    assert meta["model"] == "m" and meta["source"] == "s" and meta["dim"] == 3


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".tsv"])
def test_roundtrip_keeps_values_and_metadata(table, tmp_path, suffix):
    path = write_table(table, tmp_path / f"t{suffix}")
    back = read_table(path)
    np.testing.assert_allclose(back.to_numpy(), table.to_numpy(), rtol=1e-6)
    assert list(back.index) == list(table.index)
    assert table_metadata(back)["model"] == "m"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_validate_rejects_nan_rows(table):
    table.iloc[1, 0] = np.nan
    with pytest.raises(ValueError, match=r"1 row\(s\) with NaN or inf, e.g. \['KLF1'\]"):
        validate_table(table)


def test_validate_rejects_duplicate_genes(table):
    table.index = ["TP53", "TP53", "BRCA1", "MYC"]
    with pytest.raises(ValueError, match=r"duplicate gene symbol"):
        validate_table(table)


def test_validate_rejects_non_frames_and_empty():
    with pytest.raises(TypeError, match=r"pandas DataFrame"):
        validate_table(np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"empty"):
        validate_table(pd.DataFrame())


def test_write_refuses_bad_table_before_writing(table, tmp_path):
    table.iloc[0, 0] = np.inf
    with pytest.raises(ValueError, match=r"NaN or inf"):
        write_table(table, tmp_path / "t.parquet")
    assert list(tmp_path.iterdir()) == []


def test_make_table_shape_mismatch():
    with pytest.raises(ValueError, match=r"shape"):
        make_table(np.zeros((2, 3)), ["A"], model="m", source="s")


def test_read_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"biobft embed"):
        read_table(tmp_path / "nope.parquet")


def test_concat_tables_side_by_side_on_common_genes():
    from biobft.embed.table import concat_tables

    rng = np.random.default_rng(0)
    a = make_table(rng.standard_normal((3, 2)), ["A", "B", "C"], model="m1", source="refseq")
    b = make_table(rng.standard_normal((3, 4)), ["C", "A", "D"], model="m1", source="name")
    out = concat_tables([a, b])
    assert list(out.index) == ["A", "C"] and out.shape == (2, 6)
    np.testing.assert_array_equal(out.loc["C"].to_numpy()[:2], a.loc["C"].to_numpy())
    np.testing.assert_array_equal(out.loc["C"].to_numpy()[2:], b.loc["C"].to_numpy())
    meta = table_metadata(out)
    assert meta["source"] == "refseq,name" and meta["dim"] == 6 and meta["model"] == "m1"
    with pytest.raises(ValueError, match="at least two"):
        concat_tables([a])
    c = make_table(rng.standard_normal((1, 2)), ["Z"], model="m1", source="x")
    with pytest.raises(ValueError, match="no gene symbol in common"):
        concat_tables([a, c])


def test_concat_tables_normalize_and_outer():
    from biobft.embed.table import concat_tables

    a = make_table(np.array([[3.0, 4.0], [1.0, 0.0]]), ["A", "B"], model="m", source="s1")
    b = make_table(np.array([[0.0, 2.0, 0.0]]), ["B"], model="m", source="s2")
    inner = concat_tables([a, b], normalize=True)
    np.testing.assert_allclose(inner.loc["B"].to_numpy(), [1, 0, 0, 1, 0])  # each block unit
    outer = concat_tables([a, b], normalize=True, how="outer")
    assert list(outer.index) == ["A", "B"]
    np.testing.assert_allclose(outer.loc["A"].to_numpy(), [0.6, 0.8, 0, 0, 0])  # zero fill
    raw = concat_tables([a, b], how="outer")
    np.testing.assert_allclose(raw.loc["A"].to_numpy(), [3, 4, 0, 0, 0])
    with pytest.raises(TypeError, match=r"concat_tables\(\[a, b\]\)"):
        concat_tables(a)
    with pytest.raises(ValueError, match="how must be"):
        concat_tables([a, b], how="left")


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".parquet"])
def test_roundtrip_keeps_genes_spelled_like_missing_values(tmp_path, suffix):
    """Gene2vec names a gene NA; a CSV round trip read it back as "nan" (a fresh-user trial)."""
    genes = ["NA", "NULL", "None", "nan", "TP53"]
    table = make_table(np.arange(10, dtype=np.float32).reshape(5, 2), genes, model="m", source="s")
    back = read_table(write_table(table, tmp_path / f"t{suffix}"))
    assert back.index.tolist() == genes
    np.testing.assert_array_equal(back.to_numpy(), table.to_numpy())


def test_read_table_still_refuses_a_missing_value(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("gene,0,1\nNA,1.0,NA\nTP53,2.0,3.0\n")
    with pytest.raises(ValueError, match="NaN"):
        read_table(path)
