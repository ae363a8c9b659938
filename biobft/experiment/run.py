"""``run_experiment``: does BFT teach a small LLM gene knowledge that SFT misses?

One command:

1. gene instruction data ("Tell me about gene X." -> RefSeq summary) with a gene-disjoint
   train / held-out split that keeps every evaluation gene out of training (all Gene2vec test
   genes, the Gene2vec train genes used to fit the GGI classifier, Norman 2019's perturbed genes);
2. the base model plus one fine-tuned copy per loss type and seed, all with the same budget
   (steps, learning rate, batch, max length, LoRA rank or full fine-tuning);
3. for every model: held-out NLL and token accuracy; GGI ROC-AUC on Gene2vec test pairs from
   (a) mean-pooled LLM hidden states of the RefSeq text and (b) MiniLM embeddings of the model's
   own generated profiles; Norman 2019 Pearson delta with the ridge predictor on both tables;
4. mean ± sd over seeds: ``runs.csv``, ``summary.csv``, ``results.json``, ``results.md``,
   ``summary.png`` and the generated profiles in ``out_dir``.

Each finished arm is saved to ``out_dir/runs/<arm>.json`` (keyed by the settings): a rerun with the
same settings resumes after the last finished arm. The GGI evaluation scores the Gene2vec pairs
among a dense subset of genes (:func:`biobft.experiment.data.select_genes`), not all 21,448 test
pairs, so that every model can describe every scored gene on a CPU.

This module trains the arms and runs the loop; the pieces live beside it: the settings and presets
in :mod:`~biobft.experiment.settings`, the data in :mod:`~biobft.experiment.context`, the metrics
of one model in :mod:`~biobft.experiment.evaluate`, the multi-process work sharing in
``_processes.py`` and the written files in :mod:`~biobft.experiment.results`.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from .._paths import atomic_path
from ._processes import _processes, _share_work
from .context import _prepare
from .data import LOSS_VARIANTS
from .evaluate import _baselines, _evaluate
from .report import METRIC_LABELS, paired_differences, summarize
from .results import ExperimentResult, _write
from .settings import PRESETS, ExperimentSettings, _settings

logger = logging.getLogger(__name__)

__all__ = ["PRESETS", "ExperimentResult", "ExperimentSettings", "run_experiment"]


# --------------------------------------------------------------------------- models
def _loader(settings: ExperimentSettings, device: str | None) -> Callable[[], tuple[Any, Any]]:
    from biobft.models import load_causal_lm

    def load():
        return load_causal_lm(settings.model, dtype=settings.dtype, device=device)

    return load


def _train(model, tokenizer, dataset, arm: str, seed: int, settings: ExperimentSettings, out: Path):
    """Fine-tune ``model`` with ``arm``'s loss; returns ``(model, train_loss, seconds)``."""
    import torch

    from biobft.train import BFTConfig, train

    s = settings
    cuda = torch.cuda.is_available() and next(model.parameters()).device.type == "cuda"
    cfg = BFTConfig(
        output_dir=str(out / "train" / f"{arm}-seed{seed}"),
        **LOSS_VARIANTS[arm],
        group_size=s.group_size,
        max_steps=s.max_steps,
        learning_rate=s.learning_rate,
        lr_scheduler_type="constant",
        warmup_steps=0,
        weight_decay=0.0,
        per_device_train_batch_size=s.batch_size,
        gradient_accumulation_steps=s.gradient_accumulation_steps,
        max_length=s.max_length,
        lora_r=s.lora_r,
        seed=seed,
        data_seed=seed,
        save_strategy="no",
        logging_steps=max(1, s.max_steps // 4),
        report_to="none",
        disable_tqdm=True,
        use_cpu=not cuda,
        bf16=bool(cuda and torch.cuda.is_bf16_supported() and s.dtype in (None, "bf16")),
        dataloader_num_workers=0,
    )
    t0 = time.perf_counter()
    trainer = train(cfg, model=model, tokenizer=tokenizer, train_dataset=dataset, save=False)
    seconds = time.perf_counter() - t0
    model = trainer.model
    if s.lora_r:
        model = model.merge_and_unload()
    losses = [h["train_loss"] for h in trainer.state.log_history if "train_loss" in h]
    model.eval()
    return model, (float(losses[-1]) if losses else float("nan")), seconds


# --------------------------------------------------------------------------- runner
def _cached(path: Path, key: str) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data.get("record") if data.get("key") == key else None


def _store(path: Path, key: str, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps({"key": key, "record": record}, indent=1, default=float))


def run_experiment(
    *,
    model: str | os.PathLike = "smollm2-135m",
    loss_types: Iterable[str] | str = ("sft", "dft", "bft", "bft_gn"),
    seeds: Iterable[int] | int | None = None,
    quick: bool = False,
    out_dir: str | os.PathLike = "results/experiment",
    device: str | None = None,
    **overrides: Any,
) -> ExperimentResult:
    """Run the BFT-vs-DFT-vs-SFT experiment end to end and write its report.

    Parameters
    ----------
    model
        Causal LM: ``"smollm2-135m"`` (packaged SmolLM2-135M-Instruct) or a Hugging Face folder
        (a larger model on a GPU: same command). Training runs through the HF ``Trainer``;
        under ``accelerate launch`` / ``torchrun`` every process trains (data parallel), each
        process embeds and describes its share of the genes into the shared caches, and the
        main process scores the models and writes the report.
    loss_types
        Arms to train (names in :data:`biobft.experiment.data.LOSS_VARIANTS`); the base model is
        always evaluated too.
    seeds
        Training seeds; each arm is trained once per seed (same data, same budget). ``None``:
        the preset's (``(0, 1, 2)``; ``(0,)`` for ``quick``).
    quick
        Use the ``"quick"`` size preset (a few steps, ~100 genes): a CI smoke run.
    out_dir
        Output folder (created).
    device
        Model device (default: CUDA when available; ``cuda:<LOCAL_RANK>`` under a launcher).
    **overrides
        Any :class:`ExperimentSettings` field, e.g. ``max_steps=100``, ``learning_rate=1e-5``,
        ``lora_r=16``, ``n_train_genes=2000``, ``max_new_tokens=128``, ``dtype="bf16"``. Values of
        ``None`` keep the preset.

    Returns
    -------
    :class:`ExperimentResult` (also written as ``runs.csv``, ``summary.csv``, ``results.json``,
    ``results.md``, ``summary.png`` and ``profiles/<arm>.csv`` into ``out_dir``).

    Raises
    ------
    ValueError
        Unknown loss type, non-positive sizes, too few genes for the requested sizes.
    TypeError
        An unknown setting.
    FileNotFoundError
        A model path that does not exist.
    """
    import torch

    from biobft.train.data import load_instruction_dataset

    t_start = time.perf_counter()
    settings = _settings(
        quick, {"model": str(model), "loss_types": loss_types, "seeds": seeds, **overrides}
    )
    out = Path(out_dir)
    procs, device = _processes(device)
    load = _loader(settings, device)
    base_model, tokenizer = load()  # fails early on a bad model path, before any output
    out.mkdir(parents=True, exist_ok=True)
    key = settings.key()
    t = time.perf_counter()
    ctx = _prepare(settings)
    ctx.info["prepare_seconds"] = time.perf_counter() - t
    train_ds = load_instruction_dataset(
        ctx.train_records, tokenizer, max_length=settings.max_length
    )
    eval_ds = load_instruction_dataset(ctx.eval_records, tokenizer, max_length=settings.max_length)

    baselines = _cached(out / "runs" / "baselines.json", key)
    if baselines is None:
        if procs.main:
            _store(out / "runs" / "baselines.json", key, _baselines(ctx))
        procs.barrier()
        baselines = _cached(out / "runs" / "baselines.json", key)

    records = []
    arms = [("base", None)] + [(a, sd) for sd in settings.seeds for a in settings.loss_types]
    for arm, seed in arms:
        name = arm if seed is None else f"{arm}-seed{seed}"
        path = out / "runs" / f"{name}.json"
        rec = _cached(path, key)
        if rec is None:
            logger.info("experiment: %s", name)
            t0, c0 = time.perf_counter(), time.process_time()
            if seed is None:
                model, loss, train_s = base_model, float("nan"), 0.0
            else:
                model, tok = load()
                model, loss, train_s = _train(model, tok, train_ds, arm, seed, settings, out)
            _share_work(model, tokenizer, ctx, name, procs)
            if procs.main:
                rec = {"arm": arm, "seed": seed, "train_loss": loss, "train_seconds": train_s}
                rec.update(_evaluate(model, tokenizer, ctx, name, 0 if seed is None else seed,
                                     eval_ds, out))  # fmt: skip
                rec["seconds"] = time.perf_counter() - t0
                rec["cpu_seconds"] = time.process_time() - c0  # all threads; contention-free
                _store(path, key, rec)
            if model is not base_model:
                del model
            procs.barrier()
            if not procs.main:
                rec = _cached(path, key)
        else:
            logger.info("experiment: %s already done (resumed)", name)
        records.append(rec)

    runs = pd.DataFrame(records)
    summary = summarize(runs, metrics=[m for m in METRIC_LABELS if m in runs])
    seconds = time.perf_counter() - t_start
    info = {
        **ctx.info,
        "device": str(next(base_model.parameters()).device),
        "torch_threads": torch.get_num_threads(),
        "processes": procs.world,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "wall_seconds": seconds,
        "arms_seconds_total": float(runs["seconds"].sum()),
    }
    paired = paired_differences(runs, reference="sft")
    result = ExperimentResult(runs, summary, baselines, settings, out, seconds, info, paired)
    if procs.main:
        _write(result)
    procs.barrier()
    return result
