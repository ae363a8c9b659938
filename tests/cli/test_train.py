"""Tests of the ``biobft train`` / ``biobft train-data`` CLI, incl. a 2-process accelerate run."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from biobft.cli import main
from biobft.train import losses as L
from biobft.train.data import DataCollatorForCompletion, load_instruction_dataset, write_jsonl

REPO = Path(__file__).resolve().parents[2]

SGD_STEP = [
    "--max-steps", "1", "--optim", "sgd", "--learning-rate", "0.5", "--lr-scheduler-type",
    "constant", "--max-grad-norm", "0", "--weight-decay", "0", "--save-strategy", "no",
    "--seed", "0", "--use-cpu", "--disable-tqdm", "true", "--group-size", "3",
]  # fmt: skip


def test_train_help_shows_hf_options(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "usage: biobft train" in out
    assert "--loss_type {sft,dft,bft,p_alpha,chord_phi}" in out
    assert "--per_device_train_batch_size" in out


def test_train_cli_runs_and_saves(tiny_lm_dir, tmp_path, capsys, make_records):
    data = write_jsonl(make_records(4), tmp_path / "train.jsonl")
    out = tmp_path / "run"
    code = main(
        ["train", "--loss-type", "bft", "--bft-variant", "group_normalized", "--model",
         str(tiny_lm_dir), "--data", str(data), "--eval-data", str(data), "--output-dir",
         str(out), "--per-device-train-batch-size", "2", "--eval-strategy", "steps",
         "--eval-steps", "1", "--logging-steps", "1", *SGD_STEP]
    )  # fmt: skip
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["global_step"] == 1 and summary["eval_loss"] > 0
    assert 0 < summary["mean_sample_weight"] <= 1
    assert (out / "model.safetensors").is_file()


def test_train_cli_bad_input(tiny_lm_dir, tmp_path, capsys, make_records):
    data = write_jsonl(make_records(2), tmp_path / "train.jsonl")
    base = ["train", "--model", str(tiny_lm_dir), "--data", str(data), "--output-dir",
            str(tmp_path / "run"), "--use-cpu"]  # fmt: skip
    assert main([*base, "--group-size", "0"]) == 2
    assert "group_size must be an integer >= 1" in capsys.readouterr().err
    assert main([*base, "--conf-gamma", "-1"]) == 2
    assert "gamma" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "x", "response": "y"}\nnot json\n')
    assert main([*base, "--data", str(bad)]) == 2  # the last --data wins
    assert "line 2: invalid JSON" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse choices list the valid loss types
        main([*base, "--loss-type", "ce"])
    assert "invalid choice: 'ce'" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_train_data_cli(tmp_path, capsys, monkeypatch):
    import pandas as pd

    import biobft.text

    texts = pd.Series(
        [f"Gene symbol G{i}. text {i}" for i in range(10)], index=[f"G{i}" for i in range(10)]
    )
    monkeypatch.setattr(biobft.text, "gene_texts", lambda genes=None, source="refseq": texts)
    excl = tmp_path / "excl.txt"
    excl.write_text("G1 G2\nG3\n")
    out = tmp_path / "gd"
    code = main(["train-data", "--output-dir", str(out), "--exclude-genes", str(excl),
                 "--eval-fraction", "0.3", "--seed", "3"])  # fmt: skip
    assert code == 0
    info = json.loads(capsys.readouterr().out)
    assert info["n_train"] + info["n_eval"] == 7 and info["n_eval"] == 2
    rows = [json.loads(x) for x in (out / "train.jsonl").read_text().splitlines()]
    assert {r["gene"] for r in rows}.isdisjoint({"G1", "G2", "G3"})
    r = rows[0]
    assert r["prompt"] == f"Tell me about gene {r['gene']}." and r["response"].startswith("text ")
    assert (
        main(["train-data", "--output-dir", str(tmp_path / "x"), "--exclude-genes", "nofile"]) == 2
    )
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("loss_type", ["bft", pytest.param("sft", marks=pytest.mark.slow)])
def test_accelerate_two_processes_match_single_batch_update(tiny_lm, tiny_lm_dir, tmp_path,
                                                            loss_type, make_records):  # fmt: skip
    """2 CPU processes x batch 2 x accumulation 2 == one SGD step on the whole batch of 8.

    ``accelerate launch --cpu --num_processes 2`` starts ONE process (accelerate's CPU launcher
    needs an mpirun hostfile for more); ``--multi_gpu`` starts 2 torchrun processes, and
    ``--use-cpu`` makes the Trainer use a gloo (MULTI_CPU) process group.
    """
    model, tokenizer = tiny_lm
    records = make_records(8)
    data = write_jsonl(records, tmp_path / "train.jsonl")
    out = tmp_path / "ddp"
    accelerate = Path(sys.executable).with_name("accelerate")
    cmd = [str(accelerate), "launch", "--num_processes", "2", "--num_machines", "1", "--multi_gpu",
           "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "biobft.cli", "train",
           "--loss-type", loss_type, "--model", str(tiny_lm_dir), "--data", str(data),
           "--output-dir", str(out), "--per-device-train-batch-size", "2",
           "--gradient-accumulation-steps", "2", *SGD_STEP]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "'epoch': '1'" in proc.stdout  # 8 samples = 1 step of 2 x 2 x 2: both processes ran
    from transformers import AutoModelForCausalLM

    trained = AutoModelForCausalLM.from_pretrained(out)
    # reference: the gradient of the pure loss over all 8 samples
    ref = copy.deepcopy(model).train()
    ds = load_instruction_dataset(records, tokenizer)
    batch = DataCollatorForCompletion(tokenizer)(list(ds))
    logits = ref(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    L.loss_terms(logits, batch["labels"], loss_type, group_size=3).loss.backward()
    trained_params = dict(trained.named_parameters())
    for name, p in ref.named_parameters():
        expected = p.detach() - 0.5 * p.grad
        torch.testing.assert_close(trained_params[name].detach(), expected, rtol=0, atol=1e-5)
    # a wrong normalisation (e.g. per-process mean) would move parameters by a different amount
    assert max(float(p.grad.abs().max()) for p in ref.parameters()) > 1e-4


def test_train_cli_bft_variant_reaches_the_loss(tiny_lm_dir, tmp_path, capsys, make_records,
                                                monkeypatch):  # fmt: skip
    import biobft.train.trainer as trainer_mod

    seen = []
    real = trainer_mod.make_loss_func

    def spy(loss_type, **kw):
        seen.append((loss_type, kw["variant"]))
        return real(loss_type, **kw)

    monkeypatch.setattr(trainer_mod, "make_loss_func", spy)
    data = write_jsonl(make_records(4), tmp_path / "train.jsonl")
    losses = {}
    for variant in ("released", "group_normalized"):
        code = main(
            ["train", "--loss-type", "bft", "--bft-variant", variant, "--model", str(tiny_lm_dir),
             "--data", str(data), "--output-dir", str(tmp_path / variant),
             "--per-device-train-batch-size", "4", "--logging-steps", "1", *SGD_STEP]
        )  # fmt: skip
        assert code == 0
        losses[variant] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["train_loss"]
    assert seen == [("bft", "released"), ("bft", "group_normalized")]
    # the two variants weight tokens differently: same data and weights, different loss
    assert losses["released"] != pytest.approx(losses["group_normalized"], rel=1e-4)
