"""The input door of DE-pair tables: :func:`check_de_pairs` validates a ``pert, gene, label,
split`` table once, before any fit, and returns its training and test pairs (:class:`DEPairs`).

Used by :func:`biobft.perturb.evaluate_de_pairs`; refuses, each with one message that says how to
fix it: a missing column, NaN, empty ``pert``/``gene`` values, labels other than 0/1, split values
other than ``train``/``test``, no training or no test rows, a perturbation in both splits (a leak,
unless ``allow_shared_perturbations=True``) and repeated pairs with conflicting labels.

:func:`check_network` is the door of gene networks (the ``graph`` predictor's ``network=``, the
edge list of :func:`biobft.perturb.embeddings.string_table`): one message for a wrong type,
missing ``gene_a``/``gene_b`` columns, no edges, NaN or empty gene names, non-symbol (e.g.
numeric) gene columns and a non-numeric, NaN or negative weight column, before any fit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

__all__ = ["DE_PAIR_COLUMNS", "NETWORK_COLUMNS", "DEPairs", "check_de_pairs", "check_network"]

DE_PAIR_COLUMNS = ("pert", "gene", "label", "split")
NETWORK_COLUMNS = ("gene_a", "gene_b")


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


def check_network(
    network: Any,
    *,
    score_col: str | None = "combined_score",
    require_score: bool = False,
    what: str = "network",
) -> pd.DataFrame:
    """Validate a gene network (the one door of every ``network=`` / edge list) and return edges.

    Parameters
    ----------
    network
        A DataFrame with one row per edge and columns ``gene_a``, ``gene_b`` (gene symbols, str)
        and optionally ``score_col`` (edge weight, numeric >= 0, e.g. STRING's
        ``combined_score`` 0-1000), like :func:`biobft.datasets.string_edges`; or a
        ``networkx.Graph`` whose nodes are gene symbols (weight: the ``score_col`` edge
        attribute, 1 where absent).
    score_col
        Weight column / edge attribute. A DataFrame without it gets weight 1 on every edge,
        unless ``require_score``. ``None``: every edge weighs 1.
    require_score
        ``score_col`` must be a column of the DataFrame.
    what
        How the message names the argument.

    Returns
    -------
    DataFrame
        ``gene_a``, ``gene_b`` (str, stripped) and ``w`` (float64 >= 0), RangeIndex, one row per
        edge as given (a repeated edge is kept; the graph predictor uses its largest weight).

    Raises
    ------
    TypeError
        ``network`` is neither a DataFrame nor a graph with ``.edges``; gene columns that hold
        non-string values (numbers: map ids to gene symbols first).
    KeyError
        ``gene_a`` / ``gene_b`` (or a required ``score_col``) missing.
    ValueError
        No edges; NaN/None or empty gene names; a weight column that is not numeric, NaN,
        negative or 0 everywhere; weights under another name than ``score_col`` (another
        numeric column, or other edge attributes of a graph), which would be ignored.
    """
    if not isinstance(network, pd.DataFrame):
        if not hasattr(network, "edges") or not hasattr(network, "nodes"):
            raise TypeError(
                f"{what} must be a pandas DataFrame with columns {list(NETWORK_COLUMNS)} (+ an "
                f"optional weight column {score_col!r}) or a networkx.Graph; got "
                f"{type(network).__name__}. STRING: biobft.datasets.string_edges()"
            )
        rows = [
            (a, b, d.get(score_col, 1.0) if score_col else 1.0)
            for a, b, d in network.edges(data=True)
        ]
        attrs = sorted({k for _, _, d in network.edges(data=True) for k in d})
        if score_col is not None and attrs and score_col not in attrs:
            raise ValueError(
                f"{what}'s edges carry the attribute(s) {attrs} but no {score_col!r}, so every "
                f"edge would weigh 1: pass score_col={attrs[0]!r} to use them (or score_col=None "
                "to weigh every edge 1 on purpose)"
            )
        network = pd.DataFrame(rows, columns=["gene_a", "gene_b", "w"])
        score_col, require_score = "w", False
    absent = [c for c in NETWORK_COLUMNS if c not in network.columns]
    no_score = require_score and score_col is not None and score_col not in network.columns
    if absent or no_score:
        weight = "a" if require_score else "optionally a"
        fix = (
            f"rename yours, e.g. {what}.rename(columns={{'source': 'gene_a', 'target': 'gene_b'}})"
            if absent
            else f"pass score_col=<the weight column's name> or add a column {score_col!r}"
        )
        raise KeyError(
            f"{what} has no column(s) {absent + [score_col] * no_score}; a network needs one row "
            f"per edge with columns {list(NETWORK_COLUMNS)} (gene symbols) and {weight} weight "
            f"column {score_col!r} (columns: {list(map(str, network.columns))}); {fix}"
        )
    others = [
        str(c)
        for c in network.columns
        if c not in (*NETWORK_COLUMNS, score_col) and pd.api.types.is_numeric_dtype(network[c])
    ]
    if score_col is not None and score_col not in network.columns and others:
        raise ValueError(
            f"{what} has the numeric column(s) {others} but no weight column {score_col!r}, so "
            f"every edge would weigh 1: pass score_col={others[0]!r} to use it (or "
            "score_col=None to weigh every edge 1 on purpose)"
        )
    if len(network) == 0:
        raise ValueError(
            f"{what} has no edges; pass a non-empty edge list (e.g. "
            "biobft.datasets.string_edges()) or leave it None for STRING v12"
        )
    out = {}
    for col in NETWORK_COLUMNS:
        values = network[col]
        nan = values.isna()
        if nan.any():
            raise ValueError(
                f"{what}[{col!r}] has {int(nan.sum())} NaN/None value(s) (first at index "
                f"{list(network.index[nan.to_numpy()][:5])}); drop those edges first, e.g. "
                f"{what}.dropna(subset={list(NETWORK_COLUMNS)})"
            )
        wrong = ~values.map(lambda v: isinstance(v, str)).to_numpy(bool)
        if wrong.any():
            first = values[wrong].iloc[0]
            raise TypeError(
                f"{what}[{col!r}] must hold gene symbols (str); {int(wrong.sum())} value(s) are "
                f"not, e.g. {first!r} ({type(first).__name__}): map ids to the symbols of the "
                "embedding table and the DE pairs first"
            )
        stripped = values.str.strip()
        empty = (stripped == "").to_numpy()
        if empty.any():
            raise ValueError(
                f"{what}[{col!r}] is empty in {int(empty.sum())} row(s) (first at index "
                f"{list(network.index[empty][:5])}); every edge needs two gene symbols"
            )
        out[col] = stripped.to_numpy(dtype=object)
    w = np.ones(len(network))
    if score_col is not None and score_col in network.columns:
        raw = network[score_col]
        num = pd.to_numeric(raw, errors="coerce")
        bad = (num.isna() & raw.notna()).to_numpy()
        if bad.any() or raw.dtype == bool:
            raise ValueError(
                f"{what}[{score_col!r}] must be numeric edge weights; found e.g. "
                f"{list(raw[bad].unique()[:3]) if bad.any() else raw.dtype}"
            )
        w = num.to_numpy(np.float64)
        if not np.isfinite(w).all() or (w < 0).any():
            n_bad = int((~np.isfinite(w) | (w < 0)).sum())
            raise ValueError(
                f"{what}[{score_col!r}] has {n_bad} NaN, infinite or negative weight(s); weights "
                "must be finite and >= 0: fill or drop those edges (or pass score_col=None to "
                "weigh every edge 1)"
            )
        if not (w > 0).any():
            raise ValueError(
                f"{what}[{score_col!r}] is 0 on every edge: no gene would have a neighbour; "
                "pass real weights or score_col=None to weigh every edge 1"
            )
    return pd.DataFrame({"gene_a": out["gene_a"], "gene_b": out["gene_b"], "w": w})
