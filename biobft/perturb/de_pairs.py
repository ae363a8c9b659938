"""Differential-expression pairs: will readout gene G change when gene P is perturbed?

A *DE-pair table* has one row per (perturbation, readout gene) with columns ``pert``, ``gene``,
``label`` (0/1: differentially expressed or not, or up vs down) and ``split`` (``train`` /
``test``, whole perturbations per split), like :func:`biobft.datasets.perturbqa` (PerturbQA,
Wu et al. 2025) or a table built from one's own screen. Nothing here assumes PerturbQA's genes,
cell lines or sizes.

:func:`evaluate_de_pairs` validates the table once (:func:`check_de_pairs`), fits every
predictor of :data:`DE_PREDICTORS` on the training pairs only (hyper-parameters by inner
cross-validation over *training perturbations*), scores the test pairs and reports, beside them,
the baselines that could fake a score: the readout gene's base rate (0.5 by construction under
:func:`~biobft.perturb.metrics.auroc_per_gene`), random Gaussian vectors of the same dimension
through the best embedding predictor, and a name-only table when one is given.

The predictors (``knn``, ``graph``, ``pair``, ``ensemble``, ``base_rate``) and their registry
live in :mod:`biobft.perturb.de_predictors`; adding one is one class + one registry line.

Perturbed genes without an embedding follow ``missing=`` as in
:mod:`biobft.perturb.predictors`: ``"error"`` raises, ``"skip"`` leaves their test pairs unscored
(reported as ``coverage``), ``"mean"`` gives them the mean embedding of the training
perturbations.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..embed.table import validate_table
from .de_base import _MISSING
from .de_predictors import DE_PREDICTORS, Ensemble
from .embeddings import Missing
from .metrics import auroc_per_gene

logger = logging.getLogger(__name__)

__all__ = ["DE_PAIR_COLUMNS", "DEPairs", "check_de_pairs", "evaluate_de_pairs"]

DE_PAIR_COLUMNS = ("pert", "gene", "label", "split")


# --------------------------------------------------------------------------- the input door
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


# --------------------------------------------------------------------------- evaluation
def _row(label, kind, test, scored, scores, n_test_perts, model, seconds) -> dict[str, Any]:
    t = test.loc[scored]
    from sklearn.metrics import average_precision_score, roc_auc_score

    y = t["label"].to_numpy()
    both = len(np.unique(y)) == 2
    return {
        "predictor": label,
        "kind": kind,
        "auroc_per_gene": auroc_per_gene(t["gene"], y, scores) if len(t) else float("nan"),
        "n_genes_scored": int(
            (t.groupby("gene")["label"].agg(lambda v: 0 < v.sum() < len(v))).sum()
        ),
        "n_test_pairs": len(test),
        "n_scored_pairs": len(t),
        "n_test_perturbations": int(t["pert"].nunique()),
        "coverage": float(len(t) / len(test)),
        "perturbation_coverage": float(t["pert"].nunique() / n_test_perts),
        "auroc": float(roc_auc_score(y, scores)) if both else float("nan"),
        "average_precision": float(average_precision_score(y, scores)) if both else float("nan"),
        "inner_cv_auroc_per_gene": float(getattr(model, "cv_score_", float("nan"))),
        "params": repr(getattr(model, "params_", {})),
        "seconds": round(seconds, 2),
    }


LOW_COVERAGE = 0.5
"""Below this share of test perturbations embedded, :func:`evaluate_de_pairs` warns."""


def _warn_low_coverage(test: pd.DataFrame, scored: np.ndarray, known: set, missing: str) -> None:
    """Warn when fewer than :data:`LOW_COVERAGE` of the test perturbations have an embedding.

    Under ``missing="skip"`` the score then describes a small subset of the test pairs; under
    ``"mean"`` most test perturbations share one vector. Either way the number looks like a full
    benchmark score, so say it once, with the counts.
    """
    perts = pd.unique(test["pert"])
    n_emb = sum(p in known for p in perts)
    if n_emb >= LOW_COVERAGE * len(perts):
        return
    what = (
        f"only {int(scored.sum())} of {len(test)} test pairs are scored"
        if missing == "skip"
        else "the rest get the mean training embedding"
    )
    warnings.warn(
        f"only {n_emb} of {len(perts)} test perturbations ({n_emb / len(perts):.1%}) have an "
        f"embedding: {what} (missing={missing!r}), so the score says little about the whole "
        "screen; use a table that covers more genes (e.g. source 'refseq|go|name')",
        UserWarning,
        stacklevel=3,
    )


def evaluate_de_pairs(
    pairs: pd.DataFrame,
    *,
    embedding: pd.DataFrame,
    predictors: Sequence[str] | dict[str, dict[str, Any]] | None = None,
    missing: Missing = "error",
    seed: int = 0,
    name_embedding: pd.DataFrame | None = None,
    network: Any = None,
    baselines: bool = True,
    allow_shared_perturbations: bool = False,
    n_folds: int = 5,
    return_scores: bool = False,
):
    """Fit DE-pair predictors on the training pairs and score the test pairs beside baselines.

    Parameters
    ----------
    pairs
        DE-pair table: ``pert``, ``gene``, ``label`` (0/1), ``split`` (``train`` / ``test``);
        see :func:`check_de_pairs`.
    embedding
        Gene embedding table (index = gene symbol): embeds the perturbed genes (and the readout
        genes for ``pair``).
    predictors
        Names from :data:`DE_PREDICTORS`, or ``{label: {"predictor": name, **params}}``;
        default ``("knn", "graph", "pair", "ensemble")`` (the ensemble reuses the fitted
        ``knn`` and ``graph``).
    missing
        Perturbed genes absent from ``embedding``: ``"error"`` (raise, before any fit),
        ``"skip"`` (their test pairs are not scored: see ``coverage``), ``"mean"`` (mean
        embedding of the training perturbations).
    seed
        Inner-CV folds, classifier seeds and the random-vector baseline.
    name_embedding
        Optional name-only table (``biobft.embed.embed_genes(source="name")``): the ``name``
        baseline, run through the same predictor as ``random``.
    network
        Edges for ``graph`` (default STRING v12).
    baselines
        Add ``base_rate``, ``random`` (and ``name``) rows.
    allow_shared_perturbations
        See :func:`check_de_pairs`.
    n_folds
        Inner CV folds over training perturbations.
    return_scores
        Also return a frame of the scored test pairs with one score column per row label.

    Returns
    -------
    DataFrame
        One row per predictor and baseline, all on the same test pairs: ``predictor``, ``kind``
        (``model`` / ``baseline``), ``auroc_per_gene`` (PerturbQA's metric), ``n_genes_scored``,
        ``n_test_pairs`` (all test pairs), ``n_scored_pairs``, ``n_test_perturbations``
        (scored), ``coverage`` (share of test pairs scored), ``perturbation_coverage``,
        ``auroc`` (pooled over all scored pairs: inflated by readout-gene base rates, not the
        task's metric), ``average_precision`` (pooled), ``inner_cv_auroc_per_gene``,
        ``params``, ``seconds``. ``attrs["per_gene"]``: ``{predictor: {gene: AUROC}}``
        (``pd.DataFrame(...)`` gives the
        gene x predictor frame);
        ``attrs["best"]``: the embedding predictor with the best inner-CV score (the one the
        ``random``/``name`` baselines go through; predictors with a full k-fold inner CV are
        ranked before those scored on one hold-out, whose scores are not comparable).

    Raises
    ------
    TypeError, KeyError, ValueError
        Bad pairs (see :func:`check_de_pairs`), bad ``missing``, unknown predictor, an
        embedding table that covers no perturbed gene, or (``missing="error"``) perturbed genes
        absent from it. All raised before any fit.

    Warns
    -----
    UserWarning
        Fewer than :data:`LOW_COVERAGE` (half) of the test perturbations have an embedding
        (``missing="skip"`` or ``"mean"``): the score then describes a small subset.
    """
    t0 = time.perf_counter()
    data = check_de_pairs(pairs, allow_shared_perturbations=allow_shared_perturbations)
    if missing not in _MISSING:
        raise ValueError(f"missing must be one of {_MISSING}; got {missing!r}")
    table = validate_table(embedding)
    if predictors is None:
        predictors = ("knn", "graph", "pair", "ensemble")
    if not isinstance(predictors, dict):
        predictors = {p: {"predictor": p} for p in predictors}
    specs: dict[str, tuple[str, dict[str, Any]]] = {}
    for label, spec in predictors.items():
        spec = dict(spec)
        name = spec.pop("predictor", label)
        if name not in DE_PREDICTORS:
            raise ValueError(
                f"unknown DE-pair predictor {name!r}; choose from {list(DE_PREDICTORS)}"
            )
        specs[str(label)] = (name, spec)
    all_perts = pd.Index(pd.unique(pd.concat([data.train["pert"], data.test["pert"]])))
    covered = table.index.intersection(all_perts)
    if len(covered) == 0:
        raise ValueError(
            f"the embedding table ({len(table)} genes, e.g. {list(table.index[:3])}) covers none "
            f"of the {len(all_perts)} perturbed genes (e.g. {list(all_perts[:3])}); check that "
            "both use the same gene symbols"
        )
    absent = sorted(set(all_perts) - set(table.index))
    if absent and missing == "error":
        raise KeyError(
            f"{len(absent)} of {len(all_perts)} perturbed gene(s) are absent from the embedding "
            f"table, e.g. {absent[:10]}; use a table that covers them (e.g. source "
            "'refseq|go|name') or pass missing='skip' or 'mean'"
        )
    test = data.test
    n_test_perts = int(test["pert"].nunique())
    scored = np.ones(len(test), bool)
    if missing == "skip":
        scored = test["pert"].isin(set(table.index)).to_numpy()
        if not scored.any():
            raise ValueError("no test perturbation has an embedding: nothing to score")
    _warn_low_coverage(test, scored, set(table.index), missing)
    test_s = test.loc[scored].reset_index(drop=True)
    both = test_s.groupby("gene")["label"].nunique()
    if not (both == 2).any():
        raise ValueError(
            f"no readout gene has both labels (0 and 1) among the {len(test_s)} scored test pairs "
            f"({int(scored.sum())} of {len(test)} test pairs have an embedded perturbation): the "
            "per-gene AUROC is undefined for every gene; use more test perturbations, a table "
            "that covers more of them, or check the label column"
        )
    common = dict(missing=missing, seed=seed, n_folds=n_folds)

    rows, score_cols, models = [], {}, {}

    def run(label, name, params, emb, kind):
        t = time.perf_counter()
        kw = {**common, **params}
        if DE_PREDICTORS[name].needs_embedding:
            kw.setdefault("embedding", emb)
        if name == "graph":
            kw.setdefault("network", network)
        if name == "ensemble":
            kw.setdefault("fitted", models)
            kw.setdefault("member_params", {"graph": {"network": network}})
            if emb is not None:
                kw.setdefault("embedding", emb)
        model = DE_PREDICTORS[name](**kw).fit(data.train)
        scores = model.predict(test_s)
        rows.append(
            _row(label, kind, test, scored, scores, n_test_perts, model, time.perf_counter() - t)
        )
        score_cols[label] = scores
        logger.info(
            "%s: auroc_per_gene %.4f (%.1f s)",
            label,
            rows[-1]["auroc_per_gene"],
            rows[-1]["seconds"],
        )
        return model

    for label, (name, params) in specs.items():
        models[label] = run(label, name, params, table, "model")
    emb_models = {
        lab: m
        for lab, m in models.items()
        if type(m).needs_embedding and not isinstance(m, Ensemble) and np.isfinite(m.cv_score_)
    }
    # k-fold out-of-fold scores and one hold-out score are not comparable: rank the predictors
    # with a full inner CV (oof_) first, the others only when none has one
    full = {lab: m for lab, m in emb_models.items() if m.oof_ is not None}
    pool = full or emb_models
    best = max(pool, key=lambda lab: pool[lab].cv_score_) if pool else None
    if baselines:
        run("base_rate", "base_rate", {}, None, "baseline")
        if best is not None:
            name, params = specs[best]
            rng = np.random.default_rng(seed)
            rand = pd.DataFrame(
                rng.standard_normal(table.shape).astype(np.float32),
                index=table.index,
                columns=table.columns,
            )
            run(f"random ({best})", name, params, rand, "baseline")
            if name_embedding is not None:
                run(f"name ({best})", name, params, validate_table(name_embedding), "baseline")
    out = pd.DataFrame(rows)
    per_gene = {
        lab: auroc_per_gene(test_s["gene"], test_s["label"], s, reduce=False)
        for lab, s in score_cols.items()
    }
    # plain dicts: pandas compares attrs when concatenating, which a DataFrame cannot survive
    out.attrs["per_gene"] = {
        lab: {str(g): float(v) for g, v in s.items()} for lab, s in per_gene.items()
    }
    out.attrs["best"] = best
    out.attrs["n_train_pairs"] = len(data.train)
    out.attrs["n_train_perturbations"] = int(data.train["pert"].nunique())
    out.attrs["n_test_perturbations"] = n_test_perts
    out.attrs["seconds"] = round(time.perf_counter() - t0, 2)
    if return_scores:
        return out, test_s.assign(**score_cols)
    return out
