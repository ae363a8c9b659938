"""Group confidence statistics of BFT (vectorised over the batch; every result detached).

Windows run over the *valid* (non-ignored) target tokens of each sample: the released code's
lowest sliding-window mean log-probability (:func:`lowest_group_confidence`) and the local
window mean used by the group-normalised variant.
"""

from __future__ import annotations

import math

import torch

from .logprobs import target_log_probs

__all__ = ["lowest_group_confidence"]


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
