"""The input door of DE-pair tables: :func:`check_de_pairs` validates a ``pert, gene, label,
split`` table once, before any fit, and returns its training and test pairs (:class:`DEPairs`).

Used by :func:`biobft.perturb.evaluate_de_pairs`; refuses, each with one message that says how to
fix it: a missing column, NaN, empty ``pert``/``gene`` values, labels other than 0/1, split values
other than ``train``/``test``, no training or no test rows, a perturbation in both splits (a leak,
unless ``allow_shared_perturbations=True``) and repeated pairs with conflicting labels.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

__all__ = ["DE_PAIR_COLUMNS", "DEPairs", "check_de_pairs"]

DE_PAIR_COLUMNS = ("pert", "gene", "label", "split")


@dataclass(frozen=True)
class DEPairs:
    """A validated DE-pair table, split into its training and test pairs.

    Attributes
    ----------
    train, test
        DataFrames with columns ``pert``, ``gene`` (str) and ``label`` (int8), RangeIndex.
    n_duplicates
        Repeated (pert, gene) rows with the same label that were collapsed to one.
    """

    train: pd.DataFrame
    test: pd.DataFrame
    n_duplicates: int = 0


def check_de_pairs(pairs: pd.DataFrame, *, allow_shared_perturbations: bool = False) -> DEPairs:
    """Validate a DE-pair table (the one door of :mod:`biobft.perturb.de_pairs`).

    Parameters
    ----------
    pairs
        DataFrame with columns ``pert``, ``gene``, ``label`` (0/1) and ``split``
        (``"train"`` / ``"test"``); extra columns are ignored.
    allow_shared_perturbations
        Accept a perturbation that has pairs in both train and test. Off by default: it leaks
        the test perturbation's own labels into training. Turn it on only for a deliberate
        "seen perturbation, unseen readout gene" evaluation.

    Returns
    -------
    DEPairs

    Raises
    ------
    TypeError
        ``pairs`` is not a DataFrame.
    KeyError
        A required column is missing.
    ValueError
        NaN/None in a required column; an empty ``pert`` or ``gene`` value; labels other than
        0/1; split values other than train/test; no train or no test rows; a perturbation in
        both splits (unless allowed); a (pert, gene) pair repeated with conflicting labels.
    """
    if not isinstance(pairs, pd.DataFrame):
        raise TypeError(
            f"pairs must be a pandas DataFrame with columns {list(DE_PAIR_COLUMNS)}; got "
            f"{type(pairs).__name__}. PerturbQA tables: biobft.datasets.perturbqa(...)"
        )
    absent = [c for c in DE_PAIR_COLUMNS if c not in pairs.columns]
    if absent:
        raise KeyError(
            f"pairs has no column(s) {absent}; a DE-pair table needs {list(DE_PAIR_COLUMNS)} "
            f"(columns: {list(pairs.columns)}); rename yours, e.g. "
            "pairs.rename(columns={'perturbation': 'pert'})"
        )
    df = pairs[list(DE_PAIR_COLUMNS)]
    if len(df) == 0:
        raise ValueError("pairs is empty; it needs train and test rows")
    nan = df.isna()
    if nan.to_numpy().any():
        cols = {c: int(n) for c, n in nan.sum().items() if n}
        raise ValueError(
            f"pairs has NaN/None values {cols}; drop or fill those rows first, e.g. "
            "pairs.dropna(subset=['pert', 'gene', 'label', 'split'])"
        )
    for col in ("pert", "gene"):
        values = df[col].astype(str).str.strip()
        empty = values == ""
        if empty.all():
            raise ValueError(f"pairs[{col!r}] is empty in every row; it must hold gene symbols")
        if empty.any():
            raise ValueError(
                f"pairs[{col!r}] is empty in {int(empty.sum())} row(s) (first at index "
                f"{list(df.index[empty][:5])}); every row needs a gene symbol"
            )
    label = pd.to_numeric(df["label"], errors="coerce")
    bad = ~label.isin((0, 1))
    if bad.any():
        raise ValueError(
            f"pairs['label'] must be 0 or 1; {int(bad.sum())} value(s) are not, e.g. "
            f"{list(df['label'][bad].unique()[:5])}"
        )
    split = df["split"].astype(str).str.strip().str.lower()
    bad = ~split.isin(("train", "test"))
    if bad.any():
        raise ValueError(
            f"pairs['split'] must be 'train' or 'test'; found {sorted(split[bad].unique())[:5]}"
        )
    out = pd.DataFrame(
        {
            "pert": df["pert"].astype(str).str.strip().to_numpy(dtype=object),
            "gene": df["gene"].astype(str).str.strip().to_numpy(dtype=object),
            "label": label.to_numpy().astype(np.int8),
            "split": split.to_numpy(dtype=object),
        }
    )
    for name in ("train", "test"):
        if not (out["split"] == name).any():
            raise ValueError(
                f"pairs has no {name!r} rows; mark held-out perturbations split='test' and the "
                "rest split='train' (whole perturbations per split)"
            )
    train_perts = set(out.loc[out["split"] == "train", "pert"])
    test_perts = set(out.loc[out["split"] == "test", "pert"])
    shared = sorted(train_perts & test_perts)
    if shared and not allow_shared_perturbations:
        raise ValueError(
            f"{len(shared)} test perturbation(s) also have training pairs, e.g. {shared[:5]}: "
            "their own labels would leak into training. Split by perturbation, or pass "
            "allow_shared_perturbations=True if a seen-perturbation evaluation is intended"
        )
    key = ["pert", "gene", "split"]
    n_labels = out.groupby(key, sort=False)["label"].nunique()
    conflict = n_labels[n_labels > 1]
    if len(conflict):
        ex = [f"{p}->{g}" for p, g, _ in conflict.index[:5]]
        raise ValueError(
            f"{len(conflict)} (pert, gene) pair(s) appear with both labels, e.g. {ex}; keep one "
            "label per pair"
        )
    dup = out.duplicated(key)
    n_dup = int(dup.sum())
    if n_dup:
        logger.info("collapsed %d repeated (pert, gene) rows with the same label", n_dup)
        out = out.loc[~dup]
    train = out.loc[out["split"] == "train", ["pert", "gene", "label"]].reset_index(drop=True)
    test = out.loc[out["split"] == "test", ["pert", "gene", "label"]].reset_index(drop=True)
    return DEPairs(train=train, test=test, n_duplicates=n_dup)
