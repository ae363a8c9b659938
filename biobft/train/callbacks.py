"""Training diagnostics: token / sample weights and group confidence, logged each logging step."""

from __future__ import annotations

import math

import torch

from .terms import LossTerms

__all__ = ["DIAGNOSTIC_KEYS", "LossDiagnostics"]

DIAGNOSTIC_KEYS = (
    "mean_token_weight",
    "mean_sample_weight",
    "min_sample_weight",
    "mean_min_group_conf",
)


class LossDiagnostics:
    """Accumulates detached loss statistics between two log calls, separately for train / eval.

    Pass an instance as ``on_terms`` of :func:`biobft.train.losses.make_loss_func`; the trainer sets
    :attr:`mode` to ``"train"`` or ``"eval"`` before each loss evaluation and merges
    :meth:`pop` into its logs. Statistics cover the samples / tokens of this process (rank-local
    under DDP).

    Logged values: ``mean_token_weight`` (mean weight of ``-log p`` over valid tokens),
    ``mean_sample_weight`` / ``min_sample_weight`` (over samples with a valid token) and
    ``mean_min_group_conf`` (mean lowest group confidence).
    """

    def __init__(self) -> None:
        self.mode = "train"
        self._acc: dict[str, dict[str, float]] = {}

    def _fresh(self) -> dict[str, float]:
        return {"tw": 0.0, "nt": 0.0, "sw": 0.0, "ns": 0.0, "swmin": math.inf, "conf": 0.0}

    @torch.no_grad()
    def __call__(self, terms: LossTerms) -> None:
        acc = self._acc.setdefault(self.mode, self._fresh())
        has = terms.valid.any(1)
        acc["tw"] += float(terms.token_weights[terms.valid].sum())
        acc["nt"] += float(terms.valid.sum())
        if bool(has.any()):
            sw = terms.sample_weights[has]
            acc["sw"] += float(sw.sum())
            acc["ns"] += float(has.sum())
            acc["swmin"] = min(acc["swmin"], float(sw.min()))
            acc["conf"] += float(terms.group_confidence[has].sum())

    def pop(self, mode: str = "train") -> dict[str, float]:
        """Summary since the last call for ``mode`` (empty when nothing was recorded); resets it."""
        acc = self._acc.pop(mode, None)
        if not acc or acc["ns"] == 0:
            return {}
        return {
            "mean_token_weight": acc["tw"] / max(acc["nt"], 1.0),
            "mean_sample_weight": acc["sw"] / acc["ns"],
            "min_sample_weight": acc["swmin"],
            "mean_min_group_conf": acc["conf"] / acc["ns"],
        }
