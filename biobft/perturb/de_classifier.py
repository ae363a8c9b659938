"""The ``pair`` DE-pair predictor (:class:`PairClassifier`): a classifier on (perturbed-gene,
readout-gene) embedding pair features. Registered in
:data:`biobft.perturb.de_predictors.DE_PREDICTORS`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .de_base import DEPredictor, _best_setting, _gene_base_rate, _inner_folds, _pert_vectors
from .embeddings import _l2
from .metrics import auroc_per_gene

__all__ = ["PairClassifier"]


class PairClassifier(DEPredictor):
    """A classifier on (perturbed-gene, readout-gene) embedding pair features.

    Features: :func:`biobft.ggi.features.pair_features` of the two L2-normalised embeddings
    (``features``, default ``"concat+hadamard"``), plus the readout gene's training base rate;
    classifier :func:`biobft.ggi.model.make_classifier` (``StandardScaler`` -> logistic). The
    penalty ``C`` is chosen on one inner hold-out of training perturbations (a fifth), then the
    model is refit on the training pairs. At most ``max_pairs`` training pairs (a seeded random
    subset) enter each fit, which bounds time and memory on large screens. Readout genes absent
    from the table get the mean readout-gene vector.
    """

    name = "pair"
    out_of_fold = False  # C is chosen on one hold-out: no out-of-fold scores for an ensemble

    def __init__(
        self,
        *,
        features: str = "concat+hadamard",
        classifier: str = "logistic",
        Cs: Sequence[float] = (1e-3, 1e-2),
        max_pairs: int = 60_000,
        **kw: Any,
    ):
        super().__init__(**kw)
        from ..ggi.features import parse_features

        if max_pairs < 1:
            raise ValueError(f"max_pairs must be >= 1, got {max_pairs}")
        self.max_pairs = int(max_pairs)

        parse_features(features)
        self.features = features
        self.classifier = classifier
        self.Cs = tuple(float(c) for c in Cs)

    def _matrix(self, train: pd.DataFrame, pairs: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        from ..ggi.features import pair_features

        tperts = list(pd.unique(self.train_["pert"]))
        pv, pok = _pert_vectors(self.embedding, tperts, list(pairs["pert"]), self.missing)
        gv, gok = _pert_vectors(self.embedding, [], list(pairs["gene"]), "skip")
        if not gok.all():
            fill = self._gene_fill
            gv[~gok] = fill
        self.n_fallback_ = int((~gok).sum())  # readout genes scored with the mean gene vector
        X = pair_features(pv.astype(np.float32), gv.astype(np.float32), self.features)
        base = _gene_base_rate(train, pairs["gene"])[:, None].astype(np.float32)
        return np.hstack([X, base]), pok

    def _fit_one(self, train: pd.DataFrame, C: float):
        from ..ggi.model import make_classifier

        if len(train) > self.max_pairs:
            rng = np.random.default_rng(self.seed)
            keep = np.sort(rng.choice(len(train), self.max_pairs, replace=False))
            fit_rows = train.iloc[keep]
        else:
            fit_rows = train
        X, ok = self._matrix(train, fit_rows)
        model = make_classifier(self.classifier, seed=self.seed, C=C)
        return model.fit(X[ok], fit_rows["label"].to_numpy()[ok])

    def _fit(self, train):
        genes = self.embedding.index.get_indexer(pd.Index(pd.unique(train["gene"]), dtype=object))
        vals = _l2(self.embedding.to_numpy(np.float64))
        self._gene_fill = vals[genes[genes >= 0]].mean(axis=0) if (genes >= 0).any() else 0.0
        fold = _inner_folds(train["pert"], self.n_folds, self.seed)[0]
        held = train["pert"].isin(set(fold)).to_numpy()
        inner_tr, inner_te = train.loc[~held], train.loc[held]
        scores = []
        for C in self.Cs:
            model = self._fit_one(inner_tr, C)
            X, _ = self._matrix(inner_tr, inner_te)
            scores.append(
                auroc_per_gene(inner_te["gene"], inner_te["label"], model.predict_proba(X)[:, 1])
            )
        best = _best_setting(scores, train, name=self.name)
        self.params_ = {"C": self.Cs[best], "features": self.features, "max_pairs": self.max_pairs}
        self.cv_scores_ = dict(zip(self.Cs, map(float, scores)))
        self.cv_score_ = float(scores[best])
        self.model_ = self._fit_one(train, self.Cs[best])
        self.oof_ = None  # one hold-out, not a full out-of-fold pass

    def _predict(self, pairs):
        X, ok = self._matrix(self.train_, pairs)
        out = _gene_base_rate(self.train_, pairs["gene"])
        out[ok] = self.model_.predict_proba(X[ok])[:, 1]
        return out
