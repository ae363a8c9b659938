"""The DE-pair predictor base class (:class:`DEPredictor`), the ``base_rate`` predictor and the
helpers the predictors share (perturbation vectors, the readout gene's base rate, inner folds over
training perturbations, the per-fold score). The registry is
:data:`biobft.perturb.de_predictors.DE_PREDICTORS`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ..embed.table import validate_table
from .embeddings import Missing, _l2
from .metrics import auroc_per_gene

__all__ = ["BaseRate", "DEPredictor"]

_MISSING = ("error", "skip", "mean")


# --------------------------------------------------------------------------- helpers
def _pert_vectors(
    table: pd.DataFrame, train_perts: Sequence[str], perts: Sequence[str], missing: Missing
) -> tuple[np.ndarray, np.ndarray]:
    """L2-normalised vectors of ``perts`` and a mask of those that have one.

    ``missing="mean"`` gives absent genes the normalised mean of the embedded training
    perturbations' vectors.
    """
    pos = table.index.get_indexer(pd.Index(list(perts), dtype=object))
    ok = pos >= 0
    values = _l2(table.to_numpy(dtype=np.float64))
    out = np.zeros((len(perts), values.shape[1]))
    out[ok] = values[pos[ok]]
    if missing == "mean" and not ok.all():
        tpos = table.index.get_indexer(pd.Index(list(train_perts), dtype=object))
        tpos = tpos[tpos >= 0]
        if len(tpos):
            out[~ok] = _l2(values[tpos].mean(axis=0, keepdims=True))
            ok = np.ones(len(perts), bool)
    return out, ok


def _gene_base_rate(train: pd.DataFrame, genes: Sequence[str]) -> np.ndarray:
    """Training mean label of each readout gene (the global mean for unseen genes)."""
    rate = train.groupby("gene")["label"].mean()
    return pd.Series(list(genes)).map(rate).fillna(float(train["label"].mean())).to_numpy()


def _inner_folds(perts: Sequence[str], n_folds: int, seed: int) -> list[np.ndarray]:
    """Training perturbations split into ``n_folds`` random groups (a list of name arrays)."""
    uniq = np.array(sorted(set(perts)), dtype=object)
    rng = np.random.default_rng(seed)
    rng.shuffle(uniq)
    n_folds = max(2, min(n_folds, len(uniq)))
    return [uniq[i::n_folds] for i in range(n_folds)]


def _fold_score(genes, labels, scores, folds: np.ndarray) -> float:
    """Mean over inner folds of :func:`auroc_per_gene` computed within each fold.

    Scoring the pooled out-of-fold predictions instead would be biased below 0.5: a fold
    holding many of a gene's positives leaves a lower base rate for that gene, so its pairs
    get lower scores exactly where the labels are higher.
    """
    genes, labels, scores = np.asarray(genes), np.asarray(labels), np.asarray(scores)
    vals = [
        auroc_per_gene(genes[folds == f], labels[folds == f], scores[folds == f])
        for f in np.unique(folds)
    ]
    vals = [v for v in vals if np.isfinite(v)]
    return float(np.mean(vals)) if vals else float("nan")


def _too_few(name: str, n_perts: int, why: str) -> ValueError:
    return ValueError(
        f"DE predictor {name!r}: inner cross-validation {why} with {n_perts} training "
        "perturbation(s): its held-out pairs need readout genes with both labels (DE and not DE) "
        "for a per-gene AUROC. Give it more training perturbations (PerturbQA's splits hold "
        "hundreds), or use a predictor without inner CV (base_rate)"
    )


def _best_setting(scores, train: pd.DataFrame, *, name: str) -> int:
    """Index of the best inner-CV score; one clear error when no setting could be scored
    (every score NaN: no readout gene with both labels among the held-out pairs)."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.size and np.isfinite(scores).any():
        return int(np.nanargmax(scores))
    raise _too_few(name, int(pd.unique(train["pert"]).size), "scored no setting")


# --------------------------------------------------------------------------- predictors
class DEPredictor:
    """Base class: learn from training DE pairs, score new (pert, gene) pairs.

    ``fit(train)`` takes a frame ``pert, gene, label``; ``predict(pairs)`` returns one float per
    row of ``pairs`` (higher = more likely label 1). After ``fit``, ``cv_score_`` is the inner
    cross-validated :func:`~biobft.perturb.metrics.auroc_per_gene` over training perturbations
    at the chosen hyper-parameters (``params_``) and ``oof_`` the out-of-fold training scores
    (``None`` for a class with ``out_of_fold = False``, which cannot be an ensemble member).
    """

    name: ClassVar[str] = "base"
    needs_embedding: ClassVar[bool] = True
    out_of_fold: ClassVar[bool] = True
    inner_cv: ClassVar[bool] = True  # hyper-parameters chosen by CV over training perturbations

    def __init__(
        self,
        *,
        embedding: pd.DataFrame | None = None,
        missing: Missing = "error",
        seed: int = 0,
        n_folds: int = 5,
    ):
        if missing not in _MISSING:
            raise ValueError(f"missing must be one of {_MISSING}; got {missing!r}")
        if isinstance(n_folds, bool) or not isinstance(n_folds, int | np.integer) or n_folds < 2:
            raise ValueError(f"n_folds must be an integer >= 2 (inner CV folds); got {n_folds!r}")
        if self.needs_embedding and embedding is None:
            raise ValueError(f"DE predictor {self.name!r} needs embedding=TABLE")
        self.embedding = None if embedding is None else validate_table(embedding)
        self.missing = missing
        self.seed = int(seed)
        self.n_folds = int(n_folds)
        self.params_: dict[str, Any] = {}
        self.cv_score_ = float("nan")
        self.oof_: np.ndarray | None = None

    def fit(self, train: pd.DataFrame) -> DEPredictor:
        """Fit on training pairs (columns ``pert``, ``gene``, ``label``)."""
        self.train_src_ = train
        self.train_ = train.reset_index(drop=True)
        n_perts = int(pd.unique(self.train_["pert"]).size)
        if self.inner_cv and n_perts < 2:
            raise _too_few(self.name, n_perts, "cannot run")
        self._fit(self.train_)
        return self

    def predict(self, pairs: pd.DataFrame) -> np.ndarray:
        """Scores of ``pairs`` (columns ``pert``, ``gene``), float64, one per row."""
        if not hasattr(self, "train_"):
            raise ValueError(f"DE predictor {self.name!r} is not fitted; call fit(train) first")
        return np.asarray(self._predict(pairs.reset_index(drop=True)), dtype=np.float64)

    def _fit(self, train: pd.DataFrame) -> None:
        raise NotImplementedError

    def _predict(self, pairs: pd.DataFrame) -> np.ndarray:
        raise NotImplementedError


class BaseRate(DEPredictor):
    """The readout gene's training base rate: a constant per gene, so AUROC per gene = 0.5."""

    name = "base_rate"
    needs_embedding = False
    out_of_fold = False
    inner_cv = False

    def _fit(self, train):
        self.cv_score_ = 0.5

    def _predict(self, pairs):
        return _gene_base_rate(self.train_, pairs["gene"])
