"""Plots (matplotlib; every function takes ``ax=`` and ``return_fig=``)."""

from __future__ import annotations

import importlib

_EXPORTS = {
    "roc_curves": "._ggi",
    "delta_scatter": "._perturbation",
    "metric_bars": "._perturbation",
    "perturbqa_auroc": "._perturbqa",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    raise AttributeError(f"module 'biobft.pl' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
