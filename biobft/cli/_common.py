"""What every sub-command shares: the user-error type and the ``--genes`` file reader."""

from __future__ import annotations

from pathlib import Path

__all__ = ["UserError", "read_gene_list"]


class UserError(Exception):
    """An error caused by the user's input: printed as one line, exit code 2."""


def read_gene_list(path: Path) -> list[str]:
    """Gene symbols of a ``--genes`` file: the first word of each line; ``#`` starts a comment.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ValueError
        The file lists no gene symbol.
    """
    if not path.is_file():
        raise FileNotFoundError(f"--genes file {str(path)!r} does not exist")
    lines = (line.split("#", 1)[0].split() for line in path.read_text().splitlines())
    genes = [words[0] for words in lines if words]
    if not genes:
        raise ValueError(f"--genes file {str(path)!r} lists no gene symbols (one per line)")
    return genes
