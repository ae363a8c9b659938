"""``biobft benchmark`` and ``biobft assemble`` (biobft/cli/report.py); the main job itself is
tested in tests/report/test_benchmark.py, the assembler in tests/report/test_assemble.py."""

from __future__ import annotations

import pytest

from biobft.cli import main


def test_cli_bad_gene_file(tmp_path, capsys):
    out = tmp_path / "never"
    assert main(["benchmark", "--genes", str(tmp_path / "none.txt"), "--out", str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not out.exists()


def test_out_that_is_a_file_is_refused(tmp_path, capsys):
    out = tmp_path / "report.md"
    out.write_text("not a folder")
    assert main(["benchmark", "--out", str(out)]) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert out.read_text() == "not a folder"


@pytest.fixture
def saved_run(tmp_path, monkeypatch):
    """One run's results written by the real commands, all on one table ``emb.parquet``
    (planted GGI genes + the toy perturbation genes): ``biobft ggi --json`` on planted
    Gene2vec-like pairs, ``biobft perturb evaluate --out`` on a toy perturbation data set; and
    ``other.csv``, the same evaluation on another table (other genes' vectors)."""
    import biobft.datasets
    from biobft.embed.table import concat_tables, write_table
    from biobft.ggi._synthetic import planted
    from biobft.perturb._synthetic import synthetic_perturbation_data

    ggi_table, pairs, _ = planted(n_pairs=2000)
    splits = {"train": pairs.iloc[:1400], "valid": pairs.iloc[1400:1600], "test": pairs.iloc[1600:]}
    monkeypatch.setattr(
        biobft.datasets, "gene2vec_pairs", lambda s: splits[s].reset_index(drop=True)
    )
    adata, pert_table, _ = synthetic_perturbation_data(n_perturbed=8, n_doubles=2, seed=1)
    adata.write_h5ad(tmp_path / "toy.h5ad")
    write_table(concat_tables([ggi_table, pert_table], how="outer"), tmp_path / "emb.parquet")
    write_table(pert_table, tmp_path / "other.parquet")
    emb = str(tmp_path / "emb.parquet")
    assert main(["ggi", "--embeddings", emb, "--no-random", "--no-leakage",
                 "--json", str(tmp_path / "ggi.json")]) == 0  # fmt: skip
    for table, out in (("emb", "conditions.csv"), ("other", "other.csv")):
        assert main(["perturb", "evaluate", "--data", str(tmp_path / "toy.h5ad"), "--embedding",
                     str(tmp_path / f"{table}.parquet"), "--predictors", "train_mean,ridge",
                     "--out", str(tmp_path / out)]) == 0  # fmt: skip
    return tmp_path


def test_cli_assemble_ggi_and_perturbation(saved_run, capsys):
    import json

    import pandas as pd

    capsys.readouterr()
    out = saved_run / "rep"
    args = ["--embeddings", str(saved_run / "emb.parquet"), "--ggi", str(saved_run / "ggi.json")]
    assert main(["assemble", *args, "--out", str(out)]) == 0
    assert f"report: {out / 'report.md'}" in capsys.readouterr().out
    text = (out / "report.md").read_text()
    res = json.loads((saved_run / "ggi.json").read_text())
    assert f"| model | {res['roc_auc']:.3f} | {res['pr_auc']:.3f} |" in text
    assert "## Perturbation response" not in text and "## PerturbQA" not in text
    perturbation = ["--perturbation", str(saved_run / "conditions.csv")]
    assert main(["assemble", *args, *perturbation, "--out", str(saved_run / "rep2")]) == 0
    summary = json.loads((saved_run / "rep2" / "results.json").read_text())
    rows = pd.read_csv(saved_run / "conditions.csv")  # what pandas users read: no extra column
    assert "provenance" not in rows.columns and set(rows["predictor"]) >= {"ridge"}
    ridge = rows[(rows["predictor"] == "ridge") & (rows["group"] == "single")]
    got = {(r["group"], r["predictor"]): r for r in summary["perturbation_summary"]}
    assert got[("single", "ridge")]["rmse"] == pytest.approx(ridge["rmse"].mean())


def test_cli_assemble_refuses_a_result_of_another_table(saved_run, capsys):
    """A fresh-user trial: a perturbation CSV computed on another table was accepted."""
    from biobft.embed.table import read_table
    from biobft.report.provenance import table_fingerprint

    capsys.readouterr()
    out = saved_run / "rep"
    args = ["--embeddings", str(saved_run / "emb.parquet"), "--out", str(out)]
    other = saved_run / "other.csv"
    assert main(["assemble", *args, "--ggi", str(saved_run / "ggi.json"),
                 "--perturbation", str(other)]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "biobft assemble: error:" in err and "1 input file(s)" in err
    assert f"perturbation file {str(other)!r} was computed on another embedding table" in err
    assert table_fingerprint(read_table(saved_run / "other.parquet"))[:12] in err
    assert "--embedding" in err and "ggi file" not in err  # the GGI file is not blamed
    assert not out.exists()


def test_cli_assemble_bad_input_writes_nothing(saved_run, capsys):
    out = saved_run / "rep"
    args = ["--embeddings", str(saved_run / "emb.parquet"), "--out", str(out)]
    missing = saved_run / "perturb" / "conditions.csv"
    assert main(["assemble", *args, "--perturbation", str(missing)]) == 2
    err = capsys.readouterr().err
    assert "biobft assemble: error:" in err and str(missing) in err and "`perturb` rule" in err
    (saved_run / "ggi.json").write_text("{")
    assert main(["assemble", *args, "--ggi", str(saved_run / "ggi.json")]) == 2
    assert "is not valid JSON" in capsys.readouterr().err
    assert not out.exists()


def test_cli_benchmark_backend_option(tmp_path, capsys, monkeypatch):
    """--backend reaches run_benchmark (default auto); an unknown name is refused by argparse."""
    from biobft.report import benchmark

    monkeypatch.setenv("BIOBFT_CACHE_DIR", str(tmp_path / "cache"))
    seen = []

    def fake(**kw):
        seen.append(kw["backend"])
        raise ValueError("stop here")

    monkeypatch.setattr(benchmark, "run_benchmark", fake)
    out = str(tmp_path / "run")
    assert main(["benchmark", "--out", out, "--backend", "torch"]) == 2
    assert main(["benchmark", "--out", out]) == 2
    assert seen == ["torch", "auto"] and "stop here" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["benchmark", "--out", out, "--backend", "cuda"])
    assert "invalid choice: 'cuda'" in capsys.readouterr().err
