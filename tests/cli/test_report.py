"""``biobft benchmark`` (biobft/cli/report.py); the main job itself is tested in
tests/report/test_benchmark.py."""

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
