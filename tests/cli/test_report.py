"""``biobft benchmark`` and ``biobft assemble`` (biobft/cli/report.py); the main job itself is
tested in tests/report/test_benchmark.py, the assembler in tests/report/test_assemble.py."""

from __future__ import annotations

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


def _saved_run(tmp_path):
    """An embedding table and a GGI JSON of a real (small, planted) GGI evaluation."""
    from biobft.embed.table import write_table
    from biobft.ggi import evaluate_pairs, gene_disjoint_split
    from biobft.ggi._synthetic import planted

    table, pairs, _ = planted(n_pairs=2000)
    table.attrs["biobft"] = {"model": "planted", "source": "synthetic"}
    train, test = gene_disjoint_split(pairs, test_size=0.3, seed=0)
    res = evaluate_pairs(table, train, test)
    write_table(table, tmp_path / "emb.parquet")
    (tmp_path / "ggi.json").write_text(res.to_json(curves=True))
    return res


def test_cli_assemble_ggi_only(tmp_path, capsys):
    res = _saved_run(tmp_path)
    out = tmp_path / "rep"
    args = ["--embeddings", str(tmp_path / "emb.parquet"), "--ggi", str(tmp_path / "ggi.json")]
    assert main(["assemble", *args, "--out", str(out)]) == 0
    assert f"report: {out / 'report.md'}" in capsys.readouterr().out
    text = (out / "report.md").read_text()
    assert f"| model | {res.roc_auc:.3f} | {res.pr_auc:.3f} |" in text
    assert "## Perturbation response" not in text and "## PerturbQA" not in text


def test_cli_assemble_bad_input_writes_nothing(tmp_path, capsys):
    _saved_run(tmp_path)
    out = tmp_path / "rep"
    args = ["--embeddings", str(tmp_path / "emb.parquet"), "--out", str(out)]
    missing = tmp_path / "perturb" / "conditions.csv"
    assert main(["assemble", *args, "--perturbation", str(missing)]) == 2
    err = capsys.readouterr().err
    assert "biobft assemble: error:" in err and str(missing) in err and "`perturb` rule" in err
    (tmp_path / "ggi.json").write_text("{")
    assert main(["assemble", *args, "--ggi", str(tmp_path / "ggi.json")]) == 2
    assert "is not valid JSON" in capsys.readouterr().err
    assert not out.exists()
