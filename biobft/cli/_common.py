"""What every sub-command shares: the user-error type, the ``--genes`` file reader, the reader of
comma-separated options and the checks that output paths can be written before any work."""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

__all__ = [
    "UserError",
    "check_cache_writable",
    "check_writable",
    "comma_list",
    "read_gene_list",
]


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


def comma_list(text: str) -> list[str]:
    """An argparse ``type=`` for comma-separated options: ``"knn, pair"`` -> ``["knn", "pair"]``.

    Items are stripped of surrounding spaces; an empty item (``"knn,,pair"``, a trailing comma,
    only spaces) is refused, so a typo never becomes a silent empty name.

    Raises
    ------
    argparse.ArgumentTypeError
        An empty item (argparse prints it as a usage error, exit 2).
    """
    items = [item.strip() for item in str(text).split(",")]
    if not any(items):
        raise argparse.ArgumentTypeError(f"expected comma-separated names; got {text!r}")
    if not all(items):
        raise argparse.ArgumentTypeError(
            f"{text!r} has an empty item between commas; write names separated by single "
            "commas, e.g. 'knn,pair'"
        )
    return items


def add_runtime_options(p, *, what: str = "the embedding") -> None:
    """``--precision`` and ``--backend`` of an encoding command (choices: the library's
    :data:`~biobft.embed.runtime.PRECISIONS` and :data:`~biobft.embed.runtime.BACKENDS`)."""
    from ..embed.runtime import BACKENDS, PRECISIONS

    p.add_argument(
        "--precision",
        default="auto",
        choices=list(PRECISIONS),
        help="auto (bf16 where the CPU runs it fast, else fp32), fp32, bf16 or fp16 (torch "
        "autocast only: slow on most CPUs) (default: auto)",
    )
    p.add_argument(
        "--backend",
        default="auto",
        choices=list(BACKENDS),
        help=f"inference runtime of {what}: auto (the fastest installed one that runs the model: "
        "openvino, else onnx, else torch), torch, onnx (biobft[onnx]) or openvino "
        "(biobft[openvino]) (default: auto)",
    )
