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
  pass. BFT's window statistics live in :mod:`biobft.train.confidence`; :func:`loss_terms`, the
  kernel every loss below wraps, in :mod:`biobft.train.terms`.

Normalisation. Token-mean losses (``sft``, ``dft``, ``p_alpha``, ``chord_phi``) divide the weighted
sum over valid tokens by ``num_items_in_batch`` (the number of valid target tokens of the whole
accumulated batch, as counted by the Trainer) or, when it is ``None``, by the local count. The
sample-mean BFT loss divides the sum over samples of ``s_b * L_b`` by ``num_items_in_batch`` read
as the number of *samples* of the accumulated batch (:class:`biobft.train.trainer.BFTTrainer`
counts samples for it), or by the local batch size ``B`` when ``None`` -- as the released code does.

Use :data:`LOSS_REGISTRY` / :func:`get_loss` / :func:`make_loss_func` to pick a loss by name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

import torch

from .confidence import _check_gamma, _check_group_size, lowest_group_confidence
from .logprobs import IGNORE_INDEX, shift_labels, target_log_probs
from .terms import BFT_VARIANTS, LOSS_NORMALIZATION, LossTerms, _check_alpha, loss_terms

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
"""``loss_type`` name -> pure loss function ``f(logits, labels, **options)`` (the names and order
of :data:`LOSS_NORMALIZATION`, which :func:`loss_terms` validates against)."""


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
