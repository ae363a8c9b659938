"""``biobft datasets`` (biobft/cli/datasets.py)."""

from __future__ import annotations

from biobft.cli import main


def test_list(toy_entry, toy_dirs, capsys):
    toy_dirs["cache"].parent.mkdir(parents=True)
    toy_dirs["cache"].write_bytes(b"anything")
    assert main(["datasets", "list"]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.strip().startswith("toy_pairs"))
    assert line.split() == ["toy_pairs", "CC0", "cache"]
    assert "kang2018" in out


def test_verify_ok_and_failures(toy_entry, toy_dirs, toy_bytes, capsys):
    toy_dirs["mirror"].parent.mkdir(parents=True)
    toy_dirs["mirror"].write_bytes(toy_bytes)
    assert main(["datasets", "verify", "toy_pairs"]) == 0
    assert "1/1 files ok" in capsys.readouterr().out

    toy_dirs["mirror"].write_bytes(b"corrupt")
    assert main(["datasets", "verify", "toy_pairs"]) == 1
    out = capsys.readouterr().out
    assert "mismatch" in out and toy_entry.sha256 in out and "0/1 files ok" in out

    toy_dirs["mirror"].unlink()
    assert main(["datasets", "verify", "toy_pairs"]) == 1
    assert "missing" in capsys.readouterr().out


def test_verify_unknown_name(capsys):
    assert main(["datasets", "verify", "gene2vec_tset_text"]) == 2
    assert "did you mean 'gene2vec_test_text'" in capsys.readouterr().err.lower()


def test_fetch_offline(toy_entry, toy_dirs, capsys):
    assert main(["datasets", "fetch", "toy_pairs"]) == 0  # downloads from the file:// URL
    assert capsys.readouterr().out.strip() == str(toy_dirs["cache"])
    toy_dirs["cache"].unlink()
    assert main(["datasets", "fetch", "--no-download", "toy_pairs"]) == 2
    assert "BIOBFT_DATA_DIR" in capsys.readouterr().err


def test_verify_all_real(data_mirror, capsys):
    assert main(["datasets", "verify"]) == 0
    assert "19/19 files ok" in capsys.readouterr().out
