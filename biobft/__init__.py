"""biobft: biomedical LLM alignment (SFT / DFT / BFT) and gene embeddings.

Sub-packages are imported lazily so that ``import biobft`` stays cheap (no torch import):

- :mod:`biobft.datasets` -- verified loaders for the real data sets
- :mod:`biobft.text` -- gene text corpus (RefSeq summaries, GO text, names)
- :mod:`biobft.models` -- offline loading of encoders and causal LMs
- :mod:`biobft.embed` -- text / gene embeddings and the embedding table
- :mod:`biobft.train` -- SFT / DFT / BFT losses and trainer
- :mod:`biobft.ggi` -- gene-gene interaction benchmark
- :mod:`biobft.perturb` -- single-cell perturbation response prediction
- :mod:`biobft.tl`, :mod:`biobft.pl` -- scanpy-style AnnData tools and plots
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_SUBMODULES = ("datasets", "text", "models", "embed", "train", "ggi", "perturb", "tl", "pl")

if TYPE_CHECKING:  # pragma: no cover
    from . import datasets, embed, ggi, models, perturb, pl, text, tl, train  # noqa: F401


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'biobft' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_SUBMODULES])


__all__ = ["__version__", *_SUBMODULES]
