"""``biobft`` command line: a thin layer over the public API.

Each sub-package registers its own sub-commands in ``biobft/<sub>/_cli.py`` through
``add_parser(subparsers)``; a registered parser sets ``func(args) -> int | None``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__

# sub-packages whose ``_cli.add_parser`` adds sub-commands, in help order
_CLI_MODULES = ("datasets", "embed", "train", "ggi", "perturb", "experiment", "report")


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


def build_parser() -> argparse.ArgumentParser:
    """The full ``biobft`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="biobft",
        description="Biomedical LLM alignment (SFT/DFT/BFT) and gene embeddings.",
    )
    parser.add_argument("--version", action="version", version=f"biobft {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _CLI_MODULES:
        try:
            module = importlib.import_module(f"biobft.{name}._cli")
        except ModuleNotFoundError as err:
            if err.name != f"biobft.{name}._cli" and err.name != f"biobft.{name}":
                raise
            continue
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``biobft`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        code = args.func(args)
    except (UserError, ValueError, KeyError, FileNotFoundError) as err:
        if args.verbose:
            raise
        msg = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"biobft {args.command}: error: {msg}", file=sys.stderr)
        return 2
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
