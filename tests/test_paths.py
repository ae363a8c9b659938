from __future__ import annotations

import pytest

from biobft import _paths


def test_mirror_dir_env_overrides(monkeypatch, tmp_path):
    monkeypatch.setenv("BIOBFT_DATA_DIR", str(tmp_path))
    assert _paths.mirror_dir() == tmp_path


def test_cache_dir_env_and_creation(monkeypatch, tmp_path):
    monkeypatch.setenv("BIOBFT_CACHE_DIR", str(tmp_path / "c"))
    path = _paths.cache_dir("a", "b")
    assert path == tmp_path / "c" / "a" / "b" and path.is_dir()


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError), _paths.atomic_path(target) as tmp:
        tmp.write_text("partial")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []
    with _paths.atomic_path(target) as tmp:
        tmp.write_text("done")
    assert target.read_text() == "done" and list(tmp_path.iterdir()) == [target]


def test_atomic_path_uses_umask_permissions(tmp_path):
    import os

    target = tmp_path / "perm.txt"
    with _paths.atomic_path(target) as tmp:
        tmp.write_text("x")
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask
