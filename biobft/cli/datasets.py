"""``biobft datasets list | verify | fetch``."""

from __future__ import annotations

import argparse

import pandas as pd


def _print_table(df: pd.DataFrame) -> None:
    with pd.option_context(
        "display.max_rows", None, "display.max_columns", None, "display.width", 200
    ):
        print(df.to_string(index=False))


def _cmd_list(args: argparse.Namespace) -> int:
    from ..datasets._fetch import list_datasets

    df = list_datasets()
    cols = ["name", "license", "found", "location"] if args.long else ["name", "license", "found"]
    _print_table(df[cols])
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from ..datasets._fetch import verify

    df = verify(args.names or None)
    _print_table(df[["name", "status", "found", "path"]])
    bad = df.loc[df["status"] != "ok"]
    for row in bad.itertuples():
        if row.status == "mismatch":
            print(f"{row.name}: sha256 mismatch, expected {row.expected}, got {row.actual}")
    n_ok = int((df["status"] == "ok").sum())
    print(
        f"{n_ok}/{len(df)} files ok"
        + (
            ""
            if bad.empty
            else "; set BIOBFT_DATA_DIR or rerun "
            "'biobft datasets fetch NAME' to download missing files"
        )
    )
    return 1 if len(bad) else 0


def _cmd_fetch(args: argparse.Namespace) -> int:
    from ..datasets._fetch import fetch

    for name in args.names:
        print(fetch(name, download=not args.no_download))
    return 0


def add_parser(subparsers) -> None:
    """Add ``biobft datasets`` and its sub-commands."""
    parser = subparsers.add_parser(
        "datasets",
        help="list, verify and fetch the registered real data sets",
        description="Registered data files: mirror ($BIOBFT_DATA_DIR) -> cache "
        "($BIOBFT_CACHE_DIR/downloads) -> upstream URL; sha256 verified.",
    )
    sub = parser.add_subparsers(dest="datasets_command", metavar="ACTION")
    p_list = sub.add_parser("list", help="table of registered files and where each was found")
    p_list.add_argument("--long", action="store_true", help="also print the local path")
    p_list.set_defaults(func=_cmd_list)
    p_verify = sub.add_parser(
        "verify", help="hash local copies; exit code 1 if any is missing or corrupt"
    )
    p_verify.add_argument("names", nargs="*", metavar="NAME", help="files to check (default all)")
    p_verify.set_defaults(func=_cmd_verify)
    p_fetch = sub.add_parser("fetch", help="print the verified local path, downloading if needed")
    p_fetch.add_argument("names", nargs="+", metavar="NAME")
    p_fetch.add_argument("--no-download", action="store_true", help="never use the network")
    p_fetch.set_defaults(func=_cmd_fetch)

    def _help(args: argparse.Namespace) -> int:
        parser.print_help()
        return 2

    parser.set_defaults(func=_help)
