from __future__ import annotations

import json

import pytest

from biobft.cli import main
from biobft.embed.table import write_table
from biobft.ggi._synthetic import planted


@pytest.fixture
def fake_gene2vec(monkeypatch):
    table, pairs, _ = planted(n_pairs=5000)
    splits = {"train": pairs.iloc[:3500], "valid": pairs.iloc[3500:4000], "test": pairs.iloc[4000:]}
    import biobft.datasets

    monkeypatch.setattr(
        biobft.datasets, "gene2vec_pairs", lambda s: splits[s].reset_index(drop=True)
    )
    return table


def test_cli_prints_table_and_writes_outputs(tmp_path, fake_gene2vec, capsys):
    emb = write_table(fake_gene2vec, tmp_path / "t.parquet")
    out_json, out_png, out_model = tmp_path / "r.json", tmp_path / "roc.png", tmp_path / "m.skops"
    code = main(
        [
            "ggi",
            "--embeddings",
            str(emb),
            "--features",
            "sum+hadamard",
            "--valid",
            "--json",
            str(out_json),
            "--plot",
            str(out_png),
            "--save-model",
            str(out_model),
        ]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "features=sum+hadamard" in text and "random" in text and "coverage" in text
    assert "leakage: n/a" in text  # source "planted" has no texts
    res = json.loads(out_json.read_text())
    assert res["roc_auc"] > 0.85 and res["valid"]["roc_auc"] > 0.85
    assert set(res["curves"]) == {"model", "random"}
    from biobft.embed.table import read_table
    from biobft.report.provenance import table_fingerprint

    # the table it was computed on, checked by `biobft assemble`
    assert res["provenance"]["table_sha256"] == table_fingerprint(read_table(emb))
    assert res["provenance"]["embeddings"] == str(emb)
    assert out_png.stat().st_size > 1000
    from biobft.ggi import load_model

    assert load_model(out_model).features == "sum+hadamard"


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--features", "foo"], "unknown pair feature"),
        (["--json", "NODIR/r.json"], "does not exist"),
    ],
)
def test_cli_bad_input_writes_nothing(tmp_path, fake_gene2vec, capsys, extra, match, monkeypatch):
    monkeypatch.chdir(tmp_path)
    emb = write_table(fake_gene2vec, tmp_path / "t.parquet")
    before = set(tmp_path.rglob("*"))
    assert main(["ggi", "--embeddings", str(emb), *extra]) == 2
    assert match in capsys.readouterr().err
    assert set(tmp_path.rglob("*")) == before


def test_cli_missing_table(tmp_path, capsys):
    assert main(["ggi", "--embeddings", str(tmp_path / "none.parquet")]) == 2
    assert "does not exist" in capsys.readouterr().err
