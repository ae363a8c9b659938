"""PerturbQA differential-expression and direction pairs (Wu et al., ICLR 2025). NON-COMMERCIAL.

The files are distributed under the **Genentech Non-Commercial Software License v1.0**: use
them for non-commercial research only. :func:`perturbqa` says so once per process through the
``biobft.datasets.perturbqa`` logger (a log record, not a Python warning: the notice is not a
problem with the caller's code, and a warning would turn into an error under
``-W error`` / ``filterwarnings = error`` in every downstream test suite).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from ._fetch import fetch
from ._registry import get_entry

__all__ = ["PERTURBQA_CELL_LINES", "PERTURBQA_TASKS", "perturbqa"]

logger = logging.getLogger(__name__)

#: cell lines with PerturbQA DE / direction files
PERTURBQA_CELL_LINES = ("k562", "rpe1")
#: ``"de"``: is the readout gene differentially expressed; ``"dir"``: up (1) or down (0)
PERTURBQA_TASKS = ("de", "dir")
_COLUMNS = ("pert", "gene", "label", "split")
_noticed: set[str] = set()


def _notice(name: str) -> None:
    if name in _noticed:
        return
    _noticed.add(name)
    entry = get_entry(name)
    logger.warning(
        "PerturbQA data (%s): %s. Cite: %s",
        entry.path,
        entry.license,
        entry.citation.split(" Data:")[0],
    )


def perturbqa(cell_line: str = "k562", task: str = "de") -> pd.DataFrame:
    """PerturbQA (perturbation, readout gene) pairs with a 0/1 label and a train/test split.

    **Licence: Genentech Non-Commercial Software License v1.0 — non-commercial use only.** The
    first call per file logs this notice once (logger ``biobft.datasets.perturbqa``, level
    WARNING).

    Upstream: ``genentech/PerturbQA`` (files unchanged in the fork ``jonasargelo/PerturbQA`` at
    ``04ff16d``, which the registry URL pins), ``perturbqa/datasets/{cell_line}-{task}.csv``;
    Wu et al., *Contextualizing biological perturbation experiments through language*, ICLR 2025.
    Built from the Replogle et al. 2022 CRISPRi Perturb-seq screens: K562 genome-wide and RPE1
    essential. Each split holds whole perturbations (a perturbed gene is in train or in test).

    Parameters
    ----------
    cell_line
        ``"k562"`` (1,831 knockdowns: 1,564 train / 267 test) or ``"rpe1"`` (2,002: 1,596 /
        406).
    task
        ``"de"``: label 1 when readout ``gene`` is differentially expressed after knocking down
        ``pert`` (K562 157,679 pairs, 12.7% positive; RPE1 187,089). ``"dir"``: the DE pairs
        only, label 1 = up, 0 = down (K562 19,980 pairs; RPE1 26,652).

    Returns
    -------
    DataFrame
        RangeIndex, file order; columns ``pert`` and ``gene`` (str gene symbols), ``label``
        (int8, 0/1) and ``split`` (str, ``"train"`` or ``"test"``). The task's metric is ROC-AUC
        per readout gene over the test perturbations
        (:func:`biobft.perturb.metrics.auroc_per_gene`; scored by
        :func:`biobft.perturb.evaluate_de_pairs`).

    Raises
    ------
    ValueError
        Unknown ``cell_line`` or ``task``, or a file that does not have the expected format.
    biobft.datasets.ChecksumError
        The file's sha256 differs from the registry's.
    """
    if cell_line not in PERTURBQA_CELL_LINES:
        raise ValueError(
            f"unknown PerturbQA cell line {cell_line!r}; choose one of {PERTURBQA_CELL_LINES}"
        )
    if task not in PERTURBQA_TASKS:
        raise ValueError(
            f"unknown PerturbQA task {task!r}; choose one of {PERTURBQA_TASKS} "
            "('de': differentially expressed or not, 'dir': up or down)"
        )
    name = f"perturbqa_{cell_line}_{task}"
    path = fetch(name)
    df = pd.read_csv(path, dtype={"pert": str, "gene": str, "split": str}, keep_default_na=False)
    if tuple(df.columns) != _COLUMNS:
        raise ValueError(f"{path}: expected columns {list(_COLUMNS)}, found {list(df.columns)}")
    if not np.isin(df["label"].to_numpy(), (0, 1)).all():
        raise ValueError(f"{path}: labels must be 0/1")
    if not df["split"].isin(("train", "test")).all():
        raise ValueError(f"{path}: split values must be 'train' or 'test'")
    df["label"] = df["label"].astype(np.int8)
    for col in ("pert", "gene", "split"):
        df[col] = df[col].astype(object)
    df.attrs["source"] = name
    df.attrs["license"] = get_entry(name).license
    _notice(name)
    return df
