"""SFT / DFT / BFT losses as pure functions of ``(logits, labels)``.

Conventions (Hugging Face causal LM):

- ``logits`` is ``[B, T, V]`` (any float dtype), ``labels`` is ``[B, T]`` aligned with the input
  ids, ``-100`` marks ignored positions; the functions shift (position ``t`` of the logits predicts
  ``labels[:, t + 1]``).
- ``p_t`` is the model probability of a valid target token. Every weight is detached
  (stop-gradient).
- Target log-probabilities are gathered chunk by chunk (``logsumexp`` over a few rows at a time) by
  a custom autograd function (:mod:`biobft.train.logprobs`): neither an fp32 copy of the full
  ``[B, T, V]`` logits nor a full log-softmax is ever materialised, in the forward or the backward
  pass. BFT's window statistics live in :mod:`biobft.train.confidence`.

Normalisation. Token-mean losses (``sft``, ``dft``, ``p_alpha``, ``chord_phi``) divide the weighted
sum over valid tokens by ``num_items_in_batch`` (the number of valid target tokens of the whole
accumulated batch, as counted by the Trainer) or, when it is ``None``, by the local count. The
sample-mean BFT loss divides the sum over samples of ``s_b * L_b`` by ``num_items_in_batch`` read
as the number of *samples* of the accumulated batch (:class:`biobft.train.trainer.BFTTrainer`
counts samples for it), or by the local batch size ``B`` when ``None`` -- as the released code does.

Use :data:`LOSS_REGISTRY` / :func:`get_loss` / :func:`make_loss_func` to pick a loss by name.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch

from .confidence import (
    _check_gamma,
    _check_group_size,
    _local_group_mean,
    _lowest_group_confidence,
    lowest_group_confidence,
)
from .logprobs import IGNORE_INDEX, shift_labels, target_log_probs

BFT_VARIANTS = ("released", "group_normalized")

__all__ = [
    "BFT_VARIANTS",
    "IGNORE_INDEX",
    "LOSS_NORMALIZATION",
    "LOSS_REGISTRY",
    "LossTerms",
    "bft_loss",
    "bft_weights",
    "chord_phi_loss",
    "dft_loss",
    "get_loss",
    "loss_terms",
    "lowest_group_confidence",
    "make_loss_func",
    "p_alpha_loss",
    "sft_loss",
    "shift_labels",
    "target_log_probs",
]


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
        A :data:`LOSS_REGISTRY` name: ``"sft"``, ``"dft"``, ``"bft"``, ``"p_alpha"``,
        ``"chord_phi"``.
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
    if loss_type not in LOSS_REGISTRY:
        raise ValueError(
            f"unknown loss_type {loss_type!r}; valid loss types: {', '.join(LOSS_REGISTRY)}"
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


# --------------------------------------------------------------------------------------------
# public losses
# --------------------------------------------------------------------------------------------
def sft_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    num_items_in_batch: torch.Tensor | int | None = None,
    chunk_size: int | None = None,
) -> torch.Tensor:
    """Token-mean negative log-likelihood (standard SFT cross-entropy).

    Parameters
    ----------
    logits, labels
        ``[B, T, V]`` logits and ``[B, T]`` labels (``-100`` ignored, shifted inside).
    num_items_in_batch
        Valid target tokens of the whole accumulated batch; ``None`` = local count.
    chunk_size
        Rows per chunk of the target log-prob gather.

    Returns
    -------
    torch.Tensor
        Scalar float32 loss.
    """
    return loss_terms(
        logits, labels, "sft", num_items_in_batch=num_items_in_batch, chunk_size=chunk_size
    ).loss


def dft_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    num_items_in_batch: torch.Tensor | int | None = None,
    chunk_size: int | None = None,
) -> torch.Tensor:
    """Dynamic fine-tuning (Wu et al. 2025): token mean of ``sg(p_t) * (-log p_t)``.

    Parameters are those of :func:`sft_loss`.
    """
    return loss_terms(
        logits, labels, "dft", num_items_in_batch=num_items_in_batch, chunk_size=chunk_size
    ).loss


def p_alpha_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    alpha: float = 1.0,
    num_items_in_batch: torch.Tensor | int | None = None,
    chunk_size: int | None = None,
) -> torch.Tensor:
    """Token mean of ``sg(p_t ** alpha) * (-log p_t)`` (``alpha=0`` is SFT, ``alpha=1`` is DFT).

    Parameters are those of :func:`sft_loss`, plus ``alpha >= 0``.
    """
    return loss_terms(
        logits,
        labels,
        "p_alpha",
        alpha=alpha,
        num_items_in_batch=num_items_in_batch,
        chunk_size=chunk_size,
    ).loss


def chord_phi_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    num_items_in_batch: torch.Tensor | int | None = None,
    chunk_size: int | None = None,
) -> torch.Tensor:
    """CHORD-phi token weighting: token mean of ``sg(p_t (1 - p_t)) * (-log p_t)``.

    Parameters are those of :func:`sft_loss`.
    """
    return loss_terms(
        logits, labels, "chord_phi", num_items_in_batch=num_items_in_batch, chunk_size=chunk_size
    ).loss


def bft_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    variant: Literal["released", "group_normalized"] = "released",
    group_size: int = 256,
    gamma: float = 1.0,
    num_items_in_batch: torch.Tensor | int | None = None,
    chunk_size: int | None = None,
) -> torch.Tensor:
    """Balanced fine-tuning loss: sample-weighted per-sample DFT.

    ``variant="released"`` reproduces ``bft_loss_func`` of TencentAILabHealthcare/BFT: per sample
    ``L_b`` = mean over valid tokens of ``sg(p_t) * (-log p_t)``; ``v_b`` = valid target log-probs;
    group mean = ``mean(v_b)`` if ``len(v_b) < group_size`` else the minimum stride-1 window mean;
    ``p_conf_b = clamp(exp(group mean), 0, 1) ** gamma`` (``0`` without valid token);
    ``loss = mean_b (1 - p_conf_b) * L_b``.

    ``variant="group_normalized"``: ``C_t`` = mean of ``p`` over the valid tokens of a window of
    ``group_size`` tokens centred on ``t`` (clipped); ``w_t = sg(clip(p_t / (C_t + 1e-8), 0, 1))``;
    ``L_b`` = mean of ``w_t * (-log p_t)``; ``s_b = sg(1 - (min_t C_t) ** gamma)`` (``gamma = 1``
    is the paper's ``1 - min_t C_t``); ``loss = mean_b s_b * L_b``.

    Parameters
    ----------
    logits, labels
        ``[B, T, V]`` logits and ``[B, T]`` labels (``-100`` ignored, shifted inside).
    variant
        ``"released"`` or ``"group_normalized"``.
    group_size
        Window length in valid tokens (>= 1).
    gamma
        Exponent of the confidence (>= 0).
    num_items_in_batch
        Number of *samples* of the whole accumulated batch; ``None`` = ``B``.
    chunk_size
        Rows per chunk of the target log-prob gather.

    Returns
    -------
    torch.Tensor
        Scalar float32 loss.
    """
    return loss_terms(
        logits,
        labels,
        "bft",
        variant=variant,
        group_size=group_size,
        gamma=gamma,
        num_items_in_batch=num_items_in_batch,
        chunk_size=chunk_size,
    ).loss


@torch.no_grad()
def bft_weights(
    logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    variant: Literal["released", "group_normalized"] = "released",
    group_size: int = 256,
    gamma: float = 1.0,
    chunk_size: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token and per-sample BFT weights (detached), for diagnostics.

    Returns
    -------
    token_weights
        ``[B, T]`` aligned with ``labels``: ``token_weights[b, t]`` weights the target
        ``labels[b, t]`` (``0`` where ignored and at ``t = 0``).
    sample_weights
        ``[B]``: ``1 - p_conf_b`` (released) or ``s_b`` (group_normalized).
    """
    terms = loss_terms(
        logits, labels, "bft", variant=variant, group_size=group_size, gamma=gamma,
        chunk_size=chunk_size,
    )  # fmt: skip
    tw = terms.token_weights
    aligned = torch.cat([torch.zeros_like(tw[:, :1]), tw[:, :-1]], dim=1)
    return aligned, terms.sample_weights


# --------------------------------------------------------------------------------------------
# registry and Trainer-facing wrapper
# --------------------------------------------------------------------------------------------
LOSS_REGISTRY: dict[str, Callable[..., torch.Tensor]] = {
    "sft": sft_loss,
    "dft": dft_loss,
    "bft": bft_loss,
    "p_alpha": p_alpha_loss,
    "chord_phi": chord_phi_loss,
}
"""``loss_type`` name -> pure loss function ``f(logits, labels, **options)``."""

LOSS_NORMALIZATION: dict[str, Literal["tokens", "samples"]] = {
    "sft": "tokens",
    "dft": "tokens",
    "bft": "samples",
    "p_alpha": "tokens",
    "chord_phi": "tokens",
}
"""What ``num_items_in_batch`` counts for each loss: valid target tokens or samples."""


def get_loss(loss_type: str) -> Callable[..., torch.Tensor]:
    """The pure loss function registered under ``loss_type``; unknown names list the valid ones."""
    try:
        return LOSS_REGISTRY[loss_type]
    except KeyError:
        raise ValueError(
            f"unknown loss_type {loss_type!r}; valid loss types: {', '.join(LOSS_REGISTRY)}"
        ) from None


def make_loss_func(
    loss_type: str = "bft",
    *,
    variant: str = "released",
    group_size: int = 256,
    gamma: float = 1.0,
    alpha: float = 1.0,
    chunk_size: int | None = None,
    on_terms: Callable[[LossTerms], Any] | None = None,
) -> Callable[..., torch.Tensor]:
    """A Trainer ``compute_loss_func(outputs, labels, num_items_in_batch=None)`` for ``loss_type``.

    Options are validated now (a bad name or value fails before any training starts).
    ``on_terms`` is called with the :class:`LossTerms` of every evaluation (diagnostics).
    """
    get_loss(loss_type)
    if variant not in BFT_VARIANTS:
        raise ValueError(
            f"unknown BFT variant {variant!r}; valid variants: {', '.join(BFT_VARIANTS)}"
        )
    _check_group_size(group_size)
    _check_gamma(gamma)
    _check_alpha(alpha)

    def compute_loss_func(outputs, labels, num_items_in_batch=None):
        logits = outputs["logits"] if isinstance(outputs, Mapping) else outputs[0]
        if labels is None:
            raise ValueError("the loss needs labels: the batch has no 'labels' entry")
        terms = loss_terms(
            logits,
            labels,
            loss_type,
            num_items_in_batch=num_items_in_batch,
            variant=variant,
            group_size=group_size,
            gamma=gamma,
            alpha=alpha,
            chunk_size=chunk_size,
        )
        if on_terms is not None:
            on_terms(terms)
        return terms.loss

    compute_loss_func.loss_type = loss_type  # type: ignore[attr-defined]
    compute_loss_func.normalization = LOSS_NORMALIZATION[loss_type]  # type: ignore[attr-defined]
    return compute_loss_func
