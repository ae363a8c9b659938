"""AnnData tools in the scanpy shape (``biobft.tl.func(adata, *, key_added=..., copy=False)``).

Wrappers only: the maths lives in :mod:`biobft.embed` and :mod:`biobft.perturb`.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "gene_embedding": "._embedding",
    "cell_embedding": "._embedding",
    "predict_perturbation": "._perturbation",
    "evaluate_perturbation": "._perturbation",
    "rank_genes": "._rank_genes",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    raise AttributeError(f"module 'biobft.tl' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
