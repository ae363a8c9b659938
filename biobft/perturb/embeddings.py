"""Functional gene embeddings from other data sets, as embedding tables for the predictors.

- :func:`emap_table`: a gene's row of a genetic-interaction (E-MAP) matrix, e.g. Norman 2019's
  CRISPRa growth screen (:func:`biobft.datasets.norman2019_emap`), a different experiment than the
  Perturb-seq expression data. Genes with similar interaction profiles act in the same pathway.
- :func:`string_table`: a gene's network neighbourhood in STRING
  (:func:`biobft.datasets.string_edges`) as a random-walk-with-restart profile over all nodes.

Both return tables of the :mod:`biobft.embed.table` contract (index = gene symbol, float32), so
they plug into ``ridge`` / ``linear`` / ``knn`` / ``shrink`` and :func:`concat_tables`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ..embed.table import make_table

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
    """
    import scipy.sparse as sp

    missing_cols = {"gene_a", "gene_b", score} - set(edges.columns)
    if missing_cols:
        raise KeyError(
            f"edges lacks column(s) {sorted(missing_cols)}; expected gene_a, gene_b, {score} "
            "(biobft.datasets.string_edges())"
        )
    if not 0 < restart <= 1:
        raise ValueError(f"restart must lie in (0, 1], got {restart!r}")
    nodes = pd.Index(pd.unique(np.concatenate([edges["gene_a"], edges["gene_b"]]).astype(str)))
    a = nodes.get_indexer(edges["gene_a"].astype(str))
    b = nodes.get_indexer(edges["gene_b"].astype(str))
    w = edges[score].to_numpy(np.float64) / 1000.0
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
