"""Perturbation-response predictors: one ``{name: class}`` registry, sklearn-style fit/predict.

Every predictor learns from pseudobulk *changes from control* (``delta``, perturbations x genes)
and predicts the change for new perturbations, each given as a tuple of perturbed genes::

    model = PREDICTORS["ridge"](embedding=table).fit(perts, delta)
    pred_delta = model.predict([("KLF1",), ("KLF1", "MAP2K6")])

The profile is ``control + delta``; :func:`biobft.perturb.evaluate.evaluate_split` runs predictors
over a :class:`~biobft.perturb.splits.Split` and scores them with :mod:`biobft.perturb.metrics`.
Genes become perturbation vectors through :class:`biobft.perturb.embeddings.PerturbationEmbedder`.

Perturbed genes missing from the embedding table follow an explicit policy (``missing=``):
``"error"`` raises, ``"skip"`` drops the gene (a condition with no embedded gene gets the training
mean), ``"mean"`` uses the mean embedding of the training perturbations. What happened is
recorded in ``model.missing_`` and reported in the evaluation table; nothing is random.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ..embed.table import validate_table
from ._options import check_options, missing_hint
from .embeddings import Missing, Perts, PerturbationEmbedder


class Predictor:
    """Base class: learn perturbation deltas, predict deltas for new perturbations."""

    name: ClassVar[str] = "base"
    needs_embedding: ClassVar[bool] = False

    def __init__(
        self, *, embedding: pd.DataFrame | None = None, missing: Missing = "error", var_names=None
    ):
        self.embedding = embedding
        self.missing = missing
        self.var_names = var_names
        self.embedder: PerturbationEmbedder | None = None
        if embedding is not None:
            self.embedder = PerturbationEmbedder(embedding, missing=missing, var_names=var_names)
        elif self.needs_embedding:
            raise ValueError(
                f"predictor {self.name!r} needs a gene embedding table: pass embedding=TABLE "
                "(biobft.embed.read_table(path)) or choose no_change/train_mean/additive/linear"
            )
        self.mean_delta_: np.ndarray | None = None

    @property
    def missing_(self) -> list[str]:
        """Perturbed genes that were absent from the embedding table."""
        return [] if self.embedder is None else list(self.embedder.missing_)

    def fit(self, perts: Perts, delta: np.ndarray) -> Predictor:
        """Learn from training perturbations (tuples of genes) and their ``delta`` profiles."""
        delta = np.asarray(delta, dtype=np.float64)
        if delta.ndim != 2 or len(delta) != len(perts) or len(perts) == 0:
            raise ValueError(
                f"fit needs one delta row per perturbation; got {len(perts)} perturbations and "
                f"delta of shape {delta.shape}"
            )
        self.mean_delta_ = delta.mean(axis=0)
        self._fit(list(map(tuple, perts)), delta)
        return self

    def predict(self, perts: Perts) -> np.ndarray:
        """Predicted delta profile per perturbation (``len(perts) x n_genes``)."""
        if self.mean_delta_ is None:
            raise ValueError(f"predictor {self.name!r} is not fitted; call fit(perts, delta) first")
        #: per predicted row: "" or what was used instead of a learnt response (reported)
        self.fallback_: list[str] = [""] * len(perts)
        return self._predict(list(map(tuple, perts)))

    def _mark_train_mean(self, ok: np.ndarray) -> None:
        for i in np.flatnonzero(~np.asarray(ok, bool)):
            self.fallback_[i] = "train_mean (no gene of the perturbation has a vector)"

    def _fit(self, perts: list[tuple[str, ...]], delta: np.ndarray) -> None:
        pass

    def _predict(self, perts: list[tuple[str, ...]]) -> np.ndarray:
        raise NotImplementedError


class NoChange(Predictor):
    """Predicts the control profile (delta 0)."""

    name = "no_change"

    def _predict(self, perts):
        return np.zeros((len(perts), len(self.mean_delta_)))


class TrainMean(Predictor):
    """Predicts the mean delta of the training perturbations."""

    name = "train_mean"

    def _predict(self, perts):
        return np.tile(self.mean_delta_, (len(perts), 1))


class Additive(Predictor):
    """Sum of the single-gene deltas seen in training.

    A gene without a training single contributes the mean single delta (the training mean if
    there are no singles); ``n_fallback_`` counts those genes at prediction time and
    ``fallback_`` names them per predicted row (``tl.predict_perturbation`` refuses them under
    ``missing="error"``; evaluation tables report them in the ``fallback`` column).
    """

    name = "additive"

    def _fit(self, perts, delta):
        self.singles_ = {p[0]: delta[i] for i, p in enumerate(perts) if len(p) == 1}
        self.fill_ = (
            np.mean(list(self.singles_.values()), axis=0) if self.singles_ else self.mean_delta_
        )
        self.n_fallback_ = 0

    def _predict(self, perts):
        out = np.zeros((len(perts), len(self.mean_delta_)))
        for i, genes in enumerate(perts):
            for g in genes:
                if g in self.singles_:
                    out[i] += self.singles_[g]
                else:
                    out[i] += self.fill_
                    self.n_fallback_ += 1
            absent = [g for g in genes if g not in self.singles_]
            if absent:
                what = "mean single delta" if self.singles_ else "train_mean"
                self.fallback_[i] = f"{what} for {'+'.join(absent)} (no training single)"
        return out


class Ridge(Predictor):
    """GenePert: ridge regression from perturbation embeddings to deltas, alpha by inner CV.

    Parameters
    ----------
    alphas
        Candidate penalties; chosen by efficient leave-one-out CV (``sklearn.linear_model.RidgeCV``)
        when there are at least 3 training perturbations, else the median alpha is used.
    """

    name = "ridge"
    needs_embedding = True

    def __init__(self, *, alphas: Sequence[float] = tuple(np.logspace(-2, 3, 11)), **kw: Any):
        super().__init__(**kw)
        self.alphas = tuple(float(a) for a in alphas)

    def _fit(self, perts, delta):
        from sklearn.linear_model import Ridge as SkRidge
        from sklearn.linear_model import RidgeCV

        feats, ok = self.embedder.fit_transform(perts)
        if ok.sum() >= 3:
            model = RidgeCV(alphas=self.alphas).fit(feats[ok], delta[ok])
            self.alpha_ = float(model.alpha_)
        elif ok.any():
            self.alpha_ = float(np.median(self.alphas))
            model = SkRidge(alpha=self.alpha_).fit(feats[ok], delta[ok])
        else:
            model = None
        self.model_ = model

    def _predict(self, perts):
        feats, ok = self.embedder.transform(perts)
        out = np.tile(self.mean_delta_, (len(perts), 1))
        if self.model_ is not None and ok.any():
            out[ok] = self.model_.predict(feats[ok])
        self._mark_train_mean(ok & (self.model_ is not None))
        return out


class KNN(Predictor):
    """Similarity-weighted mean delta of the ``k`` nearest training perturbations (cosine)."""

    name = "knn"
    needs_embedding = True

    def __init__(self, *, k: int = 5, temperature: float = 0.1, **kw: Any):
        super().__init__(**kw)
        if k < 1 or temperature <= 0:
            raise ValueError("knn needs k >= 1 and temperature > 0")
        self.k = int(k)
        self.temperature = float(temperature)

    def _fit(self, perts, delta):
        feats, ok = self.embedder.fit_transform(perts)
        self.feats_ = feats[ok]
        self.delta_ = delta[ok]

    def _predict(self, perts):
        feats, ok = self.embedder.transform(perts)
        out = np.tile(self.mean_delta_, (len(perts), 1))
        self._mark_train_mean(ok & (len(self.feats_) > 0))
        if len(self.feats_) == 0 or not ok.any():
            return out
        sim = feats[ok] @ self.feats_.T
        k = min(self.k, sim.shape[1])
        idx = np.argsort(-sim, axis=1, kind="stable")[:, :k]
        s = np.take_along_axis(sim, idx, axis=1)
        w = np.exp((s - s.max(axis=1, keepdims=True)) / self.temperature)
        w /= w.sum(axis=1, keepdims=True)
        out[ok] = np.einsum("mk,mkg->mg", w, self.delta_[idx])
        return out


class Linear(Predictor):
    """Ahlmann-Eltze et al. (2025) linear baseline: ``delta ≈ G K Pᵀ + b``, closed-form ridge.

    ``G`` (genes x k) is the top ``n_components`` principal axes of the training deltas (or the
    rows of ``gene_embedding`` for the measured genes), ``P`` (perturbations x d) the perturbation
    embedding: the embedding table (GenePert normalised sum) when given, else the rows of ``G`` of
    the perturbed genes (which must then be measured). ``b`` is the training mean delta and
    ``K = (GᵀG + λI)⁻¹ Gᵀ (Y − b) P (PᵀP + λI)⁻¹``.

    A table of another data set's responses (:func:`response_table`) as ``embedding`` gives the
    paper's pretrained variant.
    """

    name = "linear"

    def __init__(
        self,
        *,
        n_components: int = 10,
        ridge: float = 0.1,
        gene_embedding: pd.DataFrame | None = None,
        **kw: Any,
    ):
        super().__init__(**kw)
        self.n_components = int(n_components)
        self.ridge = float(ridge)
        self.gene_embedding = gene_embedding

    def _gene_matrix(self, Yc: np.ndarray) -> np.ndarray:
        if self.gene_embedding is not None:
            if self.var_names is None:
                raise ValueError("linear with gene_embedding needs var_names (measured genes)")
            tab = validate_table(self.gene_embedding)
            G = tab.reindex([str(v) for v in self.var_names]).fillna(0.0).to_numpy(np.float64)
            return G
        # principal axes of the genes from the small n x n Gram matrix (much cheaper than an SVD
        # of the genes x n matrix when genes >> perturbations)
        w, V = np.linalg.eigh(Yc @ Yc.T)
        order = np.argsort(w)[::-1]
        keep = [
            i for i in order[: max(1, self.n_components)] if w[i] > 1e-10 * max(w.max(), 1e-300)
        ]
        if not keep:
            return np.zeros((Yc.shape[1], 1))
        U = Yc.T @ V[:, keep] / np.sqrt(w[keep])
        return U

    def _pert_matrix(self, perts, *, fit: bool) -> tuple[np.ndarray, np.ndarray]:
        if self.embedder is not None:
            return self.embedder.fit_transform(perts) if fit else self.embedder.transform(perts)
        if self.var_names is None:
            raise ValueError(
                "linear without an embedding table embeds a perturbation by its gene's row of G: "
                "pass var_names (the measured genes) or embedding=TABLE"
            )
        pos = {str(g): i for i, g in enumerate(self.var_names)}
        absent = sorted({g for p in perts for g in p if g not in pos})
        self._absent = sorted(set(getattr(self, "_absent", [])) | set(absent))
        if absent and self.missing == "error":
            raise KeyError(
                f"perturbed gene(s) {absent[:10]} are absent from both the embedding table and "
                f"adata.var_names; pass embedding=TABLE covering them or {missing_hint('skip')}"
            )
        P = np.zeros((len(perts), self.G_.shape[1]))
        ok = np.zeros(len(perts), bool)
        for i, genes in enumerate(perts):
            rows = [self.G_[pos[g]] for g in genes if g in pos]
            if rows:
                P[i] = np.sum(rows, axis=0)
                ok[i] = True
        return P, ok

    def _fit(self, perts, delta):
        Yc = delta - self.mean_delta_
        self.G_ = self._gene_matrix(Yc)
        P, ok = self._pert_matrix(perts, fit=True)
        G, lam = self.G_, self.ridge
        left = np.linalg.solve(G.T @ G + lam * np.eye(G.shape[1]), G.T @ Yc[ok].T)  # k x n
        right = np.linalg.solve(P[ok].T @ P[ok] + lam * np.eye(P.shape[1]), P[ok].T).T  # n x d
        self.K_ = left @ right

    @property
    def missing_(self) -> list[str]:
        """Perturbed genes without a vector (table, or var_names row without a table)."""
        return sorted(set(super().missing_) | set(getattr(self, "_absent", [])))

    def _predict(self, perts):
        P, ok = self._pert_matrix(perts, fit=False)
        out = np.tile(self.mean_delta_, (len(perts), 1))
        out[ok] += (self.G_ @ self.K_ @ P[ok].T).T
        self._mark_train_mean(ok)
        return out


class Shrink(Predictor):
    """Shrinkage toward the training mean: ``mean + lambda * (base prediction - mean)``.

    ``lambda`` is chosen from ``lambdas`` by inner leave-one-gene-out CV *within the training
    perturbations* (each training single is held out with every training condition that involves
    its gene, like the outer ``loo`` split; without singles every perturbation is held out on its
    own), maximising the mean Pearson correlation of predicted and observed deltas. ``lambda = 0``
    is the training mean, ``1`` the base predictor, so the model can only fall back to the mean
    when the base predictor does not generalise inside the training fold.

    Parameters
    ----------
    base
        Name of the predictor to shrink (default ``"ridge"``).
    base_params
        Extra keyword arguments for the base predictor (``embedding``/``missing``/``var_names``
        are passed through).
    lambdas
        Candidate shrinkage factors (default 0, 0.1, ..., 1).
    """

    name = "shrink"

    def __init__(
        self,
        *,
        base: str = "ridge",
        base_params: dict[str, Any] | None = None,
        lambdas: Sequence[float] = tuple(np.round(np.linspace(0, 1, 11), 2)),
        **kw: Any,
    ):
        super().__init__(**kw)
        if base not in PREDICTORS or base == "shrink":
            raise ValueError(
                f"shrink base must be one of {[p for p in PREDICTORS if p != 'shrink']}"
            )
        if len(lambdas) == 0:
            raise ValueError("shrink needs at least one candidate lambda")
        self.base = base
        self.base_params = dict(base_params or {})
        self.lambdas = np.asarray(sorted(float(x) for x in lambdas))
        self._base_kw = dict(embedding=kw.get("embedding"), missing=self.missing)
        self._base_kw["var_names"] = kw.get("var_names")
        self._new_base()  # fail early on a bad base configuration

    def _new_base(self) -> Predictor:
        return PREDICTORS[self.base](**self._base_kw, **self.base_params)

    @property
    def missing_(self) -> list[str]:
        return [] if getattr(self, "model_", None) is None else self.model_.missing_

    def _inner_folds(self, perts) -> list[tuple[np.ndarray, int]]:
        singles = [i for i, p in enumerate(perts) if len(p) == 1]
        folds = []
        if singles:
            for i in singles:
                g = perts[i][0]
                train = np.array([j for j, p in enumerate(perts) if g not in p])
                folds.append((train, i))
        else:
            folds = [(np.delete(np.arange(len(perts)), i), i) for i in range(len(perts))]
        return [(tr, i) for tr, i in folds if len(tr) >= 2]

    def _fit(self, perts, delta):
        folds = self._inner_folds(perts)
        scores = np.zeros((len(folds), len(self.lambdas)))
        for k, (tr, i) in enumerate(folds):
            m = self._new_base().fit([perts[j] for j in tr], delta[tr])
            mu = delta[tr].mean(axis=0)
            resid = m.predict([perts[i]])[0] - mu
            for li, lam in enumerate(self.lambdas):
                scores[k, li] = _pearson(mu + lam * resid, delta[i])
        self.cv_scores_ = (
            np.nanmean(scores, axis=0) if len(folds) else np.full(len(self.lambdas), np.nan)
        )
        if np.isfinite(self.cv_scores_).any():
            best = np.nanmax(self.cv_scores_)
            self.lambda_ = float(self.lambdas[np.flatnonzero(self.cv_scores_ >= best - 1e-12)[0]])
        else:
            self.lambda_ = 0.0
        self.model_ = self._new_base().fit(perts, delta)

    def _predict(self, perts):
        base = self.model_.predict(perts)
        self.fallback_ = list(self.model_.fallback_)
        return self.mean_delta_ + self.lambda_ * (base - self.mean_delta_)


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    d = np.sqrt((a @ a) * (b @ b))
    return float(a @ b / d) if d > 1e-12 else float("nan")


#: predictor name -> class
PREDICTORS: dict[str, type[Predictor]] = {
    cls.name: cls for cls in (NoChange, TrainMean, Additive, Ridge, Linear, KNN)
}
PREDICTORS[Shrink.name] = Shrink


def get_predictor(name: str, **params: Any) -> Predictor:
    """Instantiate a predictor by name (see :data:`PREDICTORS`)."""
    if name not in PREDICTORS:
        raise ValueError(f"unknown predictor {name!r}; choose from {list(PREDICTORS)}")
    check_options(PREDICTORS[name], params, what=f"predictor {name!r}")
    return PREDICTORS[name](**params)
