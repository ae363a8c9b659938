"""SFT / DFT / BFT losses as pure functions of ``(logits, labels)``.

Conventions (Hugging Face causal LM):

- ``logits`` is ``[B, T, V]`` (any float dtype), ``labels`` is ``[B, T]`` aligned with the input
  ids, ``-100`` marks ignored positions; the functions shift (position ``t`` of the logits predicts
  ``labels[:, t + 1]``).
- ``p_t`` is the model probability of a valid target token. Every weight is detached
  (stop-gradient).
- Target log-probabilities are gathered chunk by chunk (``logsumexp`` over a few rows at a time) by
  a custom autograd function: neither an fp32 copy of the full ``[B, T, V]`` logits nor a full
  log-softmax is ever materialised, in the forward or the backward pass.

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

IGNORE_INDEX = -100
BFT_VARIANTS = ("released", "group_normalized")
# 2**24 elements = one 64 MB fp32 scratch buffer: few chunks = few parallel regions per call (on a
# loaded 2-core CPU each region costs a thread barrier; benchmarks/bench_losses.py), and still far
# below the fp32 copy of the logits that cross-entropy makes (B*T*V*4 bytes)
_DEFAULT_CHUNK_ELEMENTS = 1 << 24

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
# chunked target log-probabilities
# --------------------------------------------------------------------------------------------
class _TargetLogProb(torch.autograd.Function):
    """``log softmax(logits)[row, target]`` for ``rows`` (``None`` = all rows), in row chunks.

    Forward: one fused ``log_softmax`` per chunk into a reused fp32 scratch buffer (low-precision
    chunks are first copied into that buffer and transformed in place), then a gather of the
    targets.
    Saves only the (already existing) logits, the targets and the fp32 outputs. Backward: one
    fused ``softmax`` per chunk, written straight into the gradient (the only full-size buffer, in
    the logits dtype, as for any loss), scaled by ``-grad``; the target entries are then set (one
    indexed write) to
    ``grad * (1 - p_t) = -grad * expm1(logp_t)`` from the saved fp32 log-probs, so they keep fp32
    accuracy even for bf16 logits and ``p_t`` close to 1. Scratch buffers are allocated once per
    call, not per chunk (a fresh large CPU allocation per chunk costs page faults).
    """

    @staticmethod
    def forward(ctx, logits2d, targets, rows, chunk_rows):
        all_rows = rows is None
        n_rows = logits2d.shape[0] if all_rows else rows.numel()
        vocab, dev, dtype = logits2d.shape[1], logits2d.device, logits2d.dtype
        chunk_rows = max(1, min(chunk_rows, n_rows))
        upcast = dtype != torch.float32
        tgt = targets if all_rows else targets.index_select(0, rows)
        logp = torch.empty(n_rows, dtype=torch.float32, device=dev)
        buf_in = None if all_rows else torch.empty(chunk_rows, vocab, dtype=dtype, device=dev)
        # fp32 logits: log_softmax into a scratch buffer; other dtypes: copy the chunk into an fp32
        # scratch buffer and take the log_softmax in place there
        buf_ls = torch.empty(chunk_rows, vocab, dtype=torch.float32, device=dev)
        for start in range(0, n_rows, chunk_rows):
            stop = min(start + chunk_rows, n_rows)
            m = stop - start
            if all_rows:
                block = logits2d[start:stop]
            else:
                block = torch.index_select(logits2d, 0, rows[start:stop], out=buf_in[:m])
            if upcast:
                block = buf_ls[:m].copy_(block)
            torch.log_softmax(block, -1, out=buf_ls[:m])
            torch.gather(buf_ls[:m], 1, tgt[start:stop, None], out=logp[start:stop, None])
        if all_rows:
            rows = torch.empty(0, dtype=torch.long, device=dev)
        ctx.save_for_backward(logits2d, tgt, rows, logp)
        ctx.chunk_rows, ctx.all_rows = chunk_rows, all_rows
        return logp

    @staticmethod
    def backward(ctx, grad_out):
        logits2d, tgt, rows, logp = ctx.saved_tensors
        chunk_rows, all_rows = ctx.chunk_rows, ctx.all_rows
        n_rows, vocab, dev, dtype = logp.numel(), logits2d.shape[1], logits2d.device, logits2d.dtype
        grad_out = grad_out.float().contiguous()
        # d(logp_t)/d logits = onehot(t) - softmax; target entry: g * (1 - p_t) = -g * expm1(logp_t)
        target_grad = (-torch.expm1(logp) * grad_out).to(dtype)
        grad = torch.empty_like(logits2d) if all_rows else torch.zeros_like(logits2d)
        buf_in = buf_sm = None
        if not all_rows:
            buf_in = torch.empty(chunk_rows, vocab, dtype=dtype, device=dev)
            buf_sm = torch.empty(chunk_rows, vocab, dtype=dtype, device=dev)
        for start in range(0, n_rows, chunk_rows):
            stop = min(start + chunk_rows, n_rows)
            m = stop - start
            if all_rows:
                block, dst = logits2d[start:stop], grad[start:stop]
            else:
                block = torch.index_select(logits2d, 0, rows[start:stop], out=buf_in[:m])
                dst = buf_sm[:m]
            torch.softmax(block, -1, out=dst)  # fused; fp32 accumulation for bf16 / fp16
            dst.mul_(grad_out[start:stop, None].neg().to(dtype))
            if not all_rows:
                grad.index_copy_(0, rows[start:stop], dst)
        # one indexed write for all target entries (``scatter_`` on bf16 CPU tensors copies the
        # whole chunk to fp32 and back)
        row_index = torch.arange(n_rows, device=dev) if all_rows else rows
        grad.index_put_((row_index, tgt), target_grad)
        return grad, None, None, None


def shift_labels(labels: torch.Tensor) -> torch.Tensor:
    """Labels shifted one position left (``out[:, t] = labels[:, t + 1]``), last column ``-100``."""
    pad = torch.full_like(labels[:, :1], IGNORE_INDEX)
    return torch.cat([labels[:, 1:], pad], dim=1)


def _check_inputs(logits: torch.Tensor, labels: torch.Tensor) -> None:
    if not isinstance(logits, torch.Tensor) or not isinstance(labels, torch.Tensor):
        raise TypeError(
            f"logits and labels must be torch tensors, got {type(logits).__name__} and "
            f"{type(labels).__name__}"
        )
    if logits.dim() != 3:
        raise ValueError(f"logits must be [batch, seq_len, vocab], got shape {tuple(logits.shape)}")
    if tuple(labels.shape) != tuple(logits.shape[:2]):
        raise ValueError(
            f"labels shape {tuple(labels.shape)} does not match logits shape "
            f"{tuple(logits.shape)}: labels must be [batch, seq_len] = {tuple(logits.shape[:2])}, "
            "aligned with the input ids (the loss shifts them)"
        )
    if not logits.is_floating_point():
        raise TypeError(f"logits must be a floating point tensor, got dtype {logits.dtype}")
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise TypeError(
            f"labels must be an integer tensor of token ids (-100 = ignored), got dtype "
            f"{labels.dtype}; pass labels.long()"
        )
    vocab = logits.shape[-1]
    bad = (labels != IGNORE_INDEX) & ((labels < 0) | (labels >= vocab))
    if bad.any():
        pos = [tuple(map(int, p)) for p in bad.nonzero()[:5].tolist()]
        raise ValueError(
            f"{int(bad.sum())} label(s) are neither -100 (ignored) nor a token id in "
            f"[0, {vocab}) (e.g. value {int(labels[bad][0])} at [batch, position] {pos}); "
            "labels must be input ids with prompt/padding positions set to -100 -- check the "
            "tokenizer matches the model (len(tokenizer) <= vocab size)"
        )


def _chunk_rows(vocab: int, chunk_size: int | None) -> int:
    if chunk_size is None:
        return max(1, _DEFAULT_CHUNK_ELEMENTS // max(vocab, 1))
    if int(chunk_size) < 1:
        raise ValueError(f"chunk_size must be >= 1 (rows per chunk), got {chunk_size}")
    return int(chunk_size)


def target_log_probs(
    logits: torch.Tensor, labels: torch.Tensor, *, chunk_size: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probabilities of the (shifted) target tokens, chunked and differentiable.

    Parameters
    ----------
    logits
        ``[B, T, V]`` logits of a causal LM (any float dtype).
    labels
        ``[B, T]`` labels aligned with the input ids, ``-100`` = ignored.
    chunk_size
        Rows (positions) per chunk; default ``2**24 // V`` (one 64 MB fp32 scratch buffer).

    Returns
    -------
    logp
        ``[B, T]`` float32: ``logp[b, t] = log softmax(logits[b, t])[labels[b, t + 1]]``, ``0``
        where the target is ignored.
    valid
        ``[B, T]`` bool mask of valid targets (in the same shifted layout).
    """
    _check_inputs(logits, labels)
    bsz, seq, vocab = logits.shape
    shifted = shift_labels(labels.to(logits.device))
    valid = shifted != IGNORE_INDEX
    logits2d = logits.reshape(bsz * seq, vocab)
    targets = shifted.reshape(-1).masked_fill(~valid.reshape(-1), 0)
    chunk = _chunk_rows(vocab, chunk_size)
    flat_valid = valid.reshape(-1)
    n_valid = int(flat_valid.sum())
    if 2 * n_valid >= flat_valid.numel():
        # mostly valid rows: process every row in place (no row copies), zero the ignored ones
        vals = _TargetLogProb.apply(logits2d, targets, None, chunk)
        logp = vals * flat_valid
    else:
        # mostly ignored rows (long prompts / padding): compute only the valid rows
        rows = flat_valid.nonzero().squeeze(1)
        logp = torch.zeros(bsz * seq, dtype=torch.float32, device=logits.device)
        if n_valid:
            logp = logp.index_put((rows,), _TargetLogProb.apply(logits2d, targets, rows, chunk))
    return logp.view(bsz, seq), valid


# --------------------------------------------------------------------------------------------
# group statistics (vectorised over the batch; every result detached)
# --------------------------------------------------------------------------------------------
def _compact(values: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Move the valid entries of each row to the front (order kept); returns (compact, order)."""
    order = torch.argsort((~valid).to(torch.int8), dim=1, stable=True)
    return values.gather(1, order), order


def _check_group_size(group_size: int) -> int:
    if isinstance(group_size, bool) or int(group_size) != group_size or group_size < 1:
        raise ValueError(f"group_size must be an integer >= 1, got {group_size!r}")
    return int(group_size)


def _check_gamma(gamma: float) -> float:
    if not math.isfinite(float(gamma)) or gamma < 0:
        raise ValueError(f"gamma (conf_gamma) must be a finite number >= 0, got {gamma!r}")
    return float(gamma)


@torch.no_grad()
def _lowest_group_confidence(
    logp: torch.Tensor, valid: torch.Tensor, group_size: int
) -> torch.Tensor:
    """Released-code group confidence per sample: ``clamp(exp(min window mean of logp), 0, 1)``.

    Windows are stride-1 runs of ``group_size`` consecutive *valid* tokens; a sample with fewer
    valid tokens uses the mean over all of them; a sample without valid token gets ``0``.
    """
    bsz, seq = logp.shape
    n = valid.sum(1)
    compact, _ = _compact(logp.double(), valid)
    csum = torch.cat([compact.new_zeros(bsz, 1), compact.cumsum(1)], dim=1)  # [B, T + 1]
    short_mean = csum.gather(1, n[:, None])[:, 0] / n.clamp(min=1)
    if seq >= group_size:
        win = (csum[:, group_size:] - csum[:, : seq - group_size + 1]) / group_size  # [B, S]
        starts = torch.arange(win.shape[1], device=logp.device)
        win = win.masked_fill(starts[None, :] + group_size > n[:, None], math.inf)
        min_mean = torch.where(n >= group_size, win.min(1).values, short_mean)
    else:
        min_mean = short_mean
    conf = torch.exp(min_mean).clamp(0.0, 1.0)
    return torch.where(n > 0, conf, torch.zeros_like(conf)).float()


@torch.no_grad()
def _local_group_mean(p: torch.Tensor, valid: torch.Tensor, group_size: int) -> torch.Tensor:
    """``C_t`` ``[B, T]``: mean of ``p`` over valid tokens ``t - g//2 .. t + (g-1)//2`` (clipped).

    Returned in the original (shifted) layout, ``0`` at invalid positions.
    """
    bsz, seq = p.shape
    n = valid.sum(1)
    compact, order = _compact(p.double(), valid)
    csum = torch.cat([compact.new_zeros(bsz, 1), compact.cumsum(1)], dim=1)
    k = torch.arange(seq, device=p.device)[None, :].expand(bsz, seq)
    lo = (k - group_size // 2).clamp(min=0)
    hi = torch.minimum(k + (group_size - 1) // 2, (n - 1).clamp(min=0)[:, None])
    cnt = (hi - lo + 1).clamp(min=1)
    c_compact = (csum.gather(1, hi + 1) - csum.gather(1, lo)) / cnt
    c_compact = c_compact.masked_fill(k >= n[:, None], 0.0)
    out = torch.zeros_like(c_compact)
    out.scatter_(1, order, c_compact)
    return out.float()


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


@torch.no_grad()
def lowest_group_confidence(
    logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    group_size: int = 256,
    chunk_size: int | None = None,
) -> torch.Tensor:
    """Released-code lowest group confidence ``p_conf`` per sample, ``[B]`` in ``[0, 1]``."""
    logp, valid = target_log_probs(logits, labels, chunk_size=chunk_size)
    return _lowest_group_confidence(logp, valid, _check_group_size(group_size))


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
