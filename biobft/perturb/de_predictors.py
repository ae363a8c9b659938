"""DE-pair predictors: one ``{name: class}`` registry (:data:`DE_PREDICTORS`), sklearn-style
``fit(train pairs) / predict(test pairs)``, hyper-parameters chosen by inner cross-validation over
*training perturbations*. Run them through :func:`biobft.perturb.de_pairs.evaluate_de_pairs`,
which validates the pair table first.

``knn``
    The labels of the ``k`` training perturbations most similar to the perturbed gene (cosine of
    the gene embeddings), softmax-weighted with temperature ``T``, for each readout gene.
``graph``
    The same over a gene network (default STRING v12, :func:`biobft.datasets.string_edges`):
    the labels of training perturbations that are network neighbours, weighted by edge score.
``pair``
    A classifier on (perturbed-gene, readout-gene) embedding features, built from
    :func:`biobft.ggi.features.pair_features` and :func:`biobft.ggi.model.make_classifier`.
``ensemble``
    Rank average of the others, weights chosen on their out-of-fold training predictions.
``base_rate``
    The readout gene's training rate (0.5 under the per-gene AUROC: a check of the metric).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ..embed.table import validate_table
from .embeddings import Missing, _l2
from .metrics import auroc_per_gene

logger = logging.getLogger(__name__)

__all__ = ["DE_PREDICTORS", "DEPredictor", "get_de_predictor", "neighbour_scores"]

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


def neighbour_scores(
    sim: np.ndarray,
    train_pert: np.ndarray,
    train_gene: np.ndarray,
    train_label: np.ndarray,
    query_pert: np.ndarray,
    query_gene: np.ndarray,
    *,
    ks: Sequence[int],
    temperatures: Sequence[float],
    fallback: np.ndarray,
) -> np.ndarray:
    """Similarity-weighted neighbour labels per readout gene, for a grid of (k, temperature).

    For a query pair (perturbation ``q``, readout gene ``g``) the candidates are the training
    pairs of gene ``g``; the ``k`` with the highest ``sim[q, p]`` are weighted by
    ``softmax(sim / T)`` and their labels averaged. Pure NumPy kernel.

    Parameters
    ----------
    sim
        ``(n_query_perts, n_train_perts)`` similarity matrix.
    train_pert, train_gene, train_label
        Per training pair: row of ``sim``'s columns (int), readout gene code (int), label.
    query_pert, query_gene
        Per query pair: row of ``sim`` (int), readout gene code (int, same coding).
    ks, temperatures
        The grid; ``k`` is capped by the number of candidates.
    fallback
        Score for a query pair whose gene has no training pair (e.g. the global base rate).

    Returns
    -------
    ``(len(ks) * len(temperatures), n_query_pairs)`` scores, ``k`` major.
    """
    ks = [int(k) for k in ks]
    temps = np.asarray(temperatures, dtype=np.float64)
    out = np.empty((len(ks) * len(temps), len(query_pert)))
    out[:] = np.asarray(fallback, dtype=np.float64)[None, :]
    t_order = np.argsort(train_gene, kind="stable")
    t_genes, t_start = np.unique(train_gene[t_order], return_index=True)
    t_end = np.append(t_start[1:], len(t_order))
    t_slot = {int(g): (s, e) for g, s, e in zip(t_genes, t_start, t_end)}
    q_order = np.argsort(query_gene, kind="stable")
    q_genes, q_start = np.unique(query_gene[q_order], return_index=True)
    q_end = np.append(q_start[1:], len(q_order))
    kmax = max(ks)
    y_all = train_label.astype(np.float64)
    for g, qs, qe in zip(q_genes, q_start, q_end):
        slot = t_slot.get(int(g))
        if slot is None:
            continue
        tidx = t_order[slot[0] : slot[1]]
        qidx = q_order[qs:qe]
        s = sim[np.ix_(query_pert[qidx], train_pert[tidx])]
        y = y_all[tidx]
        kk = min(kmax, s.shape[1])
        top = np.argsort(-s, axis=1, kind="stable")[:, :kk]
        st = np.take_along_axis(s, top, axis=1)
        yt = y[top]
        z = st - st[:, :1]  # <= 0, the best neighbour first
        for ki, k in enumerate(ks):
            k = min(k, kk)
            zk, yk = z[:, :k], yt[:, :k]
            w = np.exp(zk[None, :, :] / temps[:, None, None])  # (T, q, k)
            out[ki * len(temps) : (ki + 1) * len(temps), qidx] = (w * yk).sum(-1) / w.sum(-1)
    return out


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


def _rank01(x: np.ndarray) -> np.ndarray:
    """Average ranks scaled to (0, 1]."""
    return pd.Series(x).rank(method="average").to_numpy() / max(len(x), 1)


# --------------------------------------------------------------------------- predictors
class DEPredictor:
    """Base class: learn from training DE pairs, score new (pert, gene) pairs.

    ``fit(train)`` takes a frame ``pert, gene, label``; ``predict(pairs)`` returns one float per
    row of ``pairs`` (higher = more likely label 1). After ``fit``, ``cv_score_`` is the inner
    cross-validated :func:`~biobft.perturb.metrics.auroc_per_gene` over training perturbations
    at the chosen hyper-parameters (``params_``) and ``oof_`` the out-of-fold training scores.
    """

    name: ClassVar[str] = "base"
    needs_embedding: ClassVar[bool] = True

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

    def _fit(self, train):
        self.cv_score_ = 0.5

    def _predict(self, pairs):
        return _gene_base_rate(self.train_, pairs["gene"])


class _Neighbours(DEPredictor):
    """Shared machinery: a perturbation x perturbation similarity, then :func:`neighbour_scores`.

    Subclasses implement ``_similarity(query_perts, train_perts) -> (sim, query_ok)``.
    ``k`` and the softmax temperature are chosen by inner CV over training perturbations.
    """

    def __init__(
        self,
        *,
        ks: Sequence[int] = (10, 20, 50, 100),
        temperatures: Sequence[float] = (0.01, 0.02, 0.05, 0.1, 0.2),
        **kw: Any,
    ):
        super().__init__(**kw)
        if not ks or min(ks) < 1 or not temperatures or min(temperatures) <= 0:
            raise ValueError(f"{self.name} needs ks >= 1 and temperatures > 0")
        self.ks = tuple(int(k) for k in ks)
        self.temperatures = tuple(float(t) for t in temperatures)

    def _similarity(self, query: Sequence[str], train: Sequence[str]):
        raise NotImplementedError

    def _grid(self, train: pd.DataFrame, query: pd.DataFrame, gene_codes: pd.Index) -> np.ndarray:
        t_perts = pd.Index(pd.unique(train["pert"]))
        q_perts = pd.Index(pd.unique(query["pert"]))
        sim, q_ok = self._similarity(list(q_perts), list(t_perts))
        t_usable = self._usable(list(t_perts))
        t_pi = t_perts.get_indexer(train["pert"])
        keep = t_usable[t_pi]
        fallback = _gene_base_rate(train, query["gene"])
        q_pi = q_perts.get_indexer(query["pert"])
        scores = neighbour_scores(
            sim,
            t_pi[keep],
            gene_codes.get_indexer(train["gene"])[keep],
            train["label"].to_numpy()[keep],
            q_pi,
            gene_codes.get_indexer(query["gene"]),
            ks=self.ks,
            temperatures=self.temperatures,
            fallback=fallback,
        )
        scores[:, ~q_ok[q_pi]] = fallback[~q_ok[q_pi]]
        self.n_fallback_ = int((~q_ok[q_pi]).sum())
        return scores

    def _usable(self, perts: list[str]) -> np.ndarray:
        return np.ones(len(perts), bool)

    def _fit(self, train):
        genes = pd.Index(pd.unique(train["gene"]))
        oof = np.zeros((len(self.ks) * len(self.temperatures), len(train)))
        folds = np.zeros(len(train), int)
        for f, fold in enumerate(_inner_folds(train["pert"], self.n_folds, self.seed)):
            held = train["pert"].isin(set(fold)).to_numpy()
            folds[held] = f
            oof[:, held] = self._grid(train.loc[~held], train.loc[held], genes)
        scores = [_fold_score(train["gene"], train["label"], row, folds) for row in oof]
        self.oof_folds_ = folds
        best = int(np.nanargmax(scores))
        ki, ti = divmod(best, len(self.temperatures))
        self.params_ = {"k": self.ks[ki], "temperature": self.temperatures[ti]}
        self.cv_scores_ = dict(
            zip([(k, t) for k in self.ks for t in self.temperatures], map(float, scores))
        )
        self.cv_score_ = float(scores[best])
        self.oof_ = oof[best]

    def _predict(self, pairs):
        genes = pd.Index(pd.unique(pd.concat([self.train_["gene"], pairs["gene"]])))
        ks, temps = self.ks, self.temperatures
        self.ks, self.temperatures = (self.params_["k"],), (self.params_["temperature"],)
        try:
            return self._grid(self.train_, pairs, genes)[0]
        finally:
            self.ks, self.temperatures = ks, temps


class KNNPairs(_Neighbours):
    """Cosine kNN over the perturbed genes' embeddings (see :func:`neighbour_scores`)."""

    name = "knn"

    def _fit(self, train):
        self._tpos = None
        super()._fit(train)

    def _usable(self, perts):
        return self.embedding.index.get_indexer(pd.Index(perts, dtype=object)) >= 0

    def _similarity(self, query, train):
        tv, _ = _pert_vectors(self.embedding, train, train, "skip")
        qv, qok = _pert_vectors(self.embedding, train, query, self.missing)
        if self.missing == "error" and not qok.all():
            absent = [q for q, o in zip(query, qok) if not o]
            raise KeyError(
                f"{len(absent)} perturbed gene(s) absent from the embedding table: {absent[:10]}; "
                "use a table that covers them or pass missing='skip' or 'mean'"
            )
        return qv @ tv.T, qok


class GraphPairs(_Neighbours):
    """Network neighbours: similarity = edge score (0-1) between perturbed genes, 0 otherwise.

    Parameters
    ----------
    network
        Edges as a DataFrame ``gene_a, gene_b`` (+ optional ``score_col``), or a
        ``networkx.Graph``; default: STRING v12 (``biobft.datasets.string_edges(min_score)``,
        human gene symbols).
    min_score
        STRING ``combined_score`` threshold (0-1000) for the default network.
    score_col
        Edge weight column, scaled to [0, 1] by its maximum (``None``: every edge weighs 1).
    """

    name = "graph"
    needs_embedding = False

    def __init__(
        self,
        *,
        network: Any = None,
        min_score: float = 400,
        score_col: str | None = "combined_score",
        temperatures: Sequence[float] = (0.05, 0.1, 0.2, 0.5),
        **kw: Any,
    ):
        super().__init__(temperatures=temperatures, **kw)
        self.network = network
        self.min_score = min_score
        self.score_col = score_col

    def _edges(self) -> pd.DataFrame:
        net = self.network
        if net is None:
            from ..datasets import string_edges

            net = string_edges(self.min_score)
        if not isinstance(net, pd.DataFrame):  # networkx graph
            rows = [
                (a, b, float(d.get(self.score_col, 1.0)) if self.score_col else 1.0)
                for a, b, d in net.edges(data=True)
            ]
            return pd.DataFrame(rows, columns=["gene_a", "gene_b", "w"])
        w = net[self.score_col].to_numpy(float) if self.score_col in net.columns else None
        return pd.DataFrame(
            {
                "gene_a": net["gene_a"].astype(str).to_numpy(),
                "gene_b": net["gene_b"].astype(str).to_numpy(),
                "w": np.ones(len(net)) if w is None else w,
            }
        )

    def _fit(self, train):
        edges = self._edges()
        wmax = edges["w"].max() if len(edges) else 1.0
        edges = edges.assign(w=edges["w"] / (wmax if wmax > 0 else 1.0))
        self._nodes = pd.Index(pd.unique(pd.concat([edges["gene_a"], edges["gene_b"]])))
        import scipy.sparse as sp

        ia = self._nodes.get_indexer(edges["gene_a"])
        ib = self._nodes.get_indexer(edges["gene_b"])
        n = len(self._nodes)
        adj = sp.coo_matrix((edges["w"].to_numpy(), (ia, ib)), shape=(n, n)).tocsr()
        self._adj = adj.maximum(adj.T).tocsr()
        super()._fit(train)

    def _similarity(self, query, train):
        qi = self._nodes.get_indexer(pd.Index(query, dtype=object))
        ti = self._nodes.get_indexer(pd.Index(train, dtype=object))
        sim = np.zeros((len(query), len(train)))
        qok, tok = qi >= 0, ti >= 0
        if qok.any() and tok.any():
            block = self._adj[qi[qok]][:, ti[tok]].toarray()
            sim[np.ix_(np.flatnonzero(qok), np.flatnonzero(tok))] = block
        # a query with no network neighbour among the training perturbations gets the base rate
        has = (sim > 0).any(axis=1)
        return sim, has


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
        best = int(np.nanargmax(scores))
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
        unknown = [m for m in self.members if m not in DE_PREDICTORS or m == self.name]
        if unknown or len(self.members) < 2:
            raise ValueError(
                f"ensemble members must be >= 2 of {[p for p in DE_PREDICTORS if p != 'ensemble']}"
                f"; got {list(self.members)}"
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
        if len(self.models_) < 2:
            raise ValueError("ensemble needs >= 2 members with out-of-fold scores (knn, graph)")
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
        best = int(np.nanargmax(scores))
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


#: DE-pair predictor name -> class (one class + one line to add a predictor)
DE_PREDICTORS: dict[str, type[DEPredictor]] = {
    cls.name: cls for cls in (BaseRate, KNNPairs, GraphPairs, PairClassifier, Ensemble)
}


def get_de_predictor(name: str, **params: Any) -> DEPredictor:
    """Instantiate a DE-pair predictor by name (see :data:`DE_PREDICTORS`)."""
    if name not in DE_PREDICTORS:
        raise ValueError(f"unknown DE-pair predictor {name!r}; choose from {list(DE_PREDICTORS)}")
    return DE_PREDICTORS[name](**params)
