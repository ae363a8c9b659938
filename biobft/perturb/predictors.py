"""Perturbation-response predictors: one ``{name: class}`` registry, sklearn-style fit/predict.

Every predictor learns from pseudobulk *changes from control* (``delta``, perturbations x genes)
and predicts the change for new perturbations, each given as a tuple of perturbed genes::

    model = PREDICTORS["ridge"](embedding=table).fit(perts, delta)
    pred_delta = model.predict([("KLF1",), ("KLF1", "MAP2K6")])

The profile is ``control + delta``; :func:`evaluate_split` runs predictors over a
:class:`~biobft.perturb.splits.Split` and scores them with :mod:`biobft.perturb.metrics`.

Perturbed genes missing from the embedding table follow an explicit policy (``missing=``):
``"error"`` raises, ``"skip"`` drops the gene (a condition with no embedded gene gets the training
mean), ``"mean"`` uses the mean embedding of the training perturbations. What happened is
recorded in ``model.missing_`` and reported in the evaluation table; nothing is random.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd

from ..embed.table import make_table, validate_table
from .metrics import compute_metrics
from .pseudobulk import Pseudobulk
from .splits import Split

Perts = Sequence[tuple[str, ...]]
Missing = Literal["error", "skip", "mean"]


def _l2(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return np.divide(x, norm, out=np.zeros_like(x), where=norm > 0)


class PerturbationEmbedder:
    """Embeds perturbations as the L2-normalised sum of L2-normalised gene embeddings (GenePert).

    Parameters
    ----------
    table
        Embedding table (index = gene symbol).
    missing
        Policy for genes absent from ``table``: ``"error"``, ``"skip"`` or ``"mean"``.
    var_names
        Measured genes, only used to word the error message.
    """

    def __init__(self, table: pd.DataFrame, *, missing: Missing = "error", var_names=None):
        if missing not in ("error", "skip", "mean"):
            raise ValueError(f"missing must be 'error', 'skip' or 'mean'; got {missing!r}")
        self.table = validate_table(table)
        self.missing = missing
        self.var_names = None if var_names is None else set(map(str, var_names))
        self._pos = {g: i for i, g in enumerate(self.table.index)}
        self._vectors = _l2(self.table.to_numpy(dtype=np.float64))
        self.fill_: np.ndarray | None = None
        self.missing_: list[str] = []

    def check(self, perts: Perts) -> list[str]:
        """Genes of ``perts`` absent from the table; raises under ``missing="error"``."""
        absent = sorted({g for p in perts for g in p if g not in self._pos})
        if absent and self.missing == "error":
            both = self.var_names is not None and all(g not in self.var_names for g in absent)
            where = "the embedding table and adata.var_names" if both else "the embedding table"
            raise KeyError(
                f"{len(absent)} perturbed gene(s) absent from {where}: {absent[:10]}; "
                "use a table that covers them or pass missing='skip' or 'mean'"
            )
        self.missing_ = sorted(set(self.missing_) | set(absent))
        return absent

    def transform(self, perts: Perts) -> tuple[np.ndarray, np.ndarray]:
        """``(features, ok)``: one L2-normalised row per perturbation; ``ok``: any gene embedded."""
        self.check(perts)
        d = self._vectors.shape[1]
        out = np.zeros((len(perts), d))
        ok = np.zeros(len(perts), bool)
        for i, genes in enumerate(perts):
            vecs = []
            for g in genes:
                if g in self._pos:
                    vecs.append(self._vectors[self._pos[g]])
                elif self.missing == "mean" and self.fill_ is not None:
                    vecs.append(self.fill_)
            if vecs:
                out[i] = np.sum(vecs, axis=0)
                ok[i] = True
        return _l2(out), ok

    def fit_transform(self, perts: Perts) -> tuple[np.ndarray, np.ndarray]:
        """Like :meth:`transform`; remembers the mean training embedding for ``missing="mean"``."""
        self.fill_ = None
        feats, ok = self.transform(perts)
        if ok.any():
            self.fill_ = _l2(feats[ok].mean(axis=0))
        if self.missing == "mean":
            feats, ok = self.transform(perts)
        return feats, ok


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
        return self._predict(list(map(tuple, perts)))

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
    there are no singles); ``n_fallback_`` counts those genes at prediction time.
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
        if absent and self.missing == "error":
            raise KeyError(
                f"perturbed gene(s) {absent[:10]} are absent from both the embedding table and "
                "adata.var_names; pass embedding=TABLE covering them or missing='skip'"
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

    def _predict(self, perts):
        P, ok = self._pert_matrix(perts, fit=False)
        out = np.tile(self.mean_delta_, (len(perts), 1))
        out[ok] += (self.G_ @ self.K_ @ P[ok].T).T
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
    return PREDICTORS[name](**params)


def response_table(
    pb: Pseudobulk, *, ids: Sequence[str] | None = None, source: str = ""
) -> pd.DataFrame:
    """An embedding table of perturbation *responses*: each singly perturbed gene -> mean delta.

    Use another data set (or other cell types) as the perturbation embedding of :class:`Linear`,
    :class:`Ridge` or :class:`KNN` (the pretrained linear model of Ahlmann-Eltze et al.).
    Genes perturbed in several rows (cell types) get the mean of their deltas.
    """
    ids = pb.perturbations(kind="single") if ids is None else list(ids)
    if not ids:
        raise ValueError("response_table needs at least one single perturbation")
    delta = pb.delta(ids)
    genes = [g[0] for g in pb.genes_of(ids)]
    frame = pd.DataFrame(delta).groupby(np.asarray(genes)).mean()
    return make_table(
        frame.to_numpy(), list(frame.index), model="response", source=source or "pseudobulk"
    )


def concat_tables(*tables: pd.DataFrame, how: Literal["inner", "outer"] = "inner") -> pd.DataFrame:
    """Concatenate L2-normalised embedding tables side by side (combined text sources).

    ``how="outer"`` keeps every gene, filling a gene's missing block with zeros.
    """
    if len(tables) < 2:
        raise ValueError("concat_tables needs at least two tables")
    blocks = []
    for k, tab in enumerate(tables):
        tab = validate_table(tab)
        normed = pd.DataFrame(_l2(tab.to_numpy(np.float64)), index=tab.index)
        normed.columns = [f"{k}_{c}" for c in tab.columns]
        blocks.append(normed)
    out = pd.concat(blocks, axis=1, join=how).fillna(0.0)
    srcs = [str(t.attrs.get("biobft", {}).get("source", "?")) for t in tables]
    return make_table(out.to_numpy(), list(out.index), model="concat", source="+".join(srcs))


def evaluate_split(
    pb: Pseudobulk,
    split: Split,
    predictors: dict[str, dict[str, Any]] | Sequence[str],
    *,
    embedding: pd.DataFrame | None = None,
    missing: Missing = "error",
    metrics: Sequence[str] | None = None,
    return_predictions: bool = False,
):
    """Fit every predictor on each fold's training rows and score its test rows.

    Parameters
    ----------
    pb
        Pseudobulk with DE genes.
    split
        Validated :class:`Split` over ``pb``'s row ids.
    predictors
        Names, or ``{label: {"predictor": name, **params}}`` for several configurations of one.
    embedding, missing
        Passed to predictors that take them.
    metrics
        Metric names (default all).
    return_predictions
        Also return ``{(label, id): predicted profile}``.

    Returns
    -------
    DataFrame with one row per (predictor, test id): ``predictor``, ``condition``, ``cell_type``,
    ``id``, ``group``, ``fold``, ``n_train``, the metrics and ``n_missing_genes``.
    """
    split.validate(pb)  # every caller gets the leak / unknown-id guard
    if not isinstance(predictors, dict):
        predictors = {name: {"predictor": name} for name in predictors}
    specs = {}
    for label, spec in predictors.items():
        spec = dict(spec)
        name = spec.pop("predictor", label)
        if name not in PREDICTORS:
            raise ValueError(f"unknown predictor {name!r}; choose from {list(PREDICTORS)}")
        if PREDICTORS[name].needs_embedding and spec.get("embedding", embedding) is None:
            raise ValueError(f"predictor {label!r} needs embedding=TABLE; pass one or drop it")
        spec.setdefault("embedding", embedding)
        spec.setdefault("missing", missing)
        spec.setdefault("var_names", pb.var_names)
        specs[label] = (name, spec)
    rows: list[pd.DataFrame] = []
    preds: dict[tuple[str, str], np.ndarray] = {}
    for k, fold in enumerate(split.folds):
        train, test = list(fold["train"]), list(fold["test"])
        tr_genes, tr_delta = pb.genes_of(train), pb.delta(train)
        te_genes, obs, ctrl = pb.genes_of(test), pb.profiles(test), pb.controls(test)
        de = [pb.de.get(t) for t in test]
        for label, (name, spec) in specs.items():
            model = PREDICTORS[name](**spec).fit(tr_genes, tr_delta)
            pred = ctrl + model.predict(te_genes)
            m = compute_metrics(pred, obs, ctrl, de, metrics=metrics)
            m.insert(0, "predictor", label)
            m.insert(1, "condition", list(pb.obs.loc[test, "condition"]))
            m.insert(2, "cell_type", list(pb.obs.loc[test, "cell_type"]))
            m.insert(3, "id", test)
            m.insert(4, "group", [fold.get("groups", {}).get(t, "") for t in test])
            m.insert(5, "fold", k)
            m.insert(6, "n_train", len(train))
            m["n_missing_genes"] = [sum(g in model.missing_ for g in gs) for gs in te_genes]
            rows.append(m)
            if return_predictions:
                preds.update({(label, t): p for t, p in zip(test, pred)})
    table = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    return (table, preds) if return_predictions else table
