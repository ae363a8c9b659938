"""From gene tables to perturbation vectors, and gene tables built from other data sets.

- :class:`PerturbationEmbedder`: a perturbation (tuple of genes) -> the L2-normalised sum of its
  genes' L2-normalised vectors, with the explicit ``missing=`` policy; every predictor uses it.
- :func:`response_table`: measured responses as a table (combine tables with
  :func:`biobft.embed.concat_tables`).
- :func:`emap_table`: a gene's row of a genetic-interaction (E-MAP) matrix, e.g. Norman 2019's
  CRISPRa growth screen (:func:`biobft.datasets.norman2019_emap`), a different experiment than the
  Perturb-seq expression data. Genes with similar interaction profiles act in the same pathway.
- :func:`string_table`: a gene's network neighbourhood in STRING
  (:func:`biobft.datasets.string_edges`) as a random-walk-with-restart profile over all nodes.

``emap_table`` and ``string_table`` return tables of the :mod:`biobft.embed.table` contract
(index = gene symbol, float32), so they plug into ``ridge`` / ``linear`` / ``knn`` / ``shrink``
and :func:`biobft.embed.concat_tables`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import pandas as pd

from ..embed.table import make_table, validate_table
from ._options import missing_hint
from .de_input import check_network
from .pseudobulk import Pseudobulk

Missing = Literal["error", "skip", "mean"]
Perts = Sequence[tuple[str, ...]]

#: old E-MAP symbols -> current HGNC symbols (the E-MAP file predates the renames)
EMAP_ALIASES: dict[str, str] = {"KIAA1804": "MAP3K21"}


def emap_table(
    emap: pd.DataFrame,
    *,
    diagonal: str = "zero",
    aliases: Mapping[str, str] | None = None,
    source: str = "emap",
) -> pd.DataFrame:
    """Embedding table whose row for gene ``g`` is ``g``'s genetic-interaction profile.

    Parameters
    ----------
    emap
        Square gene x gene interaction matrix with equal index and columns (e.g.
        :func:`biobft.datasets.norman2019_emap`).
    diagonal
        ``"zero"`` sets the self-interaction entry to 0 (it only measures the gene against itself
        and would make every profile peak at its own column); ``"keep"`` leaves it.
    aliases
        Renames of index symbols (default :data:`EMAP_ALIASES`); pass ``{}`` for none.
    source
        Recorded in the table metadata.

    Returns
    -------
    DataFrame
        ``genes x genes`` float32 table (columns are the interaction partners).
    """
    if not isinstance(emap, pd.DataFrame):
        raise TypeError(f"emap must be a pandas DataFrame, got {type(emap).__name__}")
    if emap.shape[0] != emap.shape[1] or not emap.index.equals(emap.columns):
        raise ValueError(
            f"emap must be a square gene x gene matrix with equal index and columns; "
            f"got shape {emap.shape}"
        )
    if diagonal not in ("zero", "keep"):
        raise ValueError(f"diagonal must be 'zero' or 'keep', got {diagonal!r}")
    X = emap.to_numpy(dtype=np.float64, copy=True)
    if not np.isfinite(X).all():
        raise ValueError("emap has NaN/inf entries; fill them (e.g. emap.fillna(0)) first")
    if diagonal == "zero":
        np.fill_diagonal(X, 0.0)
    aliases = EMAP_ALIASES if aliases is None else dict(aliases)
    genes = [aliases.get(str(g), str(g)) for g in emap.index]
    return make_table(X, genes, model="emap", source=source)


def string_table(
    edges: pd.DataFrame,
    genes: Sequence[str],
    *,
    restart: float = 0.5,
    score: str = "combined_score",
    n_iter: int = 50,
    tol: float = 1e-8,
    source: str = "string",
) -> pd.DataFrame:
    """Random-walk-with-restart profiles of ``genes`` on a weighted network.

    For seed gene ``g`` the profile ``p`` solves ``p = (1 - r) W p + r e_g`` where ``W`` is the
    column-normalised weighted adjacency (weights ``edges[score] / 1000``) and ``r = restart``;
    the seed's own entry is then set to 0 so that two genes are similar when their network
    neighbourhoods overlap (``restart=1`` would give one-hot vectors). Solved by power iteration.

    Parameters
    ----------
    edges
        Undirected edge list with columns ``gene_a``, ``gene_b`` and ``score`` (e.g.
        :func:`biobft.datasets.string_edges`).
    genes
        Genes to embed; those absent from the network are left out of the table (the predictors'
        ``missing=`` policy handles them).
    restart
        Restart probability in (0, 1].
    score
        Edge-weight column (0-1000 scale).
    n_iter, tol
        Power-iteration limits.
    source
        Recorded in the table metadata.

    Returns
    -------
    DataFrame
        ``len(genes present) x n_nodes`` float32 table (columns: the nodes in order of first
        appearance in ``gene_a`` then ``gene_b``).

    Raises
    ------
    TypeError, KeyError, ValueError
        A bad edge list (wrong type, missing columns, no edges, NaN / empty / non-symbol genes,
        non-numeric, NaN or negative weights: :func:`biobft.perturb.de_input.check_network`),
        ``restart`` outside (0, 1], or no requested gene in the network.
    """
    import scipy.sparse as sp

    if not isinstance(edges, pd.DataFrame):
        raise TypeError(
            f"edges must be a DataFrame with columns gene_a, gene_b, {score} "
            f"(biobft.datasets.string_edges()); got {type(edges).__name__}"
        )
    edges = check_network(edges, score_col=score, require_score=True, what="edges")
    if not 0 < restart <= 1:
        raise ValueError(f"restart must lie in (0, 1], got {restart!r}")
    nodes = pd.Index(pd.unique(np.concatenate([edges["gene_a"], edges["gene_b"]])))
    a = nodes.get_indexer(edges["gene_a"])
    b = nodes.get_indexer(edges["gene_b"])
    w = edges["w"].to_numpy(np.float64) / 1000.0
    n = len(nodes)
    A = sp.coo_matrix((np.r_[w, w], (np.r_[a, b], np.r_[b, a])), shape=(n, n)).tocsr()
    deg = np.asarray(A.sum(axis=0)).ravel()
    W = A @ sp.diags(np.divide(1.0, deg, out=np.zeros(n), where=deg > 0))
    present = [str(g) for g in dict.fromkeys(map(str, genes)) if str(g) in nodes]
    if not present:
        raise ValueError("none of the requested genes is a node of the network")
    idx = nodes.get_indexer(present)
    E = np.zeros((n, len(present)))
    E[idx, np.arange(len(present))] = 1.0
    P = E.copy()
    for _ in range(int(n_iter)):
        new = (1 - restart) * (W @ P) + restart * E
        done = np.abs(new - P).max() < tol
        P = new
        if done:
            break
    P[idx, np.arange(len(present))] = 0.0
    return make_table(P.T, present, model="rwr", source=source, restart=float(restart))


# --------------------------------------------------------------- genes -> perturbation vectors
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
                f"use a table that covers them or {missing_hint('skip', 'mean')}"
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


# --------------------------------------------------------------- response tables
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
