"""The one kernel behind every loss: token weights, sample weights and normalisation.

:func:`loss_terms` evaluates any registered ``loss_type`` on ``(logits, labels)`` and returns the
loss together with its detached token / sample weights and group confidences
(:class:`LossTerms`); the public losses of :mod:`biobft.train.losses` are thin wrappers around it.
Conventions and the normalisation rule (:data:`LOSS_NORMALIZATION`) are those described in
:mod:`biobft.train.losses`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch

from .confidence import (
    _check_gamma,
    _check_group_size,
    _local_group_mean,
    _lowest_group_confidence,
)
from .logprobs import target_log_probs

BFT_VARIANTS = ("released", "group_normalized")

__all__ = ["BFT_VARIANTS", "LOSS_NORMALIZATION", "LossTerms", "loss_terms"]


LOSS_NORMALIZATION: dict[str, Literal["tokens", "samples"]] = {
    "sft": "tokens",
    "dft": "tokens",
    "bft": "samples",
    "p_alpha": "tokens",
    "chord_phi": "tokens",
}
"""What ``num_items_in_batch`` counts for each loss: valid target tokens or samples."""


@dataclass
class LossTerms:
    """Everything one loss evaluation produces (weights and statistics are detached).

    Attributes
    ----------
    loss
        The scalar loss (differentiable).
    token_weights
        ``[B, T]`` weight of each token's ``-log p`` in the *shifted* layout (position ``t`` weights
        the target ``labels[:, t + 1]``), ``0`` where ignored.
    sample_weights
        ``[B]`` weight of each sample's loss (``1`` for token-mean losses).
    group_confidence
        ``[B]`` lowest group confidence (released definition for ``bft``/``released`` and all
        non-BFT losses; ``min_t C_t`` for ``group_normalized``).
    valid
        ``[B, T]`` valid-target mask (shifted layout).
    """

    loss: torch.Tensor
    token_weights: torch.Tensor
    sample_weights: torch.Tensor
    group_confidence: torch.Tensor
    valid: torch.Tensor


def _denominator(num_items_in_batch, local: torch.Tensor | int, device) -> torch.Tensor | float:
    if num_items_in_batch is None:
        return local
    if torch.is_tensor(num_items_in_batch):
        return num_items_in_batch.to(device=device, dtype=torch.float32)
    if num_items_in_batch <= 0:
        raise ValueError(f"num_items_in_batch must be > 0, got {num_items_in_batch}")
    return float(num_items_in_batch)


def _require_valid(valid: torch.Tensor) -> None:
    if not bool(valid.any()):
        raise ValueError(
            "labels contain no valid target token (all -100 after the causal shift): nothing to "
            "train on; check the response-only label mask and max_length truncation"
        )


# token-weight functions of the detached target probability p
_TOKEN_WEIGHTS: dict[str, Callable[..., torch.Tensor]] = {
    "sft": lambda p, **_: torch.ones_like(p),
    "dft": lambda p, **_: p,
    "p_alpha": lambda p, *, alpha=1.0, **_: p.pow(alpha),
    "chord_phi": lambda p, **_: p * (1.0 - p),
}


def _check_alpha(alpha: float) -> float:
    if not math.isfinite(float(alpha)) or alpha < 0:
        raise ValueError(f"alpha must be a finite number >= 0, got {alpha!r}")
    return float(alpha)


def loss_terms(
    logits: torch.Tensor,
    labels: torch.Tensor,
    loss_type: str = "bft",
    *,
    num_items_in_batch: torch.Tensor | int | None = None,
    variant: str = "released",
    group_size: int = 256,
    gamma: float = 1.0,
    alpha: float = 1.0,
    chunk_size: int | None = None,
) -> LossTerms:
    """Loss plus detached token / sample weights and group confidences (for diagnostics).

    Parameters
    ----------
    logits, labels
        ``[B, T, V]`` logits and ``[B, T]`` labels (Hugging Face convention, ``-100`` ignored).
    loss_type
        A :data:`biobft.train.losses.LOSS_REGISTRY` name: ``"sft"``, ``"dft"``, ``"bft"``,
        ``"p_alpha"``, ``"chord_phi"``.
    num_items_in_batch
        Denominator over the whole accumulated batch: valid tokens for token-mean losses, samples
        for ``"bft"``; ``None`` = the local micro-batch.
    variant, group_size, gamma
        BFT options (see :func:`bft_loss`); ``group_size`` also sets the window of the group
        confidence diagnostic of the other losses.
    alpha
        Exponent of ``p_alpha`` (weight ``p ** alpha``).
    chunk_size
        Rows per chunk of the target log-prob gather.
    """
    if loss_type not in LOSS_NORMALIZATION:  # the registry's names, in its order
        raise ValueError(
            f"unknown loss_type {loss_type!r}; valid loss types: {', '.join(LOSS_NORMALIZATION)}"
        )
    if variant not in BFT_VARIANTS:
        raise ValueError(
            f"unknown BFT variant {variant!r}; valid variants: {', '.join(BFT_VARIANTS)}"
        )
    group_size = _check_group_size(group_size)
    gamma = _check_gamma(gamma)
    alpha = _check_alpha(alpha)
    logp, valid = target_log_probs(logits, labels, chunk_size=chunk_size)
    _require_valid(valid)
    validf = valid.float()
    nll = -logp
    p = torch.exp(logp.detach()) * validf
    bsz = logp.shape[0]

    if loss_type != "bft":
        weights = _TOKEN_WEIGHTS[loss_type](p, alpha=alpha) * validf
        denom = _denominator(num_items_in_batch, validf.sum(), logits.device)
        loss = (weights * nll).sum() / denom
        return LossTerms(
            loss,
            weights,
            torch.ones(bsz, device=logits.device),
            _lowest_group_confidence(logp.detach(), valid, group_size),
            valid,
        )

    count = validf.sum(1).clamp(min=1.0)
    if variant == "released":
        weights = p
        conf = _lowest_group_confidence(logp.detach(), valid, group_size)
    else:
        local = _local_group_mean(p, valid, group_size)
        weights = (p / (local + 1e-8)).clamp(0.0, 1.0) * validf
        conf = torch.where(valid, local, torch.full_like(local, math.inf)).min(1).values
        conf = torch.where(valid.any(1), conf, torch.zeros_like(conf))
    sample_w = 1.0 - conf.pow(gamma)
    per_sample = (weights * nll).sum(1) / count
    denom = _denominator(num_items_in_batch, bsz, logits.device)
    loss = (sample_w * per_sample).sum() / denom
    return LossTerms(loss, weights, sample_w, conf, valid)
