"""``BFTConfig``: ``TrainingArguments`` plus loss, data and LoRA options.

``HfArgumentParser(BFTConfig)`` gives the ``biobft train`` command line.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Literal

import torch
from transformers import TrainingArguments

from .losses import BFT_VARIANTS, LOSS_REGISTRY, _check_alpha, _check_gamma, _check_group_size

logger = logging.getLogger(__name__)

__all__ = ["BFTConfig"]

LossType = Literal["sft", "dft", "bft", "p_alpha", "chord_phi"]


@dataclass
class BFTConfig(TrainingArguments):
    """Training configuration of ``biobft train`` (all ``TrainingArguments`` options plus these).

    Defaults differ from ``TrainingArguments`` where it matters for this use:
    ``prediction_loss_only=True`` (evaluation never gathers the ``[N, T, V]`` logits),
    ``remove_unused_columns=False`` (the tokenised dataset holds exactly the model inputs) and
    ``output_dir="biobft-train"``.
    """

    # ---- loss ----
    loss_type: LossType = field(
        default="bft",
        metadata={"help": f"Loss: one of {', '.join(LOSS_REGISTRY)}.", "aliases": ["--loss"]},
    )
    bft_variant: Literal["released", "group_normalized"] = field(
        default="released",
        metadata={"help": "BFT variant: 'released' (public BFT code) or 'group_normalized'."},
    )
    group_size: int = field(
        default=256, metadata={"help": "BFT window length in valid response tokens (>= 1)."}
    )
    conf_gamma: float = field(
        default=1.0, metadata={"help": "BFT exponent of the group confidence (>= 0)."}
    )
    alpha: float = field(default=1.0, metadata={"help": "Exponent of the p_alpha token weight."})
    loss_chunk_size: int | None = field(
        default=None,
        metadata={"help": "Positions per chunk of the target log-prob gather (default 2**24/V)."},
    )
    # ---- model ----
    model_name_or_path: str = field(
        default="smollm2-135m",
        metadata={
            "help": "Packaged model name ('smollm2-135m') or a Hugging Face model folder.",
            "aliases": ["--model"],
        },
    )
    # ---- data ----
    train_file: str | None = field(
        default=None,
        metadata={
            "help": 'Training JSONL: {"prompt", "response"} or {"messages": [...]} per line.',
            "aliases": ["--data"],
        },
    )
    eval_file: str | None = field(
        default=None,
        metadata={"help": "Evaluation JSONL (same format).", "aliases": ["--eval-data"]},
    )
    max_length: int = field(
        default=512, metadata={"help": "Truncate tokenised samples to this many tokens."}
    )
    use_chat_template: bool = field(
        default=True,
        metadata={"help": "Wrap prompt/response pairs in the tokenizer's chat template if any."},
    )
    max_train_samples: int | None = field(
        default=None, metadata={"help": "Use only the first N training samples (smoke runs)."}
    )
    # ---- LoRA ----
    lora_r: int = field(
        default=0, metadata={"help": "LoRA rank; 0 = full fine-tuning (no adapters)."}
    )
    lora_alpha: float = field(default=16.0, metadata={"help": "LoRA scaling alpha."})
    lora_dropout: float = field(default=0.0, metadata={"help": "LoRA dropout."})
    lora_target_modules: str = field(
        default="all-linear",
        metadata={"help": "Comma-separated module names for LoRA, or 'all-linear'."},
    )
    # ---- changed TrainingArguments defaults ----
    output_dir: str | None = field(
        default="biobft-train", metadata={"help": "Where checkpoints and the model are written."}
    )
    prediction_loss_only: bool = field(
        default=True, metadata={"help": "Evaluation returns the loss only (no logits gathered)."}
    )
    remove_unused_columns: bool = field(
        default=False, metadata={"help": "Keep dataset columns (the dataset holds model inputs)."}
    )

    def __post_init__(self):
        if self.loss_type not in LOSS_REGISTRY:
            raise ValueError(
                f"unknown loss_type {self.loss_type!r}; valid loss types: "
                f"{', '.join(LOSS_REGISTRY)}"
            )
        if self.bft_variant not in BFT_VARIANTS:
            raise ValueError(
                f"unknown bft_variant {self.bft_variant!r}; valid variants: "
                f"{', '.join(BFT_VARIANTS)}"
            )
        _check_group_size(self.group_size)
        _check_gamma(self.conf_gamma)
        _check_alpha(self.alpha)
        if self.max_length < 2:
            raise ValueError(f"max_length must be >= 2, got {self.max_length}")
        if self.lora_r < 0:
            raise ValueError(f"lora_r must be >= 0 (0 = full fine-tuning), got {self.lora_r}")
        if self.loss_chunk_size is not None and self.loss_chunk_size < 1:
            raise ValueError(f"loss_chunk_size must be >= 1, got {self.loss_chunk_size}")
        if (
            not self.use_cpu
            and int(os.environ.get("WORLD_SIZE", "1")) > 1
            and not torch.cuda.is_available()
        ):
            # without use_cpu, transformers ignores a CPU process group (no DDP, no sharding)
            logger.warning("distributed launch without CUDA: setting use_cpu=True (gloo DDP)")
            self.use_cpu = True
        if self.report_to is None:
            self.report_to = "none"  # never report to an integration unless asked
        super().__post_init__()

    @property
    def lora_targets(self) -> str | list[str]:
        """``lora_target_modules`` as peft expects it ('all-linear' or a list of names)."""
        names = [n.strip() for n in self.lora_target_modules.split(",") if n.strip()]
        if names == ["all-linear"]:
            return "all-linear"
        if not names:
            raise ValueError("lora_target_modules is empty; pass 'all-linear' or module names")
        return names
