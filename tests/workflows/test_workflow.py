"""The Snakemake workflow (workflows/Snakefile): dry runs of the default config, a tiny real run."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SNAKEFILE = REPO / "workflows" / "Snakefile"
TINY = REPO / "workflows" / "config.tiny.yaml"

pytest.importorskip("snakemake", reason="snakemake is not installed (pip install biobft[workflow])")


def _snakemake(*args: str, cwd: Path = REPO, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run snakemake on the workflow in a subprocess; biobft importable from this checkout."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _job_counts(output: str) -> dict[str, int]:
    """Parse snakemake's 'Job stats' table into {rule: count}."""
    block = output.split("Job stats:", 1)[1]
    counts = {}
    for line in block.splitlines():
        m = re.match(r"^(\w+)\s+(\d+)\s*$", line)
        if m:
            counts[m.group(1)] = int(m.group(2))
    return counts


def test_dry_run_default_config(tmp_path):
    res = _snakemake("-n", "--directory", str(tmp_path), "--config", f"out={tmp_path}/out")
    assert res.returncode == 0, res.stderr + res.stdout
    counts = _job_counts(res.stdout + res.stderr)
    # default config: 3 loss types; models minilm + base + 3 trained, one text source
    assert counts["train_data"] == 1
    assert counts["train"] == 3
    for rule in ("ggi", "perturb", "report"):
        assert counts[rule] == 5, (rule, counts)
    assert counts["embed"] == 5 + 5  # each model's refseq table and its name-only baseline
    assert counts["perturbqa"] == 5 * 2  # K562 DE and direction per run
    assert "describe" not in counts
    assert counts["total"] == 1 + 3 + 10 + 3 * 5 + 10 + 1


def test_dry_run_report_assembles_the_earlier_outputs(tmp_path):
    """Each step runs once: the report rule reads the ggi / perturb / perturbqa outputs."""
    out = tmp_path / "out"
    res = _snakemake(
        "-n", "-p", "--directory", str(tmp_path), "--config", f"out={out}", "loss_types=[]",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr + res.stdout
    text = res.stdout + res.stderr
    assert "biobft benchmark" not in text
    run = "minilm__refseq"
    assert (
        f"biobft assemble --embeddings {out}/embeddings/{run}.parquet --ggi {out}/ggi/{run}.json"
        f" --perturbation {out}/perturb/{run}/perturbation_conditions.csv"
        f" --perturbqa {out}/perturbqa/{run}/k562_de.json {out}/perturbqa/{run}/k562_dir.json"
        " --perturb-dataset norman19"
    ) in text
    # the perturb rule's provenance sidecar (its table's fingerprint) is an input of the report
    sidecar = f"{out}/perturb/{run}/perturbation_conditions.csv.json"
    report_job = text.split("rule report:", 1)[1].split("rule ", 1)[0]
    assert sidecar in report_job and sidecar in text.split("rule perturb:", 1)[1]
    name = f"{out}/embeddings/minilm__name.parquet"
    assert f"--plot {out}/ggi/{run}.png --features sum --classifier logistic --seed 0" in text
    assert f"--name-table {name}" in text
    assert (
        f"biobft perturbqa --cell-line k562 --task dir --embeddings {out}/embeddings/{run}.parquet"
        f" --name-embeddings {name} --missing skip --seed 0"
        f" --json {out}/perturbqa/{run}/k562_dir.json"
    ) in text
    # without the name baseline or PerturbQA the report takes what is left
    res = _snakemake(
        "-n", "-p", "--directory", str(tmp_path), "--config", f"out={out}", "loss_types=[]",
        "name_baseline=false", "perturbqa={enabled: false}",
    )  # fmt: skip
    text = res.stdout + res.stderr
    counts = _job_counts(text)
    assert counts["embed"] == 2 and "perturbqa" not in counts
    assert "--name-table" not in text and "--perturbqa" not in text


def test_dry_run_tiny_config(tmp_path):
    res = _snakemake(
        "-n", "-p", "--configfile", str(TINY), "--config", f"out={tmp_path}/out"
    )  # fmt: skip
    assert res.returncode == 0, res.stderr + res.stdout
    counts = _job_counts(res.stdout + res.stderr)
    assert counts["train"] == 1  # loss_types: [bft]
    for rule in ("ggi", "perturb", "report"):
        assert counts[rule] == 2, (rule, counts)  # base + bft, one source
    assert counts["embed"] == 4  # + the name-only baseline tables
    assert "perturbqa" not in counts  # off in the tiny config
    out = res.stdout + res.stderr
    assert "--genes workflows/genes.tiny.txt" in out
    assert "--max-steps 2" in out


def test_dry_run_describe_and_two_sources(tmp_path):
    res = _snakemake(
        "-n",
        "--directory",
        str(tmp_path),
        "--config",
        f"out={tmp_path}/out",
        "loss_types=[bft]",
        "encoders=[]",
        "text_sources=[refseq, 'refseq|name']",
        "describe={enabled: true, n_genes: 5}",
    )
    assert res.returncode == 0, res.stderr + res.stdout
    counts = _job_counts(res.stdout + res.stderr)
    assert counts["describe"] == 2  # base + bft
    assert counts["embed"] == 6  # (base, bft) x (refseq, refseq|name, name baseline)
    assert counts["report"] == 4
    # the shell commands are biobft CLI calls with the configured options
    res = _snakemake(
        "-n", "-p", "--directory", str(tmp_path), "--config", f"out={tmp_path}/out",
        "loss_types=[bft]", "encoders=[]", "text_sources=['refseq|name']",
    )  # fmt: skip
    out = res.stdout + res.stderr
    assert "biobft train --loss-type bft --model smollm2-135m" in out
    assert "--source 'refseq|name'" in out
    assert "--pooling mean" in out


def test_config_without_models_is_an_error(tmp_path):
    res = _snakemake(
        "-n",
        "--directory",
        str(tmp_path),
        "--config",
        "encoders=[]",
        "embed_base_model=false",
        "loss_types=[]",
    )
    assert res.returncode != 0
    assert "nothing to embed" in res.stdout + res.stderr


@pytest.mark.slow
def test_tiny_real_run(tiny_lm_dir, data_mirror, tmp_path):
    """The tiny config end to end: train (2 steps) -> embed -> ggi -> perturb -> report."""
    out = tmp_path / "out"
    args = (
        "--configfile",
        str(TINY),
        "--config",
        f"out={out}",
        f"base_model={tiny_lm_dir}",
        f"biobft={sys.executable} -m biobft.cli",
        "--cores",
        "2",
    )
    res = _snakemake(*args, timeout=1200)
    logs = "\n".join(
        f"== {p.name}\n{p.read_text()[-3000:]}" for p in sorted((out / "logs").glob("*.log"))
    ) if (out / "logs").is_dir() else ""  # fmt: skip
    assert res.returncode == 0, res.stderr[-5000:] + logs

    from biobft.embed import read_table

    genes = set((REPO / "workflows" / "genes.tiny.txt").read_text().split())
    for run in ("base__refseq", "bft__refseq"):
        table = read_table(out / "embeddings" / f"{run}.parquet")
        assert set(table.index) <= genes and len(table) > 20
        assert table.shape[1] == 32  # hidden size of the tiny model
        ggi = json.loads((out / "ggi" / f"{run}.json").read_text())
        assert ggi["n_used"]["test"] > 0 and 0 <= ggi["roc_auc"] <= 1
        assert set(ggi["baselines"]) == {"random", "name"}
        assert (out / "ggi" / f"{run}.png").stat().st_size > 0
        report = out / "report" / run
        assert "Gene-gene interaction" in (report / "report.md").read_text()
        results = json.loads((report / "results.json").read_text())
        # the report holds the ggi rule's numbers (assembled, not computed again)
        ggi.pop("curves")
        from biobft.report.provenance import table_fingerprint

        assert ggi.pop("provenance")["table_sha256"] == table_fingerprint(table)
        assert len(ggi.pop("content_sha256")) == 64  # the record's own digest (assemble checks it)
        assert results["ggi"] == ggi
        assert results["config"]["assembled_from"]["ggi"] == str(out / "ggi" / f"{run}.json")
        assert {r["predictor"] for r in results["perturbation_summary"]} == {
            "no_change",
            "additive",
            "ridge",
        }
        assert (out / "perturb" / run / "perturbation_conditions.csv").stat().st_size > 0
        side = json.loads((out / "perturb" / run / "perturbation_conditions.csv.json").read_text())
        assert side["provenance"]["table_sha256"] == table_fingerprint(table)
    # the trained model differs from the base model it started from
    from safetensors.numpy import load_file

    base = load_file(tiny_lm_dir / "model.safetensors")
    trained = load_file(out / "models" / "bft" / "model.safetensors")
    assert any(not (base[k] == trained[k]).all() for k in base if k in trained), (
        "2 training steps left every weight unchanged"
    )
    # a second invocation has nothing to do
    res = _snakemake(*args, "-n", timeout=120)
    assert res.returncode == 0
    assert "Nothing to be done" in res.stdout + res.stderr
