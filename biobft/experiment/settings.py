"""Settings of :func:`biobft.experiment.run_experiment`: size presets, the settings record and
the resolution of a call's arguments into one (every check runs before anything is written)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from .data import check_loss_types, sizes_ok

__all__ = ["PRESETS", "ExperimentSettings"]

PRESETS: dict[str, dict[str, Any]] = {
    "default": {
        "seeds": (0, 1, 2),
        "n_train_genes": 256,
        "n_eval_genes": 32,
        "n_ggi_train_genes": 192,
        "n_ggi_test_genes": 128,
        "max_steps": 32,
        "batch_size": 4,
        "gradient_accumulation_steps": 1,
        "max_length": 160,
        "max_new_tokens": 48,
        "embed_max_length": 160,
        # a seeded sample of PerturbQA K562 knockdowns: each one is profiled by every model
        # (~0.44 s a profile on 2 CPU cores), so the sample keeps the default run near 1.5 h
        "n_perturbqa_test": 100,
        "n_perturbqa_train": 200,
    },
    "quick": {
        "seeds": (0,),
        "n_train_genes": 48,
        "n_eval_genes": 12,
        "n_ggi_train_genes": 32,
        "n_ggi_test_genes": 24,
        "max_steps": 3,
        "batch_size": 2,
        "gradient_accumulation_steps": 1,
        "max_length": 96,
        "max_new_tokens": 16,
        "embed_max_length": 96,
        "n_perturbqa_test": 16,
        "n_perturbqa_train": 40,
    },
}
"""Size presets; ``quick=True`` picks ``"quick"`` (CI), else ``"default"``."""


@dataclass
class ExperimentSettings:
    """Every knob of :func:`biobft.experiment.run_experiment` (recorded in ``results.json``)."""

    model: str = "smollm2-135m"
    loss_types: tuple[str, ...] = ("sft", "dft", "bft", "bft_gn")
    seeds: tuple[int, ...] = (0, 1, 2)
    n_train_genes: int = 256
    n_eval_genes: int = 32
    n_ggi_train_genes: int = 192
    n_ggi_test_genes: int = 128
    max_steps: int = 32
    learning_rate: float = 2e-5
    batch_size: int = 4
    gradient_accumulation_steps: int = 1
    max_length: int = 160
    lora_r: int = 0
    group_size: int = 256
    max_new_tokens: int = 48
    gen_batch_size: int = 16
    embed_max_length: int = 160
    embed_batch_size: int = 16
    n_perturbqa_test: int = 100
    n_perturbqa_train: int = 200
    encoder: str = "minilm"
    prompt: str = "Tell me about gene {symbol}."
    dtype: str | None = None
    data_seed: int = 0
    quick: bool = False

    def key(self) -> str:
        """Hash of everything that changes one arm's result (for resuming finished arms).

        Which arms and seeds are requested does not change the result of one ``(arm, seed)``,
        so ``loss_types``, ``seeds`` and the ``quick`` flag (its preset values are recorded
        field by field) are left out: adding a seed or a loss type reuses the finished arms.
        """
        values = dataclasses.asdict(self)
        for name in ("loss_types", "seeds", "quick"):
            values.pop(name)
        blob = json.dumps(values, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _settings(quick: bool, overrides: dict[str, Any]) -> ExperimentSettings:
    preset = PRESETS["quick" if quick else "default"]
    values = {**preset, **{k: v for k, v in overrides.items() if v is not None}}
    values["quick"] = bool(quick)
    values["loss_types"] = tuple(check_loss_types(values.get("loss_types", ("sft",))))
    seeds = values["seeds"]
    seeds = (seeds,) if isinstance(seeds, int) else tuple(int(s) for s in seeds)
    if not seeds:
        raise ValueError("seeds is empty; pass at least one seed, e.g. seeds=(0,)")
    values["seeds"] = seeds
    names = [
        "n_train_genes", "n_eval_genes", "n_ggi_train_genes", "n_ggi_test_genes", "max_steps",
        "batch_size", "gradient_accumulation_steps", "max_length", "max_new_tokens",
        "gen_batch_size", "embed_max_length", "embed_batch_size",
    ]  # fmt: skip
    for name in ("n_perturbqa_test", "n_perturbqa_train"):  # 0 turns the PerturbQA score off
        if int(values.get(name, 0)) < 0 or int(values.get(name, 0)) == 1:
            raise ValueError(f"{name} must be 0 (off) or >= 2; got {values[name]}")
    sizes_ok([values.get(n, 1) for n in names], names)
    if values.get("n_ggi_train_genes", 2) < 2 or values.get("n_ggi_test_genes", 2) < 2:
        raise ValueError("n_ggi_train_genes and n_ggi_test_genes must be >= 2 (pairs need two)")
    if float(values.get("learning_rate", 1.0)) <= 0:
        raise ValueError(f"learning_rate must be > 0; got {values['learning_rate']}")
    if int(values.get("lora_r", 0)) < 0:
        raise ValueError(f"lora_r must be >= 0 (0 = full fine-tuning); got {values['lora_r']}")
    known = {f.name for f in dataclasses.fields(ExperimentSettings)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise TypeError(f"unknown experiment setting(s) {unknown}; valid: {sorted(known)}")
    return ExperimentSettings(**values)
