from __future__ import annotations

import pandas as pd
import pytest

from biobft.cli import main


@pytest.fixture
def cache_root(tmp_path, monkeypatch):
    monkeypatch.setenv("BIOBFT_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_describe_cli_writes_profiles(tiny_lm_dir, tmp_path, cache_root, capsys):
    genes = tmp_path / "genes.txt"
    genes.write_text("# header\nTP53\nKLF1 extra column\n\n")
    for out in (tmp_path / "p.csv", tmp_path / "p.parquet"):
        code = main(["describe", "--model", str(tiny_lm_dir), "--genes", str(genes), "--out",
                     str(out), "--max-new-tokens", "3"])  # fmt: skip
        assert code == 0
        df = pd.read_csv(out, index_col=0) if out.suffix == ".csv" else pd.read_parquet(out)
        assert list(df.index) == ["TP53", "KLF1"] and list(df.columns) == ["profile"]
    lines = capsys.readouterr().out.splitlines()
    assert "(0 from cache" in lines[0] and "(2 from cache" in lines[1]  # the rerun is cached


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--genes", "missing.txt", "--out", "p.csv"], "does not exist"),
        (["--n-genes", "2", "--out", "p.txt"], "must end in .parquet or .csv"),
        (["--n-genes", "0", "--out", "p.csv"], "--n-genes must be >= 1"),
    ],
)
def test_describe_cli_errors(argv, match, tmp_path, monkeypatch, capsys, cache_root):
    monkeypatch.chdir(tmp_path)
    assert main(["describe", "--model", "unused", *argv]) == 2
    assert match in capsys.readouterr().err
    assert not (tmp_path / "p.csv").exists()


def test_experiment_cli_passes_settings(monkeypatch, tmp_path, capsys):
    import biobft.experiment.run as run_mod

    seen = {}

    class Fake:
        out_dir = tmp_path
        seconds = 60.0

    def fake(**kwargs):
        seen.update(kwargs)
        (tmp_path / "results.md").write_text("| arm |")
        return Fake()

    monkeypatch.setattr(run_mod, "run_experiment", fake)
    argv = ["experiment", "--quick", "--loss-types", "sft", "bft_gn", "--seeds", "0", "1"]
    argv += ["--max-steps", "5", "--learning-rate", "1e-4", "--out-dir", str(tmp_path)]
    code = main(argv)
    assert code == 0
    assert seen["quick"] is True and seen["loss_types"] == ["sft", "bft_gn"]
    assert seen["seeds"] == [0, 1] and seen["max_steps"] == 5 and seen["learning_rate"] == 1e-4
    assert seen["n_train_genes"] is None  # None keeps the preset
    assert "| arm |" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--loss-types", "sft", "ppo"], "unknown loss type(s) ['ppo']"),
        (["--max-steps", "0"], "max_steps must be >= 1"),
        (["--model", "/no/such/folder"], "neither a packaged"),
    ],
)
def test_experiment_cli_errors_before_writing(argv, match, tmp_path, capsys):
    out = tmp_path / "exp"
    assert main(["experiment", "--quick", "--out-dir", str(out), *argv]) == 2
    assert match in capsys.readouterr().err
    assert not out.exists()


def test_describe_cli_max_new_tokens_bounds_the_profiles(tiny_lm_dir, tmp_path, cache_root):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_lm_dir)
    genes = tmp_path / "genes.txt"
    genes.write_text("TP53\nKLF1\nBRCA1\n")
    n_tokens = {}
    for n in (2, 7):
        out = tmp_path / f"p{n}.csv"
        code = main(["describe", "--model", str(tiny_lm_dir), "--genes", str(genes), "--out",
                     str(out), "--max-new-tokens", str(n), "--no-cache"])  # fmt: skip
        assert code == 0
        profiles = pd.read_csv(out, index_col=0, keep_default_na=False)["profile"]
        n_tokens[n] = [len(tok(str(p), add_special_tokens=False)["input_ids"]) for p in profiles]
    assert max(n_tokens[2]) <= 2 and max(n_tokens[7]) <= 7
    assert max(n_tokens[7]) > 2  # the option, not a fixed length, bounds the generation
