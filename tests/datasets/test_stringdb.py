from __future__ import annotations

import warnings

import networkx as nx
import numpy as np
import pytest

from biobft.datasets import (
    STRING_CHANNELS,
    registry,
    string_edges,
    string_network,
    string_nodes,
    stringdb,
)


def test_nodes(data_mirror):
    nodes = string_nodes()
    assert len(nodes) == 17_288
    assert nodes["symbol"].is_unique and nodes["entrez_id"].is_unique
    assert nodes["entrez_id"].dtype == np.int64
    assert nodes.iloc[0].tolist() == ["CES1", 1066]


def test_edges_against_raw_rdata(data_mirror):
    """Parsed edges equal an independent read of the igraph object."""
    import rdata

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        obj = rdata.read_rda(data_mirror / registry()["string_network"].path)
    g = next(iter(obj.values()))
    sym = np.asarray(g[8][2]["symbol"])
    combined = np.asarray(g[8][3]["combined_score"])
    ref = {
        frozenset((sym[int(a)], sym[int(b)])): int(c)
        for a, b, c in zip(g[2], g[3], combined)
        if c >= 700
    }
    edges = string_edges(700)
    assert len(edges) == len(ref) == 131_520
    got = {
        frozenset(p): int(c)
        for p, c in zip(edges[["gene_a", "gene_b"]].to_numpy(), edges["combined_score"])
    }
    assert got == ref
    assert list(edges.columns) == ["gene_a", "gene_b", *STRING_CHANNELS]
    assert (edges[list(STRING_CHANNELS)].dtypes == np.int16).all()


def test_network(data_mirror):
    full = string_network(min_score=0)
    assert full.number_of_nodes() == 17_288 and full.number_of_edges() == 174_962
    assert string_network(400).number_of_edges() == 174_962
    g = string_network()  # default 700
    assert g.number_of_nodes() == 17_288 and g.number_of_edges() == 131_520
    assert g.graph["min_score"] == 700
    scores = nx.get_edge_attributes(g, "combined_score")
    assert min(scores.values()) >= 700 and max(scores.values()) <= 1000
    assert g.nodes["TP53"]["entrez_id"] == 7157
    d = g.edges["CES1", "CYP2E1"]
    assert d["combined_score"] == 905 and d["database"] == 900 and set(d) == set(STRING_CHANNELS)
    high = string_network(900.5)
    assert all(s >= 900.5 for s in nx.get_edge_attributes(high, "combined_score").values())


def test_cache_skips_rdata(data_mirror, monkeypatch):
    string_edges(), string_nodes()  # warm

    def boom():
        raise AssertionError("the .rda was parsed again")

    monkeypatch.setattr(stringdb, "_read_igraph", boom)
    assert len(string_edges(0)) == 174_962
    assert len(string_nodes()) == 17_288


@pytest.mark.parametrize(
    ("bad", "exc", "match"),
    [
        (-1, ValueError, r"min_score must lie in \[0, 1000\].*got -1"),
        (1001, ValueError, r"got 1001"),
        (float("nan"), ValueError, r"got nan"),
        ("700", TypeError, "must be a number"),
        (True, TypeError, "must be a number"),
        (None, TypeError, "must be a number"),
    ],
)
def test_bad_min_score(bad, exc, match):
    with pytest.raises(exc, match=match):
        string_network(min_score=bad)
