from __future__ import annotations

import re

from biobft.datasets import registry

_URL = re.compile(r"^https://raw\.githubusercontent\.com/[\w.-]+/[\w.-]+/[0-9a-f]{7,40}/\S+$")


def test_entries_are_complete():
    reg = registry()
    assert len(reg) == 19
    for name, entry in reg.items():
        assert entry.name == name
        assert re.fullmatch(r"[0-9a-f]{64}", entry.sha256), name
        assert _URL.match(entry.url), entry.url
        assert entry.url.endswith(entry.path.rsplit("/", 1)[-1]) or name.startswith(
            "norman2019_gears"
        )
        for field in ("license", "citation", "description"):
            assert getattr(entry, field).strip(), (name, field)
    assert len({e.path for e in reg.values()}) == len(reg)


def test_registry_covers_mirror_and_matches_readme(data_mirror):
    """Every data file in the mirror is registered, with the sha256 the mirror's README lists."""
    files = {
        p.relative_to(data_mirror).as_posix()
        for p in data_mirror.rglob("*")
        if p.is_file() and not p.name.startswith("LICENSE") and p.name != "README.md"
    }
    reg = registry()
    assert files == {e.path for e in reg.values()}
    readme = (data_mirror / "README.md").read_text()
    listed = dict(
        (path, sha) for sha, path in re.findall(r"^([0-9a-f]{64})\s+(\S+)$", readme, re.M)
    )
    assert listed == {e.path: e.sha256 for e in reg.values()}
