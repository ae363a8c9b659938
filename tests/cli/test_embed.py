from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from biobft.cli import main
from biobft.embed.encoding import encode
from biobft.embed.table import read_table, table_metadata
from biobft.text import corpus


@pytest.fixture
def toy_refseq(monkeypatch, tmp_path):
    monkeypatch.setenv("BIOBFT_CACHE_DIR", str(tmp_path / "cache"))
    texts = pd.Series({"TP53": "tumor suppressor protein", "KLF1": "binds DNA", "X": "the gene"})
    monkeypatch.setitem(corpus.TEXT_SOURCES, "refseq", lambda: texts)
    return texts


def test_embed_cli_writes_table_and_report(toy_refseq, tiny_lm_dir, tmp_path, capsys):
    genes = tmp_path / "genes.txt"
    genes.write_text("TP53\nKLF1\nNOPE\n")
    out = tmp_path / "t.parquet"
    args = ["embed", "--model", str(tiny_lm_dir), "--genes", str(genes), "--out", str(out)]
    assert main([*args, "--precision", "fp32", "--pooling", "last_token"]) == 0
    text = capsys.readouterr().out
    assert "genes: 2 of 3 requested" in text and "dim: 32" in text
    assert "missing: 1 (e.g. NOPE)" in text and "cache: 0 hit(s), 2 encoded" in text
    table = read_table(out)
    assert list(table.index) == ["TP53", "KLF1"]
    meta = table_metadata(table)
    assert meta["pooling"] == "last_token" and meta["missing"] == ["NOPE"]

    csv = tmp_path / "t.csv"
    assert main([*args[:-1], str(csv), "--precision", "fp32", "--pooling", "last_token"]) == 0
    assert "cache: 2 hit(s), 0 encoded" in capsys.readouterr().out
    pd.testing.assert_frame_equal(read_table(csv), table, check_exact=False, atol=1e-6)


def test_embed_cli_default_output_path(toy_refseq, tiny_lm_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["embed", "--source", "refseq", "--model", str(tiny_lm_dir), "--no-cache"]) == 0
    assert (tmp_path / "results" / "embeddings" / "refseq_tiny-llama.parquet").is_file()


def test_embed_cli_errors(toy_refseq, tmp_path, capsys):
    cases = [
        (["--out", str(tmp_path / "t.txt")], "--out must end in .parquet"),
        (["--pooling", "foo"], "unknown pooling 'foo'"),
        (["--model", str(tmp_path / "nope")], "nothing is downloaded"),
        (["--genes", str(tmp_path / "nope.txt")], "--genes file .* does not exist"),
        (["--source", "wiki"], "unknown text source 'wiki'"),
    ]
    for extra, msg in cases:
        assert main(["embed", "--out", str(tmp_path / "x.parquet"), *extra]) == 2
        assert re.search(msg, capsys.readouterr().err), msg
    assert not (tmp_path / "x.parquet").exists()


def test_embed_cli_profiles_file(toy_refseq, tiny_lm_dir, tmp_path, capsys):
    profiles = pd.Series({"TP53": "tumor suppressor protein", "KLF1": ""}, name="profile")
    path = tmp_path / "profiles.csv"
    profiles.rename_axis("gene").to_frame().to_csv(path)
    out = tmp_path / "t.parquet"
    args = ["embed", "--source", str(path), "--model", str(tiny_lm_dir), "--out", str(out)]
    assert main([*args, "--precision", "fp32"]) == 0
    assert "missing: 1 (e.g. KLF1)" in capsys.readouterr().out  # an empty profile is no text
    table = read_table(out)
    assert list(table.index) == ["TP53"]
    # the vector is the profile text's own embedding
    ref = encode(["tumor suppressor protein"], model=str(tiny_lm_dir), precision="fp32")
    np.testing.assert_allclose(table.loc["TP53"].to_numpy(), ref[0], rtol=1e-5, atol=1e-6)


def test_embed_cli_backend_option(toy_refseq, tiny_lm_dir, tmp_path, capsys):
    """--backend reaches embed_genes (the table records the one that ran); a backend that does not
    run the model, or an unknown name, is one error and nothing is written."""
    out = tmp_path / "t.parquet"
    args = ["embed", "--model", str(tiny_lm_dir), "--out", str(out), "--precision", "fp32"]
    assert main([*args, "--backend", "torch"]) == 0
    assert "backend: torch  precision: fp32" in capsys.readouterr().out
    assert table_metadata(read_table(out))["backend"] == "torch"
    out.unlink()
    assert main([*args, "--backend", "onnx"]) == 2
    assert "backend='onnx' does not fit" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*args, "--backend", "gpu"])
    assert "invalid choice: 'gpu'" in capsys.readouterr().err
    assert not out.exists()
