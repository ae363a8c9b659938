"""Tiny-model training tests: accumulation equivalence, eval, diagnostics, resume, LoRA."""

from __future__ import annotations

import copy

import pytest
import torch
from transformers import TrainerCallback

from biobft.train import losses as L
from biobft.train.config import BFTConfig
from biobft.train.data import DataCollatorForCompletion, load_instruction_dataset
from biobft.train.trainer import BFTTrainer, train


def base_config(tmp_path, **kw):
    opts = dict(
        output_dir=str(tmp_path / "out"),
        max_steps=1,
        learning_rate=0.5,
        optim="sgd",
        lr_scheduler_type="constant",
        max_grad_norm=0.0,
        weight_decay=0.0,
        save_strategy="no",
        logging_steps=1,
        seed=0,
        use_cpu=True,
        disable_tqdm=True,
        dataloader_num_workers=0,
        group_size=3,
    )
    opts.update(kw)
    return BFTConfig(**opts)


LOSSES = [
    {"loss_type": "sft"},
    {"loss_type": "dft"},
    {"loss_type": "p_alpha", "alpha": 0.5},
    {"loss_type": "chord_phi"},
    {"loss_type": "bft", "bft_variant": "released"},
    {"loss_type": "bft", "bft_variant": "group_normalized", "conf_gamma": 2.0},
]


def _params(model):
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def _reference_update(model, tokenizer, dataset, cfg):
    """lr * gradient of the pure loss over the whole batch of 8 (one SGD step)."""
    model = copy.deepcopy(model).train()
    batch = DataCollatorForCompletion(tokenizer)(list(dataset))
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    loss = L.loss_terms(
        logits, batch["labels"], cfg.loss_type, variant=cfg.bft_variant,
        group_size=cfg.group_size, gamma=cfg.conf_gamma, alpha=cfg.alpha,
    ).loss  # fmt: skip
    loss.backward()
    return {n: -cfg.learning_rate * p.grad for n, p in model.named_parameters()}


@pytest.mark.parametrize("loss_kw", LOSSES, ids=lambda kw: "-".join(map(str, kw.values())))
def test_grad_accumulation_equals_full_batch(tiny_lm, tmp_path, loss_kw, make_records):
    model, tokenizer = tiny_lm
    dataset = load_instruction_dataset(make_records(8), tokenizer, max_length=64)
    assert len({len(f["input_ids"]) for f in dataset}) > 2  # padding differs between splits
    before = _params(model)
    updates = []
    for bs, accum in [(8, 1), (2, 4)]:
        cfg = base_config(
            tmp_path, per_device_train_batch_size=bs, gradient_accumulation_steps=accum, **loss_kw
        )
        m = copy.deepcopy(model)
        trainer = BFTTrainer(model=m, args=cfg, train_dataset=dataset, processing_class=tokenizer)
        trainer.train()
        after = _params(m)
        updates.append({n: after[n] - before[n] for n in before})
    ref = _reference_update(model, tokenizer, dataset, cfg)
    scale = max(float(u.abs().max()) for u in ref.values())
    assert scale > 1e-4  # the step really moved the parameters
    for name in before:
        torch.testing.assert_close(updates[0][name], updates[1][name], rtol=0, atol=1e-5)
        torch.testing.assert_close(updates[0][name], ref[name], rtol=0, atol=1e-5)


def test_eval_and_diagnostics_are_logged(tiny_lm, tmp_path, make_records):
    model, tokenizer = tiny_lm
    train_ds = load_instruction_dataset(make_records(8), tokenizer)
    eval_ds = load_instruction_dataset(make_records(4, seed=1), tokenizer)
    cfg = base_config(
        tmp_path, max_steps=2, per_device_train_batch_size=4, eval_strategy="steps", eval_steps=2,
        per_device_eval_batch_size=2,
    )  # fmt: skip
    trainer = BFTTrainer(
        model=model, args=cfg, train_dataset=train_ds, eval_dataset=eval_ds,
        processing_class=tokenizer,
    )  # fmt: skip
    trainer.train()
    hist = trainer.state.log_history
    train_logs = [h for h in hist if "loss" in h]
    eval_logs = [h for h in hist if "eval_loss" in h]
    assert len(train_logs) == 2 and len(eval_logs) == 1
    for h in train_logs:
        assert 0 < h["mean_token_weight"] < 1  # DFT-style weights = p
        assert 0 <= h["min_sample_weight"] <= h["mean_sample_weight"] <= 1
        assert 0 < h["mean_min_group_conf"] < 1
    ev = eval_logs[0]
    assert ev["eval_loss"] > 0 and "eval_mean_sample_weight" in ev
    # eval loss: mean over eval batches of the BFT loss of each batch (local sample count)
    metrics = trainer.evaluate()
    model.eval()
    coll = DataCollatorForCompletion(tokenizer)
    with torch.no_grad():
        per_batch = []
        for i in (0, 2):
            b = coll([eval_ds[i], eval_ds[i + 1]])
            logits = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits
            per_batch.append(L.bft_loss(logits, b["labels"], group_size=3).item())
    assert metrics["eval_loss"] == pytest.approx(sum(per_batch) / 2, rel=1e-5)


class _StopAt(TrainerCallback):
    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            control.should_training_stop = True


def test_resume_reaches_same_final_loss(tiny_lm, tmp_path, make_records):
    model, tokenizer = tiny_lm
    ds = load_instruction_dataset(make_records(8), tokenizer)
    kw = dict(
        max_steps=6, per_device_train_batch_size=2, optim="adamw_torch", learning_rate=1e-2,
        lr_scheduler_type="linear", loss_type="dft",
    )  # fmt: skip
    full = BFTTrainer(
        model=copy.deepcopy(model), args=base_config(tmp_path / "a", **kw), train_dataset=ds,
        processing_class=tokenizer,
    )  # fmt: skip
    full.train()
    cfg = base_config(tmp_path / "b", save_strategy="steps", save_steps=3, **kw)
    first = BFTTrainer(
        model=copy.deepcopy(model), args=cfg, train_dataset=ds, processing_class=tokenizer,
        callbacks=[_StopAt(3)],
    )  # fmt: skip
    first.train()
    assert first.state.global_step == 3
    ckpt = tmp_path / "b" / "out" / "checkpoint-3"
    assert ckpt.is_dir()
    second = BFTTrainer(
        model=copy.deepcopy(model), args=cfg, train_dataset=ds, processing_class=tokenizer
    )
    second.train(resume_from_checkpoint=str(ckpt))
    loss_full = [h["loss"] for h in full.state.log_history if "loss" in h]
    loss_res = [h["loss"] for h in second.state.log_history if "loss" in h]
    assert len(loss_full) == 6
    assert loss_res[-1] == pytest.approx(loss_full[-1], rel=1e-5)
    for (n, p), (_, q) in zip(full.model.named_parameters(), second.model.named_parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6, msg=n)


def test_train_entry_point_with_lora(tiny_lm, tmp_path, make_records):
    from biobft.train.data import write_jsonl

    model, tokenizer = tiny_lm
    data = write_jsonl(make_records(6), tmp_path / "train.jsonl")
    cfg = base_config(
        tmp_path, train_file=str(data), eval_file=str(data), max_steps=2, lora_r=4,
        lora_target_modules="q_proj,v_proj", per_device_train_batch_size=3, optim="adamw_torch",
        learning_rate=1e-2, eval_strategy="steps", eval_steps=2,
    )  # fmt: skip
    before = _params(model)
    trainer = train(cfg, model=model, tokenizer=tokenizer)
    peft_model = trainer.model
    lora = {n: p for n, p in peft_model.named_parameters() if "lora_B" in n}
    assert lora and all(float(p.detach().abs().max()) > 0 for p in lora.values())  # B starts at 0
    base = peft_model.get_base_model()
    for n, p in base.named_parameters():
        if "lora_" not in n:
            key = n.replace(".base_layer", "")
            torch.testing.assert_close(p, before[key], rtol=0, atol=0)
    out = tmp_path / "out"
    assert (out / "adapter_config.json").is_file()
    assert any("eval_loss" in h for h in trainer.state.log_history)


def test_full_finetune_moves_parameters_and_saves(tiny_lm, tmp_path, make_records):
    from biobft.train.data import write_jsonl

    model, tokenizer = tiny_lm
    data = write_jsonl(make_records(4), tmp_path / "train.jsonl")
    before = _params(model)
    cfg = base_config(tmp_path, train_file=str(data), max_steps=1, per_device_train_batch_size=4)
    trainer = train(cfg, model=model, tokenizer=tokenizer)
    moved = [n for n, p in trainer.model.named_parameters() if not torch.equal(p, before[n])]
    assert len(moved) == len(before)
    assert (tmp_path / "out" / "model.safetensors").is_file()
    assert (tmp_path / "out" / "tokenizer.json").is_file()


def test_train_without_data_or_missing_file(tmp_path, tiny_lm):
    model, tokenizer = tiny_lm
    with pytest.raises(ValueError, match="no training data"):
        train(base_config(tmp_path), model=model, tokenizer=tokenizer)
    with pytest.raises(FileNotFoundError, match="training data file not found"):
        train(base_config(tmp_path, train_file=str(tmp_path / "x.jsonl")), model=model,
              tokenizer=tokenizer)  # fmt: skip
    assert not (tmp_path / "out").exists()
