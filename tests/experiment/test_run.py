"""End-to-end quick experiment on the tiny random model (real data from the mirror)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from biobft.experiment.run import run_experiment

pytestmark = pytest.mark.filterwarnings("ignore:.*does not support bfloat16 compilation.*")

SMALL = dict(
    n_train_genes=8, n_eval_genes=4, n_ggi_train_genes=24, n_ggi_test_genes=16, max_steps=2,
    batch_size=2, max_length=64, max_new_tokens=4, embed_max_length=48, gen_batch_size=32,
    embed_batch_size=32, learning_rate=1e-3,
)  # fmt: skip


@pytest.mark.slow  # ~30 s of CPU; test_experiment_resumes_and_validates and the test above
# cover the same code paths quickly
def test_quick_experiment_end_to_end(data_mirror, tiny_lm_dir, tmp_path):
    from biobft import datasets

    out = tmp_path / "exp"
    res = run_experiment(model=tiny_lm_dir, loss_types=("bft",), seeds=(0, 1), quick=True,
                         out_dir=out, device="cpu", **SMALL)  # fmt: skip
    runs = res.runs
    assert list(runs["arm"]) == ["base", "bft", "bft"]
    metrics = ["nll", "token_accuracy", "ggi_hidden_roc_auc", "ggi_profile_roc_auc",
               "pert_hidden_pearson_delta", "pert_profile_pearson_delta"]  # fmt: skip
    assert np.isfinite(runs[metrics].to_numpy(dtype=float)).all()
    assert (
        (
            (runs[["ggi_hidden_roc_auc", "ggi_profile_roc_auc"]] >= 0)
            & (runs[["ggi_hidden_roc_auc", "ggi_profile_roc_auc"]] <= 1)
        )
        .all()
        .all()
    )
    # training moved the model: the trained arms' held-out NLL differs from the base model's
    assert (runs["nll"][1:] != runs["nll"][0]).all()
    assert np.isfinite(runs["train_loss"][1:]).all()
    # mean +- sd over the two seeds
    s = res.summary
    assert list(s.index) == ["base", "bft"] and list(s["n_seeds"]) == [1, 2]
    bft = runs[runs["arm"] == "bft"]["nll"]
    assert s.loc["bft", "nll_mean"] == pytest.approx(bft.mean())
    assert s.loc["bft", "nll_sd"] == pytest.approx(bft.std(ddof=1))
    assert bft.iloc[0] != bft.iloc[1]  # the seed changes the training run
    # files
    for name in ("runs.csv", "summary.csv", "results.json", "results.md", "summary.png",
                 "profiles/base.csv", "profiles/bft-seed1.csv"):  # fmt: skip
        assert (out / name).is_file(), name
    payload = json.loads((out / "results.json").read_text())
    assert payload["settings"]["quick"] is True and payload["info"]["n_ggi_test_pairs"] > 0
    assert "| base |" in (out / "results.md").read_text()
    # every Gene2vec test gene is kept out of the training data; eval genes too
    test = datasets.gene2vec_pairs("test")
    test_genes = set(test["gene_a"]) | set(test["gene_b"])
    profiles = pd.read_csv(out / "profiles" / "base.csv", index_col=0)
    assert payload["info"]["n_excluded_from_training"] >= len(test_genes)
    assert set(profiles.index) & test_genes  # test genes are described, never trained on


# ----------------------------------------------------------------------------- fast, synthetic
def _toy_context(settings):
    """A synthetic stand-in for the real data (no mirror needed): toy texts, pairs, cells."""
    from biobft.experiment.context import _Context
    from biobft.experiment.data import instruction_split
    from biobft.perturb._synthetic import synthetic_perturbation_data

    rng = np.random.default_rng(0)
    words = "gene encodes protein tumor suppressor binds DNA regulates transcription".split()
    adata, _, _ = synthetic_perturbation_data(n_perturbed=8, n_doubles=3, seed=0)
    pert = sorted({g for c in adata.obs["condition"].unique() if c != "control"
                   for g in c.split("+")})  # fmt: skip
    genes = [f"G{i}" for i in range(60)] + pert
    refseq = pd.Series(
        [f"Gene symbol {g}. " + " ".join(rng.choice(words, 8)) for g in genes], index=genes
    )

    def pairs(pool, n):
        a, b = rng.choice(pool, size=(2, n))
        return pd.DataFrame({"gene_a": a, "gene_b": b, "label": np.arange(n) % 2})

    ggi_train, ggi_test = pairs(genes[:10], 30), pairs(genes[10:18], 20)
    knockdowns = genes[18:34]  # a toy PerturbQA table: 6 test and 10 training knockdowns
    pqa = pd.DataFrame(
        [(p, f"G{j}", int(rng.random() < 0.4)) for p in knockdowns for j in range(10)],
        columns=["pert", "gene", "label"],
    )
    pqa["split"] = np.where(pqa["pert"].isin(knockdowns[:6]), "test", "train")
    used = genes[:18] + pert + knockdowns
    n_train, n_eval = settings.n_train_genes, settings.n_eval_genes
    train, evals = instruction_split(
        refseq, n_train_genes=n_train, n_eval_genes=n_eval, exclude_genes=used
    )
    return _Context(settings, refseq, ggi_train, ggi_test, adata, used, train, evals,
                    {"n_ggi_train_pairs": 30}, pqa)  # fmt: skip


def test_experiment_resumes_and_validates(tiny_lm_dir, tmp_path, monkeypatch):
    import biobft.experiment.run as run_mod

    monkeypatch.setenv("BIOBFT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(run_mod, "_prepare", _toy_context)
    small = {**SMALL, "n_train_genes": 6, "lora_r": 4}
    kw = dict(model=tiny_lm_dir, loss_types="sft,dft", seeds=0, quick=True, out_dir=tmp_path / "e",
              device="cpu", encoder=str(tiny_lm_dir), **small)  # fmt: skip
    res = run_experiment(**kw)
    assert list(res.runs["arm"]) == ["base", "sft", "dft"]
    assert res.settings.loss_types == ("sft", "dft") and res.settings.seeds == (0,)
    assert res.settings.max_steps == 2 and res.settings.n_eval_genes == 4  # overrides win
    assert res.settings.n_ggi_train_genes == SMALL["n_ggi_train_genes"]
    for table in ("hidden", "profile"):  # every arm is scored on the (toy) PerturbQA pairs
        assert res.runs[f"pqa_{table}_auroc_per_gene"].between(0, 1).all()
        assert (res.runs[f"pqa_{table}_n_test_knockdowns"] == 6).all()
    assert "pqa_hidden_auroc_per_gene_mean" in res.summary.columns

    names = ["base.csv", "sft-seed0.csv", "dft-seed0.csv"]
    for name, n_empty in zip(names, res.runs["n_empty_profiles"]):
        written = pd.read_csv(tmp_path / "e" / "profiles" / name, index_col=0,
                              keep_default_na=False).iloc[:, 0]  # fmt: skip
        assert n_empty == sum(not str(p).split() for p in written)  # counted independently
        assert len(written) > 0
    assert res.settings.lora_r == 4  # LoRA adapters are trained, then merged for evaluation
    assert (res.runs["nll"][1:] != res.runs["nll"][0]).all()
    assert (tmp_path / "e" / "runs" / "sft-seed0.json").is_file()
    paired = res.paired.set_index("metric")
    assert set(paired["arm"]) == {"dft"}  # every seeded arm against sft
    assert paired.loc["nll", "mean"] == pytest.approx(res.runs["nll"][2] - res.runs["nll"][1])
    assert "## Each arm minus sft, paired by seed" in (tmp_path / "e" / "results.md").read_text()

    def boom(*a, **k):
        raise AssertionError("a finished arm was trained again")

    monkeypatch.setattr(run_mod, "_train", boom)
    again = run_experiment(**kw)
    pd.testing.assert_frame_equal(again.runs, res.runs)
    # more seeds or arms reuse the finished ones and train only the new ones
    trained = []
    monkeypatch.setattr(run_mod, "_train", lambda m, t, d, arm, seed, *a: (
        trained.append((arm, seed)) or (m, 0.5, 0.0)))  # fmt: skip
    more = run_experiment(**{**kw, "loss_types": "sft,dft,bft", "seeds": [0, 1]})
    assert trained == [("bft", 0), ("sft", 1), ("dft", 1), ("bft", 1)]
    pd.testing.assert_frame_equal(more.runs.iloc[:3], res.runs)
    monkeypatch.setattr(run_mod, "_train", boom)
    # a changed setting is a new experiment: the finished arms are not reused
    with pytest.raises(AssertionError, match="trained again"):
        run_experiment(**{**kw, "learning_rate": 2e-3})


@pytest.mark.parametrize(
    ("kwargs", "err", "match"),
    [
        ({"loss_types": ["sft", "ppo"]}, ValueError, r"unknown loss type\(s\) \['ppo'\]"),
        ({"seeds": []}, ValueError, "seeds is empty"),
        ({"max_steps": 0}, ValueError, "max_steps must be >= 1"),
        ({"n_ggi_test_genes": 1}, ValueError, "must be >= 2"),
        ({"learning_rate": 0.0}, ValueError, "learning_rate must be > 0"),
        ({"lora_r": -1}, ValueError, "lora_r must be >= 0"),
        ({"warp_speed": 9}, TypeError, r"unknown experiment setting\(s\) \['warp_speed'\]"),
        ({"model": "/no/such/model"}, FileNotFoundError, "neither a packaged"),
    ],
)
def test_bad_settings_fail_before_writing(tmp_path, kwargs, err, match):
    out = tmp_path / "exp"
    with pytest.raises(err, match=match):
        run_experiment(**{"quick": True, "out_dir": out, **kwargs})
    assert not out.exists()


def test_experiment_under_two_processes(tiny_lm_dir, tmp_path, monkeypatch):
    """``accelerate launch`` x 2 on CPU (gloo): both processes train, each describes half of
    the genes into the shared cache, the main process writes one report; the base model's
    results equal a single-process run's."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    import biobft.experiment.run as run_mod

    here = Path(__file__).parent
    script = tmp_path / "launch.py"
    kwargs = dict(model=str(tiny_lm_dir), loss_types="sft", seeds=0, quick=True,
                  encoder=str(tiny_lm_dir), **SMALL)  # fmt: skip
    script.write_text(
        f"import sys; sys.path.insert(0, {str(here)!r})\n"
        "import biobft.experiment.run as run_mod\n"
        "from test_run import _toy_context\n"
        "run_mod._prepare = _toy_context\n"
        f"res = run_mod.run_experiment(out_dir={str(tmp_path / 'dist')!r}, **{kwargs!r})\n"
        "import os; rank = os.environ['RANK']\n"
        f"res.runs.to_json({str(tmp_path)!r} + f'/runs-{{rank}}.json')\n"
    )
    accelerate = Path(sys.executable).with_name("accelerate")
    cmd = [str(accelerate), "launch", "--num_processes", "2", "--num_machines", "1", "--multi_gpu",
           "--mixed_precision", "no", "--dynamo_backend", "no", str(script)]  # fmt: skip
    repo = here.parents[1]
    env = {**os.environ, "PYTHONPATH": str(repo), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "BIOBFT_CACHE_DIR": str(tmp_path / "cache-dist")}  # fmt: skip
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # both processes return the results (each writes its own file: a shared stdout interleaves)
    rank0, rank1 = (pd.read_json(tmp_path / f"runs-{r}.json") for r in (0, 1))
    pd.testing.assert_frame_equal(rank0, rank1)
    payload = json.loads((tmp_path / "dist" / "results.json").read_text())
    assert payload["info"]["processes"] == 2
    assert [r["arm"] for r in payload["runs"]] == ["base", "sft"]
    # per model, one profile shard from each process and none from the main process's scoring
    # pass (it found every gene cached: both processes hold the same trained weights)
    folders = sorted((tmp_path / "cache-dist" / "profiles").iterdir())
    assert len(folders) == 2
    assert [len(list(f.glob("shard-*"))) for f in folders] == [2, 2]

    monkeypatch.setenv("BIOBFT_CACHE_DIR", str(tmp_path / "cache-one"))
    monkeypatch.setattr(run_mod, "_prepare", _toy_context)
    one = run_experiment(out_dir=tmp_path / "one", device="cpu", **kwargs)
    base = pd.DataFrame(payload["runs"]).iloc[0]
    for metric in ("nll", "token_accuracy", "ggi_hidden_roc_auc", "ggi_profile_roc_auc"):
        assert base[metric] == pytest.approx(one.runs[metric].iloc[0], rel=1e-5), metric
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "dist" / "profiles" / "base.csv"),
        pd.read_csv(tmp_path / "one" / "profiles" / "base.csv"),
    )
