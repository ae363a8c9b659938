"""``biobft`` command line: a thin layer over the public API.

Each sub-package registers its own sub-commands in ``biobft/<sub>/_cli.py`` through
``add_parser(subparsers)``; a registered parser sets ``func(args) -> int | None``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import tempfile
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


def check_writable(path: str | os.PathLike, *, what: str, folder: bool = False) -> Path:
    """Fail fast, before any work, when an output path (or folder) cannot be written.

    Probes the folder that will hold ``path`` (its nearest existing ancestor when folders still
    have to be created) by creating and removing a temporary file, so permissions, read-only
    file systems, root without ``CAP_DAC_OVERRIDE`` and "a parent is a file" are all caught the
    way the real write would meet them. An existing file must be openable for appending.

    Parameters
    ----------
    path
        The output file (or folder when ``folder=True``).
    what
        How the path is named in the message (``"--out"``, ``"cache folder"``, ...).
    folder
        ``path`` is a folder to create or write into.

    Returns
    -------
    The path (``~`` expanded).

    Raises
    ------
    UserError
        One line: which path, why it cannot be written, how to fix it (``biobft`` exits 2).
    """
    p = Path(path).expanduser()
    if folder and p.exists() and not p.is_dir():
        raise UserError(f"{what} {str(p)!r} is a file, not a folder; pass a folder path")
    if not folder and p.is_dir():
        raise UserError(f"{what} {str(p)!r} is a folder; pass a file path")
    probe = p if folder else p.parent
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise UserError(
            f"{what} {str(p)!r} cannot be created: {str(probe)!r} is a file, not a folder"
        )
    try:
        fd, tmp = tempfile.mkstemp(dir=probe, prefix=".biobft-write-check-")
        os.close(fd)
        os.unlink(tmp)
        if not folder and p.is_file():
            with open(p, "ab"):
                pass
    except OSError as err:
        raise UserError(
            f"{what} {str(p)!r} cannot be written ({err.strerror or err} in {str(probe)!r}); "
            "choose a writable location or fix the folder's permissions"
        ) from None
    return p


def check_cache_writable() -> Path:
    """:func:`check_writable` for the cache folder (``$BIOBFT_CACHE_DIR`` or the user cache)."""
    from platformdirs import user_cache_dir

    env = os.environ.get("BIOBFT_CACHE_DIR")
    root = Path(env) if env else Path(user_cache_dir("biobft"))
    what = "cache folder $BIOBFT_CACHE_DIR" if env else "cache folder"
    try:
        return check_writable(root, what=what, folder=True)
    except UserError as err:
        raise UserError(f"{err} (set BIOBFT_CACHE_DIR to a writable folder)") from None


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
    except (UserError, ValueError, KeyError, FileNotFoundError, PermissionError) as err:
        if args.verbose:
            raise
        msg = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"biobft {args.command}: error: {msg}", file=sys.stderr)
        return 2
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover
    # run the imported module's main: under ``python -m`` this file is also ``__main__``, whose
    # own UserError class differs from the one the sub-commands raise
    from biobft.cli import main as _main

    sys.exit(_main())
