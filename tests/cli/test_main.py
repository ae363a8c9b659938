from __future__ import annotations

import pytest

from biobft import __version__
from biobft.cli import main


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "usage: biobft" in capsys.readouterr().out


def test_read_gene_list(tmp_path):
    from biobft.cli import read_gene_list

    path = tmp_path / "genes.txt"
    path.write_text("# header\nTP53\n\nKLF1 erythroid  # comment\n  MYC#inline\n#NOT\n")
    assert read_gene_list(path) == ["TP53", "KLF1", "MYC"]
    path.write_text("# only comments\n\n")
    with pytest.raises(ValueError, match="lists no gene symbols"):
        read_gene_list(path)
    with pytest.raises(FileNotFoundError, match=r"--genes file .* does not exist"):
        read_gene_list(tmp_path / "nope.txt")
