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


# ------------------------------------------------------------- issue 12 case 15: output paths
def _commands(out_dir, data):
    return {
        "embed": ["embed", "--out", f"{out_dir}/t.parquet"],
        "perturb evaluate": ["perturb", "evaluate", "--data", data, "--out", f"{out_dir}/m.csv"],
        "perturb predict": ["perturb", "predict", "--data", data, "--perturbations", "A",
                            "--out", f"{out_dir}/p.h5ad"],
        "perturb split": ["perturb", "split", "--data", data, "--out", f"{out_dir}/s.json"],
        "train-data": ["train-data", "--output-dir", f"{out_dir}/data"],
        "ggi --json": ["ggi", "--embeddings", "t.parquet", "--json", f"{out_dir}/r.json"],
    }  # fmt: skip


def test_unwritable_outputs_fail_before_any_work(tmp_path, capsys, monkeypatch):
    """A parent that is a file (unwritable even for root): exit 2, one line, nothing loaded."""
    import anndata as ad

    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    monkeypatch.setattr(ad, "read_h5ad", lambda *a, **k: pytest.fail("data was loaded"))
    monkeypatch.setattr("biobft.embed.genes.embed_genes", lambda *a, **k: pytest.fail("work"))
    monkeypatch.setenv("BIOBFT_CACHE_DIR", str(tmp_path / "cache"))
    data = tmp_path / "d.h5ad"
    data.write_text("")
    for name, argv in _commands(blocker, str(data)).items():
        assert main(argv) == 2, name
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1, (name, err)
        assert "is a file, not a folder" in err, (name, err)


def test_read_only_cache_dir_fails_fast(tmp_path, capsys, monkeypatch):
    cache = tmp_path / "cache-file"
    cache.write_text("x")
    monkeypatch.setenv("BIOBFT_CACHE_DIR", str(cache))
    monkeypatch.setattr("biobft.embed.genes.embed_genes", lambda *a, **k: pytest.fail("work"))
    assert main(["embed", "--out", str(tmp_path / "t.parquet")]) == 2
    err = capsys.readouterr().err
    assert "cache folder $BIOBFT_CACHE_DIR" in err and "set BIOBFT_CACHE_DIR" in err


def test_permission_denied_without_root_bypass(tmp_path):
    """A read-only folder, with root's permission-bypassing capabilities dropped (setpriv)."""
    import os
    import shutil
    import subprocess
    import sys

    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    prefix = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root and setpriv (util-linux) is missing: cannot drop caps")
        prefix = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search,-fowner", "--"]
    env = {**os.environ, "BIOBFT_CACHE_DIR": str(tmp_path / "cache")}
    data = tmp_path / "d.h5ad"
    data.write_text("")
    # one interpreter runs every command (an interpreter start per command is slow)
    script = (
        "import json, sys\n"
        "from biobft.cli import main\n"
        "cmds = json.loads(sys.argv[1])\n"
        "for name, argv in cmds.items():\n"
        "    print(name, main(argv), file=sys.stderr, flush=True)\n"
    )
    cmds = _commands(ro, str(data))
    try:
        import json

        res = subprocess.run(
            [*prefix, sys.executable, "-c", script, json.dumps(cmds)],
            capture_output=True, text=True, timeout=300, env=env,
        )  # fmt: skip
        lines = res.stderr.strip().splitlines()
        assert res.returncode == 0, res.stderr
        for name in cmds:
            err = next(i for i, line in enumerate(lines) if line == f"{name} 2")
            assert "cannot be written (Permission denied" in lines[err - 1], (name, lines)
            assert lines[err - 1].startswith("biobft "), lines[err - 1]  # exactly one line
        assert list(ro.iterdir()) == []
        cmd = [
            *prefix,
            sys.executable,
            "-m",
            "biobft.cli",
            "embed",
            "--out",
            str(tmp_path / "t.csv"),
        ]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                             env={**env, "BIOBFT_CACHE_DIR": str(ro / "cache")})  # fmt: skip
        assert res.returncode == 2 and "cache folder $BIOBFT_CACHE_DIR" in res.stderr
        assert len(res.stderr.strip().splitlines()) == 1
    finally:
        ro.chmod(0o755)
