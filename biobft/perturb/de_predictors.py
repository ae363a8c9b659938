"""DE-pair predictors: one ``{name: class}`` registry (:data:`DE_PREDICTORS`), sklearn-style
``fit(train pairs) / predict(test pairs)``, hyper-parameters chosen by inner cross-validation over
*training perturbations*. Run them through :func:`biobft.perturb.de_pairs.evaluate_de_pairs`,
which validates the pair table first. The base class :class:`DEPredictor` lives in
:mod:`~biobft.perturb.de_base`; each predictor's module is named below.

``knn`` (:mod:`~biobft.perturb.de_neighbours`)
    The labels of the ``k`` training perturbations most similar to the perturbed gene (cosine of
    the gene embeddings), softmax-weighted with temperature ``T``, for each readout gene.
``graph`` (:mod:`~biobft.perturb.de_neighbours`)
    The same over a gene network (default STRING v12, :func:`biobft.datasets.string_edges`):
    the labels of training perturbations that are network neighbours, weighted by edge score.
``pair`` (:mod:`~biobft.perturb.de_classifier`)
    A classifier on (perturbed-gene, readout-gene) embedding features, built from
    :func:`biobft.ggi.features.pair_features` and :func:`biobft.ggi.model.make_classifier`.
``ensemble`` (this module)
    Rank average of the others, weights chosen on their out-of-fold training predictions.
``base_rate`` (:mod:`~biobft.perturb.de_base`)
    The readout gene's training rate (0.5 under the per-gene AUROC: a check of the metric).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ._options import check_options
from .de_base import BaseRate, DEPredictor, _best_setting, _fold_score
from .de_classifier import PairClassifier
from .de_neighbours import GraphPairs, KNNPairs, neighbour_scores

logger = logging.getLogger(__name__)

__all__ = [
    "DE_PREDICTORS",
    "BaseRate",
    "DEPredictor",
    "Ensemble",
    "GraphPairs",
    "KNNPairs",
    "PairClassifier",
    "get_de_predictor",
    "neighbour_scores",
]


def _rank01(x: np.ndarray) -> np.ndarray:
    """Average ranks scaled to (0, 1]."""
    return pd.Series(x).rank(method="average").to_numpy() / max(len(x), 1)


# --------------------------------------------------------------------------- predictors
class Ensemble(DEPredictor):
    """Weighted rank average of other DE predictors, weights chosen on out-of-fold scores.

    Every member is fitted (inner CV inside); members with out-of-fold training scores
    (``oof_``) enter a grid of weights (steps of ``1 / n_steps`` summing to 1), scored by
    :func:`~biobft.perturb.metrics.auroc_per_gene` on the training pairs.
    """

    name = "ensemble"

    def __init__(
        self,
        *,
        members: Sequence[str] = ("knn", "graph"),
        member_params: dict[str, dict[str, Any]] | None = None,
        n_steps: int = 10,
        fitted: dict[str, DEPredictor] | None = None,
        **kw: Any,
    ):
        super().__init__(**kw)
        self.members = tuple(members)
        self.member_params = dict(member_params or {})
        self.n_steps = int(n_steps)
        self.fitted = dict(fitted or {})
        allowed = _ensemble_members()
        if any(m not in allowed for m in self.members) or len(set(self.members)) < 2:
            other = [p for p in DE_PREDICTORS if p not in allowed and p != self.name]
            raise ValueError(
                f"ensemble members must be >= 2 distinct names of {allowed} (the predictors with "
                f"out-of-fold training scores; {other} have none); got {list(self.members)}"
            )
        self._kw = kw

    def fit(self, train: pd.DataFrame) -> Ensemble:
        self._src = train
        return super().fit(train)

    def _fit(self, train):
        train_src = self._src
        models = {}
        for m in self.members:
            model = self.fitted.get(m)
            if model is None or getattr(model, "train_src_", None) is not train_src:
                params = {**self._kw, **self.member_params.get(m, {})}
                if not DE_PREDICTORS[m].needs_embedding:
                    params.pop("embedding", None)
                model = DE_PREDICTORS[m](**params).fit(train_src)
            models[m] = model
        self.models_ = {m: mod for m, mod in models.items() if mod.oof_ is not None}
        if len(self.models_) < 2:  # a member class promised out-of-fold scores and gave none
            raise ValueError(
                f"ensemble members {list(self.members)}: only {list(self.models_)} produced "
                "out-of-fold training scores; an ensemble needs >= 2"
            )
        names = list(self.models_)
        ranks = np.stack([_rank01(self.models_[m].oof_) for m in names])
        grid = [
            w
            for w in np.ndindex(*(self.n_steps + 1,) * len(names))
            if sum(w) == self.n_steps and max(w) > 0
        ]
        folds = next(iter(self.models_.values())).oof_folds_
        scores = [
            _fold_score(train["gene"], train["label"], np.asarray(w, float) @ ranks, folds)
            for w in grid
        ]
        best = _best_setting(scores, train, name=self.name)
        self.weights_ = {m: grid[best][i] / self.n_steps for i, m in enumerate(names)}
        self.params_ = {"weights": self.weights_}
        self.cv_score_ = float(scores[best])
        self.oof_ = np.asarray(grid[best], float) @ ranks
        self.oof_folds_ = folds

    def _predict(self, pairs):
        out = np.zeros(len(pairs))
        for m, w in self.weights_.items():
            if w > 0:
                out += w * _rank01(self.models_[m].predict(pairs))
        return out


def _ensemble_members() -> list[str]:
    """Registered predictors that can be ensemble members (they give out-of-fold scores)."""
    return [p for p, cls in DE_PREDICTORS.items() if cls.out_of_fold and cls is not Ensemble]


#: DE-pair predictor name -> class (one class + one line to add a predictor)
DE_PREDICTORS: dict[str, type[DEPredictor]] = {
    cls.name: cls for cls in (BaseRate, KNNPairs, GraphPairs, PairClassifier, Ensemble)
}


def get_de_predictor(name: str, **params: Any) -> DEPredictor:
    """Instantiate a DE-pair predictor by name (see :data:`DE_PREDICTORS`)."""
    if name not in DE_PREDICTORS:
        raise ValueError(f"unknown DE-pair predictor {name!r}; choose from {list(DE_PREDICTORS)}")
    check_options(DE_PREDICTORS[name], params, what=f"DE-pair predictor {name!r}")
    return DE_PREDICTORS[name](**params)
