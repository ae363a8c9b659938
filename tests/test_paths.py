from __future__ import annotations

import pytest

from biobft import _paths


def test_mirror_dir_env_overrides(monkeypatch, tmp_path):
    monkeypatch.setenv("BIOBFT_DATA_DIR", str(tmp_path))
    assert _paths.mirror_dir() == tmp_path


def test_cache_dir_env_and_creation(monkeypatch, tmp_path):
    monkeypatch.setenv("BIOBFT_CACHE_DIR", str(tmp_path / "c"))
    path = _paths.cache_dir("a", "b")
    assert path == tmp_path / "c" / "a" / "b" and path.is_dir()


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError), _paths.atomic_path(target) as tmp:
        tmp.write_text("partial")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []
    with _paths.atomic_path(target) as tmp:
        tmp.write_text("done")
    assert target.read_text() == "done" and list(tmp_path.iterdir()) == [target]


def test_atomic_path_uses_umask_permissions(tmp_path):
    import os

    target = tmp_path / "perm.txt"
    with _paths.atomic_path(target) as tmp:
        tmp.write_text("x")
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


def test_read_csv_symbols_keeps_symbols_and_missing_numbers(tmp_path):
    """pandas reads a gene called NA / NULL / None / nan as NaN; symbol columns stay verbatim,
    numeric columns still turn their missing spellings into NaN (compared with plain read_csv)."""
    import math

    import pandas as pd

    path = tmp_path / "t.csv"
    path.write_text("pert,gene,label,score\nNA,NULL,1,NA\nnan,None,0,\nTP53,n/a,1,0.5\n")
    plain = pd.read_csv(path)
    assert plain["pert"].isna().sum() == 2  # the trap being fixed
    df = _paths.read_csv_symbols(path, symbols=("pert", "gene", "absent"))
    assert df["pert"].tolist() == ["NA", "nan", "TP53"]
    assert df["gene"].tolist() == ["NULL", "None", "n/a"]
    assert df["label"].tolist() == plain["label"].tolist()
    assert [math.isnan(v) for v in df["score"]] == [True, True, False]
    indexed = _paths.read_csv_symbols(path, index_col=0)
    assert indexed.index.tolist() == ["NA", "nan", "TP53"]
    assert indexed["gene"].isna().all()  # not a symbol column here: pandas' defaults


@pytest.mark.parametrize("sep,suffix", [(",", "csv"), ("\t", "tsv")])
def test_read_csv_symbols_separators(tmp_path, sep, suffix):
    path = tmp_path / f"t.{suffix}"
    path.write_text(sep.join(["gene", "x"]) + "\n" + sep.join(["NA", "1.5"]) + "\n")
    df = _paths.read_csv_symbols(path, sep=sep, index_col=0)
    assert df.index.tolist() == ["NA"] and df["x"].tolist() == [1.5]


def test_unnamed_index_column_as_df_to_csv_writes_it(tmp_path):
    """Trial 8: a CSV whose first header cell is empty (plain df.to_csv()) crashed inside pandas
    ("Argument 'na_values' has incorrect type"); the gene NA must stay a string there too."""
    import numpy as np
    import pandas as pd

    from biobft._paths import read_csv_symbols
    from biobft.embed import read_table

    table = pd.DataFrame(np.arange(12.0).reshape(4, 3), index=["NA", "TP53", "KLF1", "NULL"])
    table.to_csv(tmp_path / "t.csv")
    got = read_csv_symbols(tmp_path / "t.csv", index_col=0)
    assert got.index.tolist() == ["NA", "TP53", "KLF1", "NULL"] and got.index.name is None
    np.testing.assert_array_equal(got.to_numpy(), table.to_numpy())
    assert read_table(tmp_path / "t.csv").index.tolist() == ["NA", "TP53", "KLF1", "NULL"]
    table.rename_axis("gene").to_csv(tmp_path / "named.csv")
    assert read_csv_symbols(tmp_path / "named.csv", index_col=0).index.name == "gene"
