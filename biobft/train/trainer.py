"""``BFTTrainer``: the Hugging Face ``Trainer`` with SFT / DFT / BFT losses, and ``train()``.

Normalisation. With a ``compute_loss_func`` the Trainer does not divide the loss by the number of
gradient-accumulation steps; it passes ``num_items_in_batch`` instead, counted over the whole
accumulated batch (and summed over processes when ``average_tokens_across_devices``, in which case
it multiplies the loss by the number of processes to undo DDP's gradient averaging). Token-mean
losses use the Trainer's own count of valid target tokens. The BFT loss is a mean over *samples*,
so :class:`BFTTrainer` counts samples for it (same gathering across processes). Either way one
optimiser step equals the gradient of the loss of the whole accumulated (global) batch.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import torch
from transformers import Trainer

from .callbacks import LossDiagnostics
from .config import BFTConfig
from .data import DataCollatorForCompletion, load_instruction_dataset
from .losses import make_loss_func
from .tokenization import ensure_pad_token

logger = logging.getLogger(__name__)

__all__ = ["BFTTrainer", "apply_lora", "load_model", "train"]


class BFTTrainer(Trainer):
    """``Trainer`` whose loss is chosen by ``args.loss_type`` (see :class:`BFTConfig`).

    Parameters
    ----------
    model
        A causal LM (or a peft model around one).
    args
        A :class:`BFTConfig` (default: ``BFTConfig()``).
    compute_loss_func
        Override the loss (default: :func:`biobft.train.losses.make_loss_func` from ``args``).
    **kwargs
        Passed to ``Trainer`` (``train_dataset``, ``eval_dataset``, ``processing_class``, ...).
        Without a ``data_collator``, a :class:`DataCollatorForCompletion` over
        ``processing_class`` is used.

    Each logging step adds ``mean_token_weight``, ``mean_sample_weight``, ``min_sample_weight`` and
    ``mean_min_group_conf`` to the logs (``eval_``-prefixed after evaluation).
    """

    def __init__(self, model=None, args: BFTConfig | None = None, compute_loss_func=None, **kwargs):
        args = BFTConfig() if args is None else args
        self.diagnostics = LossDiagnostics()
        if compute_loss_func is None:
            compute_loss_func = make_loss_func(
                getattr(args, "loss_type", "sft"),
                variant=getattr(args, "bft_variant", "released"),
                group_size=getattr(args, "group_size", 256),
                gamma=getattr(args, "conf_gamma", 1.0),
                alpha=getattr(args, "alpha", 1.0),
                chunk_size=getattr(args, "loss_chunk_size", None),
                on_terms=self.diagnostics,
            )
        tokenizer = kwargs.get("processing_class")
        if kwargs.get("data_collator") is None and tokenizer is not None:
            kwargs["data_collator"] = DataCollatorForCompletion(tokenizer)
        super().__init__(model=model, args=args, compute_loss_func=compute_loss_func, **kwargs)
        self.loss_normalization = getattr(compute_loss_func, "normalization", "tokens")

    # ---- normalisation over the accumulated batch -----------------------------------------
    def _get_num_items_in_batch(self, batch_samples: list, device: torch.device):
        if self.loss_normalization != "samples":
            return super()._get_num_items_in_batch(batch_samples, device)
        if not batch_samples or "labels" not in batch_samples[0]:
            return None
        count = torch.tensor(sum(int(b["labels"].shape[0]) for b in batch_samples), device=device)
        if self.args.average_tokens_across_devices:
            if self.args.world_size > 1:
                count = self.accelerator.gather(count).sum()
        elif self.args.n_gpu > 1:
            count = count // self.args.n_gpu
        # ranks that share a batch (tensor / context / sequence parallel) would over-count it
        shared = 1
        for getter in ("get_tp_size", "get_cp_size", "get_sp_size"):
            if hasattr(self, getter):
                shared *= int(getattr(self, getter)())
        return count / shared if shared > 1 else count

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        self.diagnostics.mode = "train" if model.training else "eval"
        return super().compute_loss(
            model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch
        )

    # ---- diagnostics ---------------------------------------------------------------------
    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs:
            logs.update(self.diagnostics.pop("train"))
        if "eval_loss" in logs:
            logs.update({f"eval_{k}": v for k, v in self.diagnostics.pop("eval").items()})
        super().log(logs, start_time)


# --------------------------------------------------------------------------------------------
# model loading, LoRA and the train() entry point
# --------------------------------------------------------------------------------------------
def load_model(name_or_path: str, *, dtype: torch.dtype | None = None):
    """``(model, tokenizer)`` from a packaged name or a Hugging Face folder.

    Uses :func:`biobft.models.load_causal_lm` when available; a folder is also loaded directly with
    ``AutoModelForCausalLM`` / ``AutoTokenizer`` (offline).
    """
    try:
        from biobft.models import load_causal_lm
    except ImportError:
        load_causal_lm = None
    if load_causal_lm is not None:
        model, tokenizer = load_causal_lm(name_or_path)
    elif Path(name_or_path).is_dir():
        from transformers import AutoModelForCausalLM, AutoTokenizer

        model = AutoModelForCausalLM.from_pretrained(name_or_path)
        tokenizer = AutoTokenizer.from_pretrained(name_or_path)
    else:
        raise FileNotFoundError(
            f"model {name_or_path!r} is not a folder and biobft.models (packaged models) is not "
            "available; pass a Hugging Face model folder"
        )
    if dtype is not None:
        model = model.to(dtype)
    ensure_pad_token(tokenizer)
    if getattr(model.config, "pad_token_id", None) is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    model.config.use_cache = False
    return model, tokenizer


def apply_lora(model, config: BFTConfig):
    """Wrap ``model`` with LoRA adapters (peft) per ``config.lora_*``; only adapters train."""
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=config.lora_targets,
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(model, lora)
    n_train = sum(p.numel() for p in model.parameters() if p.requires_grad)
    n_all = sum(p.numel() for p in model.parameters())
    logger.info("LoRA r=%d: training %d of %d parameters", config.lora_r, n_train, n_all)
    return model


def _resume_arg(value: Any) -> str | bool | None:
    if value is None or value is False:
        return None
    if isinstance(value, str) and value.lower() in ("true", "last", "latest"):
        return True
    return value


def train(
    config: BFTConfig,
    *,
    model=None,
    tokenizer=None,
    train_dataset=None,
    eval_dataset=None,
    resume_from_checkpoint: str | bool | None = None,
    save: bool = True,
) -> BFTTrainer:
    """Fine-tune a causal LM with ``config.loss_type``; returns the trained :class:`BFTTrainer`.

    Parameters
    ----------
    config
        The :class:`BFTConfig`. ``config.train_file`` / ``config.eval_file`` are read unless
        datasets are given; ``config.model_name_or_path`` is loaded unless ``model`` is given.
    model, tokenizer
        An already loaded model and tokenizer (tests, notebooks).
    train_dataset, eval_dataset
        Tokenised datasets (e.g. :func:`load_instruction_dataset`).
    resume_from_checkpoint
        A checkpoint folder, or ``True`` for the last one in ``output_dir`` (default:
        ``config.resume_from_checkpoint``; ``"last"`` / ``"true"`` mean ``True``).
    save
        Save the final model (adapters with LoRA) and tokenizer to ``output_dir``.
    """
    if train_dataset is None and not config.train_file:
        raise ValueError("no training data: pass --data FILE.jsonl (train_file) or train_dataset")
    if config.train_file and not Path(config.train_file).is_file():
        raise FileNotFoundError(f"training data file not found: {config.train_file}")
    if model is None:
        model, tokenizer = load_model(config.model_name_or_path)
    elif tokenizer is None:
        raise ValueError("pass the tokenizer together with the model")
    ensure_pad_token(tokenizer)
    if train_dataset is None:
        train_dataset = load_instruction_dataset(
            config.train_file,
            tokenizer,
            max_length=config.max_length,
            use_chat_template=config.use_chat_template,
            max_samples=config.max_train_samples,
        )
    if eval_dataset is None and config.eval_file:
        eval_dataset = load_instruction_dataset(
            config.eval_file,
            tokenizer,
            max_length=config.max_length,
            use_chat_template=config.use_chat_template,
        )
    if config.lora_r:
        model = apply_lora(model, config)
    trainer = BFTTrainer(
        model=model,
        args=config,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=tokenizer,
    )
    resume = _resume_arg(
        resume_from_checkpoint
        if resume_from_checkpoint is not None
        else config.resume_from_checkpoint
    )
    trainer.train(resume_from_checkpoint=resume)
    if save:
        trainer.save_model(config.output_dir)
        if trainer.is_world_process_zero():
            logger.info("saved model to %s", os.path.abspath(config.output_dir))
    return trainer
