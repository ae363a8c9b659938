"""The BFT-vs-DFT-vs-SFT experiment: train, let each model describe genes, embed, evaluate.

- :mod:`biobft.experiment.data` -- loss variants, evaluation gene selection, the gene-disjoint
  instruction data that keeps every evaluation gene (Gene2vec test included) out of training
- :mod:`biobft.experiment.evaluate` -- held-out NLL / token accuracy, GGI ROC-AUC and
  perturbation Pearson delta of one model
- :mod:`biobft.experiment.report` -- mean +- sd tables, markdown and plots
- :mod:`biobft.experiment.settings` -- size presets and :class:`ExperimentSettings`
- :mod:`biobft.experiment.context` -- the data of one run, built once
- :mod:`biobft.experiment.results` -- :class:`ExperimentResult` and the files it is written to
- :mod:`biobft.experiment.run` -- :func:`run_experiment`, the one-command entry point
  (``biobft experiment``)

Names are imported lazily (torch / transformers load on first use).
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "data": ("LOSS_VARIANTS", "select_genes", "subset_pairs", "perturbation_genes",
             "instruction_split", "perturbqa_subset"),
    "evaluate": ("response_nll", "ggi_scores", "perturbation_scores", "perturbqa_scores"),
    "report": ("summarize", "paired_differences", "to_markdown", "plot_summary"),
    "settings": ("ExperimentSettings", "PRESETS"),
    "results": ("ExperimentResult",),
    "run": ("run_experiment",),
}  # fmt: skip
_WHERE = {name: mod for mod, names in _EXPORTS.items() for name in names}


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    if name in _EXPORTS:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE, *_EXPORTS])


__all__ = sorted(_WHERE)
