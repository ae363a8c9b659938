"""STRING v12 human protein network (as packaged by the dmfind R package)."""

from __future__ import annotations

import math
import numbers
import warnings

import numpy as np
import pandas as pd

from ._cache import cached_frame
from ._fetch import fetch, file_sha256

__all__ = ["STRING_CHANNELS", "string_edges", "string_network", "string_nodes"]

_NAME = "string_network"
_PARSER_VERSION = "1"
#: score channels of the STRING v12 file (0-1000 scale), ``combined_score`` last
STRING_CHANNELS = (
    "neighborhood",
    "neighborhood_transferred",
    "fusion",
    "cooccurence",
    "homology",
    "coexpression",
    "coexpression_transferred",
    "experiments",
    "experiments_transferred",
    "database",
    "database_transferred",
    "combined_score",
)


def _read_igraph() -> list:
    import rdata

    path = fetch(_NAME)
    with warnings.catch_warnings():
        # rdata has no constructor for the R class "igraph" and returns the raw list (wanted)
        warnings.filterwarnings("ignore", message='Missing constructor for R class "igraph"')
        objs = rdata.read_rda(path)
    if len(objs) != 1:
        raise ValueError(f"{path}: expected one R object, found {list(objs)}")
    graph = next(iter(objs.values()))
    if not isinstance(graph, list) or len(graph) < 9:
        raise ValueError(f"{path}: not an igraph object (unexpected structure)")
    return graph


def _parse_nodes() -> pd.DataFrame:
    graph = _read_igraph()
    vattr = graph[8][2]
    return pd.DataFrame(
        {
            "symbol": np.asarray(vattr["symbol"], dtype=str).astype(object),
            "entrez_id": np.asarray(vattr["name"], dtype=str).astype(np.int64),
        }
    )


def _parse_edges() -> pd.DataFrame:
    graph = _read_igraph()
    vattr, eattr = graph[8][2], graph[8][3]
    symbols = np.asarray(vattr["symbol"], dtype=str).astype(object)
    src = np.asarray(graph[2]).astype(np.int64)  # 0-based vertex indices
    dst = np.asarray(graph[3]).astype(np.int64)
    data = {"gene_a": symbols[src], "gene_b": symbols[dst]}
    for ch in STRING_CHANNELS:
        values = np.asarray(eattr[ch], dtype=np.float64)
        data[ch] = values.astype(np.int16)
    return pd.DataFrame(data)


def _key() -> tuple[str, ...]:
    return (file_sha256(fetch(_NAME)), _PARSER_VERSION)


def string_nodes() -> pd.DataFrame:
    """The 17,288 genes of the STRING network.

    Returns
    -------
    DataFrame
        RangeIndex in igraph vertex order; columns ``symbol`` (str, unique) and ``entrez_id``
        (int64, unique). Parsed once from the ``.rda`` and cached as parquet (keyed by sha256).
    """
    return cached_frame("string_nodes", _key(), _parse_nodes)


def _check_min_score(min_score) -> int | float:
    if isinstance(min_score, bool) or not isinstance(min_score, numbers.Real):
        raise TypeError(
            f"min_score must be a number on STRING's 0-1000 scale (e.g. 700), "
            f"got {type(min_score).__name__}"
        )
    if math.isnan(min_score) or not 0 <= min_score <= 1000:
        raise ValueError(
            f"min_score must lie in [0, 1000] (STRING scores are 0-1000, e.g. 400 medium, "
            f"700 high, 900 highest confidence), got {min_score!r}"
        )
    return min_score


def string_edges(min_score: float = 700) -> pd.DataFrame:
    """Edges of the STRING v12 human network with ``combined_score >= min_score``.

    Parameters
    ----------
    min_score
        Keep edges whose ``combined_score`` is at least this (0-1000 scale). The file holds all
        edges with score >= 700 plus, per gene, its top-3 edges scoring 400-699; so
        ``min_score <= 400`` keeps all 174,962 edges and ``700`` keeps 131,520.

    Returns
    -------
    DataFrame
        RangeIndex; columns ``gene_a``, ``gene_b`` (str symbols, each undirected edge once, no
        self-loops) and the int16 score channels :data:`STRING_CHANNELS` (0-1000).
    """
    min_score = _check_min_score(min_score)
    edges = cached_frame("string_edges", _key(), _parse_edges)
    keep = edges["combined_score"].to_numpy() >= min_score
    return edges.loc[keep].reset_index(drop=True)


def string_network(min_score: float = 700):
    """STRING v12 human network (no text-mining channel) as an undirected ``networkx.Graph``.

    Upstream: ``emosca-cnr/dmfind@3e1c7fc``, ``data/string.v12.Entrez.ntm.700.400.k3.rda``
    (package GPL-3.0; STRING data CC BY 4.0; Szklarczyk et al. 2023). The R igraph object is
    parsed with ``rdata`` once and cached as parquet keyed by the file's sha256.

    Parameters
    ----------
    min_score
        Keep edges with ``combined_score >= min_score`` (0-1000; default 700 = STRING "high
        confidence": 131,520 edges; ``<= 400`` keeps all 174,962).

    Returns
    -------
    networkx.Graph
        All 17,288 genes as nodes (symbols; node attribute ``entrez_id``), also those left
        without edges by ``min_score``; edge attributes: every channel of
        :data:`STRING_CHANNELS` as int, incl. ``combined_score``.
        ``graph.graph`` holds ``{"source": "STRING v12", "min_score": min_score}``.

    Raises
    ------
    TypeError, ValueError
        ``min_score`` is not a number in [0, 1000].
    """
    import networkx as nx

    edges = string_edges(min_score)
    nodes = string_nodes()
    graph = nx.Graph(source="STRING v12", min_score=min_score)
    graph.add_nodes_from(
        (sym, {"entrez_id": int(eid)})
        for sym, eid in zip(nodes["symbol"].tolist(), nodes["entrez_id"].tolist())
    )
    channels = list(STRING_CHANNELS)
    scores = edges[channels].to_numpy(dtype=np.int64).tolist()
    graph.add_edges_from(
        (a, b, dict(zip(channels, row)))
        for a, b, row in zip(edges["gene_a"].tolist(), edges["gene_b"].tolist(), scores)
    )
    return graph
