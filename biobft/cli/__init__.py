"""``biobft`` command line: the top floor, a thin layer over the public API.

One module per sub-command group (``biobft/cli/<name>.py``, as in ``transformers/commands``),
listed in :data:`COMMANDS`; each has ``add_parser(subparsers)``, and a registered parser sets
``func(args) -> int | None``. Only this package parses arguments or reads ``--genes`` files; no
domain package imports it (``tests/test_package_structure.py::test_layering``).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from .. import __version__
from . import datasets, embed, experiment, ggi, perturb, perturbqa, report, train
from ._common import UserError, check_cache_writable, check_writable, read_gene_list

__all__ = [
    "COMMANDS",
    "UserError",
    "build_parser",
    "check_cache_writable",
    "check_writable",
    "main",
    "read_gene_list",
]

# the sub-command modules, in help order; each imports its domain package lazily in its handlers
COMMANDS = (datasets, embed, train, ggi, perturb, perturbqa, experiment, report)


def build_parser() -> argparse.ArgumentParser:
    """The full ``biobft`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="biobft",
        description="Biomedical LLM alignment (SFT/DFT/BFT) and gene embeddings.",
    )
    parser.add_argument("--version", action="version", version=f"biobft {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS:
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
