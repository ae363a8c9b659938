"""Pooling kernels: ``(hidden_states, attention_mask) -> (batch, dim)``.

Each kernel is a small pure torch function over a ``(batch, seq, dim)`` hidden-state tensor and
a ``(batch, seq)`` 0/1 attention mask, registered by name in :data:`POOLINGS`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["POOLINGS", "cls_pool", "get_pooling", "last_token_pool", "max_pool", "mean_pool"]


def mean_pool(hidden_states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean over the non-padding tokens (masked sum / clamped count).

    Parameters
    ----------
    hidden_states
        ``(batch, seq, dim)``.
    attention_mask
        ``(batch, seq)``, 1 for real tokens and 0 for padding.

    Returns
    -------
    ``(batch, dim)`` tensor in the dtype of ``hidden_states``.
    """
    mask = attention_mask.unsqueeze(-1).to(hidden_states.dtype)
    summed = (hidden_states * mask).sum(dim=1)
    count = mask.sum(dim=1).clamp(min=1e-9)
    return summed / count


def last_token_pool(hidden_states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The hidden state of the last real token of each row.

    Correct for right padding (``1 1 1 0 0``), left padding (``0 0 1 1 1``) and no padding: the
    position is the last index whose mask is 1.
    """
    seq_len = attention_mask.shape[1]
    # argmax over the flipped mask finds the first 1 from the right
    last = seq_len - 1 - attention_mask.flip(dims=[1]).to(torch.int64).argmax(dim=1)
    rows = torch.arange(hidden_states.shape[0], device=hidden_states.device)
    return hidden_states[rows, last.to(hidden_states.device)]


def cls_pool(hidden_states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The hidden state of the first real token of each row (BERT's ``[CLS]``)."""
    first = attention_mask.to(torch.int64).argmax(dim=1)
    rows = torch.arange(hidden_states.shape[0], device=hidden_states.device)
    return hidden_states[rows, first.to(hidden_states.device)]


def max_pool(hidden_states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Element-wise maximum over the non-padding tokens."""
    mask = attention_mask.unsqueeze(-1).bool()
    fill = torch.finfo(hidden_states.dtype).min
    return hidden_states.masked_fill(~mask, fill).max(dim=1).values


POOLINGS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "mean": mean_pool,
    "last_token": last_token_pool,
    "cls": cls_pool,
    "max": max_pool,
}


def get_pooling(name: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Look up a pooling kernel by name.

    Raises
    ------
    ValueError
        For an unknown name (the message lists the valid ones).
    """
    try:
        return POOLINGS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown pooling {name!r}; choose one of {sorted(POOLINGS)}") from None
