"""The neighbour DE-pair predictors ``knn`` (:class:`KNNPairs`, cosine of the perturbed genes'
embeddings) and ``graph`` (:class:`GraphPairs`, a gene network), over one NumPy kernel,
:func:`neighbour_scores`. Registered in :data:`biobft.perturb.de_predictors.DE_PREDICTORS`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ._options import missing_hint
from .de_base import (
    DEPredictor,
    _best_setting,
    _fold_score,
    _gene_base_rate,
    _inner_folds,
    _pert_vectors,
)
from .de_input import check_network

#: the weight column of STRING edges (:func:`biobft.datasets.string_edges`)
DEFAULT_SCORE_COL = "combined_score"

__all__ = ["GraphPairs", "KNNPairs", "graph_edges", "neighbour_scores"]


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
    min_similarity: float | None = None,
    return_empty: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
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
        The grid; ``k`` is capped by the number of candidates. Candidates with equal
        similarity enter the top ``k`` in column order of ``sim`` (not in row order).
    fallback
        Score for a query pair whose gene has no training pair (e.g. the global base rate), or
        no candidate above ``min_similarity``.
    min_similarity
        Candidates with ``sim <= min_similarity`` are not neighbours (the network predictor: 0 =
        no edge), so they never fill the top ``k`` in row order; ``None``: every candidate is.
    return_empty
        Also return a boolean per query pair: no neighbour (it got ``fallback``).

    Returns
    -------
    ``(len(ks) * len(temperatures), n_query_pairs)`` scores, ``k`` major (and the mask).
    """
    ks = [int(k) for k in ks]
    temps = np.asarray(temperatures, dtype=np.float64)
    out = np.empty((len(ks) * len(temps), len(query_pert)))
    out[:] = np.asarray(fallback, dtype=np.float64)[None, :]
    # within a gene, candidates in column order of ``sim``: equal similarities are broken by
    # column, never by the row order of the training pairs
    t_order = np.lexsort((train_pert, train_gene))
    t_genes, t_start = np.unique(train_gene[t_order], return_index=True)
    t_end = np.append(t_start[1:], len(t_order))
    t_slot = {int(g): (s, e) for g, s, e in zip(t_genes, t_start, t_end)}
    q_order = np.argsort(query_gene, kind="stable")
    q_genes, q_start = np.unique(query_gene[q_order], return_index=True)
    q_end = np.append(q_start[1:], len(q_order))
    kmax = max(ks)
    y_all = train_label.astype(np.float64)
    empty = np.ones(len(query_pert), bool)
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
        ok = np.ones_like(st, bool) if min_similarity is None else st > min_similarity
        empty[qidx] = ~ok[:, 0]  # sorted best first: no neighbour at all
        z = st - st[:, :1]  # <= 0, the best neighbour first
        for ki, k in enumerate(ks):
            k = min(k, kk)
            zk, yk = z[:, :k], yt[:, :k]
            w = np.exp(zk[None, :, :] / temps[:, None, None]) * ok[None, :, :k]  # (T, q, k)
            den = w.sum(-1)
            rows = slice(ki * len(temps), (ki + 1) * len(temps))
            got = (w * yk).sum(-1) / np.where(den > 0, den, 1.0)
            out[rows, qidx] = np.where(den > 0, got, out[rows, qidx])
    return (out, empty) if return_empty else out


def graph_edges(network: Any, *, score_col: str | None = DEFAULT_SCORE_COL) -> pd.DataFrame:
    """The validated edges ``gene_a, gene_b, w`` of a ``graph`` network (see :class:`GraphPairs`).

    An explicitly named weight column must exist; the default ``"combined_score"`` may be
    absent (every edge then weighs 1). Raises as :func:`~biobft.perturb.de_input.check_network`.
    """
    return check_network(
        network, score_col=score_col, require_score=score_col not in (None, DEFAULT_SCORE_COL)
    )


class _Neighbours(DEPredictor):
    """Shared machinery: a perturbation x perturbation similarity, then :func:`neighbour_scores`.

    Subclasses implement ``_similarity(query_perts, train_perts) -> (sim, query_ok)``.
    ``k`` and the softmax temperature are chosen by inner CV over training perturbations.
    ``min_similarity``: see :func:`neighbour_scores`.
    """

    min_similarity: float | None = None

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
        t_perts = pd.Index(sorted(pd.unique(train["pert"])))  # ties go to the first name
        q_perts = pd.Index(pd.unique(query["pert"]))
        sim, q_ok = self._similarity(list(q_perts), list(t_perts))
        t_usable = self._usable(list(t_perts))
        t_pi = t_perts.get_indexer(train["pert"])
        keep = t_usable[t_pi]
        fallback = _gene_base_rate(train, query["gene"])
        q_pi = q_perts.get_indexer(query["pert"])
        scores, empty = neighbour_scores(
            sim,
            t_pi[keep],
            gene_codes.get_indexer(train["gene"])[keep],
            train["label"].to_numpy()[keep],
            q_pi,
            gene_codes.get_indexer(query["gene"]),
            ks=self.ks,
            temperatures=self.temperatures,
            fallback=fallback,
            min_similarity=self.min_similarity,
            return_empty=True,
        )
        scores[:, ~q_ok[q_pi]] = fallback[~q_ok[q_pi]]
        self.n_fallback_ = int((~q_ok[q_pi] | empty).sum())
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
        best = _best_setting(scores, train, name=self.name)
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
                f"use a table that covers them or {missing_hint('skip', 'mean')}"
            )
        return qv @ tv.T, qok


class GraphPairs(_Neighbours):
    """Network neighbours: similarity = edge score (0-1) between perturbed genes, 0 otherwise.

    Parameters
    ----------
    network
        Edges as a DataFrame with one row per edge and columns ``gene_a``, ``gene_b`` (gene
        symbols, str) and optionally ``score_col`` (numeric weight >= 0), or a
        ``networkx.Graph`` with gene-symbol nodes; default: STRING v12
        (``biobft.datasets.string_edges(min_score)``, human gene symbols). Validated by
        :func:`biobft.perturb.de_input.check_network` when the predictor is made.
    min_score
        STRING ``combined_score`` threshold (0-1000) for the default network.
    score_col
        Edge weight column, scaled to [0, 1] by its maximum (``None``: every edge weighs 1).
        The default ``"combined_score"`` may be absent (weight 1); another name must exist.
    """

    name = "graph"
    min_similarity = 0.0  # no edge is no neighbour: never a filler of the top k in row order
    needs_embedding = False

    def __init__(
        self,
        *,
        network: Any = None,
        min_score: float = 400,
        score_col: str | None = DEFAULT_SCORE_COL,
        temperatures: Sequence[float] = (0.05, 0.1, 0.2, 0.5),
        **kw: Any,
    ):
        super().__init__(temperatures=temperatures, **kw)
        self.network = network
        self.min_score = min_score
        self.score_col = score_col
        if network is not None:
            self._check(network)  # a bad network is refused here, before any fit

    def _edges(self) -> pd.DataFrame:
        net = self.network
        if net is None:
            from ..datasets import string_edges

            net = string_edges(self.min_score)
        return self._check(net)

    def _check(self, net: Any) -> pd.DataFrame:
        return graph_edges(net, score_col=self.score_col)

    def _fit(self, train):
        edges = self._edges()
        # a repeated edge counts once, at its largest weight (a sparse matrix would add them up)
        edges = edges.groupby(["gene_a", "gene_b"], as_index=False, sort=False)["w"].max()
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
