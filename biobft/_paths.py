"""Where biobft looks for data and writes caches.

- Mirror folder: ``$BIOBFT_DATA_DIR``, else ``../shared/data`` next to a source checkout.
- Cache folder: ``$BIOBFT_CACHE_DIR``, else the platform user cache dir (``~/.cache/biobft``).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from platformdirs import user_cache_dir

REPO_ROOT = Path(__file__).resolve().parents[1]


def mirror_dir() -> Path | None:
    """The local data mirror, or ``None`` when there is none."""
    env = os.environ.get("BIOBFT_DATA_DIR")
    if env:
        return Path(env).expanduser()
    default = REPO_ROOT.parent / "shared" / "data"
    return default if default.is_dir() else None


def cache_dir(*parts: str) -> Path:
    """The user cache folder (created), optionally a sub-folder of it."""
    env = os.environ.get("BIOBFT_CACHE_DIR")
    root = Path(env).expanduser() if env else Path(user_cache_dir("biobft"))
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; rename it onto ``target`` only on success.

    An interrupted write never leaves a partial ``target`` behind.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    tmp_path = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    try:
        yield tmp_path
        if tmp_path.is_file():  # mkstemp makes 0600 files: give the usual permissions
            tmp_path.chmod(0o666 & ~umask)
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()
