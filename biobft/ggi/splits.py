"""Gene pairs: cleaning, pairs from an interaction graph, gene-disjoint splits.

A *pairs* frame has columns ``gene_a``, ``gene_b`` (symbols) and ``label`` (``int8``, 1 =
interacting, 0 = not), like :func:`biobft.datasets.gene2vec_pairs`.
"""

from __future__ import annotations

import logging
from typing import Literal

import networkx as nx
import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

PAIR_COLUMNS = ("gene_a", "gene_b", "label")


def check_pairs(pairs: pd.DataFrame, *, name: str = "pairs", labels: bool = True) -> None:
    """Raise a clear error unless ``pairs`` is a pairs frame with binary labels of both classes.

    Raises
    ------
    TypeError
        If ``pairs`` is not a DataFrame.
    KeyError
        If a column is missing.
    ValueError
        If it is empty, or labels are not 0/1 or are all one class.
    """
    if not isinstance(pairs, pd.DataFrame):
        raise TypeError(
            f"{name} must be a pandas DataFrame with columns {list(PAIR_COLUMNS)}; "
            f"got {type(pairs).__name__}"
        )
    need = PAIR_COLUMNS if labels else PAIR_COLUMNS[:2]
    missing = [c for c in need if c not in pairs.columns]
    if missing:
        raise KeyError(
            f"{name} has no column(s) {missing}; expected {list(need)} "
            f"(columns: {list(pairs.columns)})"
        )
    if len(pairs) == 0:
        raise ValueError(f"{name} is empty; it needs at least one pair")
    if not labels:
        return
    y = pd.to_numeric(pairs["label"], errors="coerce").to_numpy()
    bad = ~np.isin(y, (0, 1))
    if bad.any():
        raise ValueError(
            f"{name}['label'] must be 0 or 1; {int(bad.sum())} value(s) are not, "
            f"e.g. {list(pairs['label'][bad][:5])}"
        )
    classes = np.unique(y)
    if len(classes) < 2:
        raise ValueError(
            f"{name}['label'] is all {int(classes[0])} ({len(y)} pairs): a classifier needs both "
            "interacting (1) and non-interacting (0) pairs; add negatives, e.g. with "
            "biobft.ggi.pairs_from_graph(G, negatives='degree_matched')"
        )


def unordered_ends(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The two gene symbols of each pair in sorted order: ``(A, B)`` and ``(B, A)`` get one key."""
    return np.where(a < b, a, b), np.where(a < b, b, a)


def clean_pairs(pairs: pd.DataFrame, *, drop_self: bool = True) -> tuple[pd.DataFrame, dict]:
    """Drop self pairs, contradictory pairs and duplicates (in either orientation).

    The policy, applied to every split by :func:`biobft.ggi.evaluate_gene2vec` by default:

    1. self pairs ``(A, A)`` are dropped (``drop_self=True``);
    2. an unordered pair ``{A, B}`` that appears with both labels is dropped entirely
       (every occurrence): the data say both "interacts" and "does not";
    3. the remaining repeats of an unordered pair (``(A, B)`` twice, or ``(A, B)`` and ``(B, A)``)
       collapse to their first occurrence, in its original orientation.

    Parameters
    ----------
    pairs
        Pairs frame (``gene_a``, ``gene_b``, ``label``).
    drop_self
        Whether to drop self pairs.

    Returns
    -------
    clean
        The cleaned pairs (original row order, fresh index, ``label`` as ``int8``).
    counts
        ``{"n_raw", "n_self", "n_conflict", "n_duplicate", "n_clean"}``: rows in, rows removed
        at each step, rows out.
    """
    check_pairs(pairs, labels=False)
    a = pairs["gene_a"].astype(str).to_numpy()
    b = pairs["gene_b"].astype(str).to_numpy()
    y = pd.to_numeric(pairs["label"]).to_numpy().astype(np.int8)
    n_raw = len(pairs)
    keep = np.ones(n_raw, dtype=bool)
    self_mask = a == b
    if drop_self:
        keep &= ~self_mask
    lo, hi = unordered_ends(a, b)
    n_labels = pd.Series(y).groupby([lo, hi]).transform("nunique").to_numpy()
    conflict = (n_labels > 1) & keep
    keep &= ~conflict
    # a duplicate is a repeat of a kept key; first occurrences among kept rows survive
    kept_keys = pd.MultiIndex.from_arrays([lo[keep], hi[keep]])
    dup_kept = np.zeros(n_raw, dtype=bool)
    dup_kept[np.flatnonzero(keep)] = kept_keys.duplicated(keep="first")
    keep &= ~dup_kept
    out = pd.DataFrame({"gene_a": a[keep], "gene_b": b[keep], "label": y[keep]})
    counts = {
        "n_raw": n_raw,
        "n_self": int(self_mask.sum()) if drop_self else 0,
        "n_conflict": int(conflict.sum()),
        "n_duplicate": int(dup_kept.sum()),
        "n_clean": int(keep.sum()),
    }
    return out, counts


def _check_graph(G: nx.Graph, *, min_nodes: int) -> None:
    if not isinstance(G, nx.Graph):
        raise TypeError(f"G must be a networkx graph; got {type(G).__name__}")
    if G.is_directed():
        raise ValueError(
            "G is directed; interactions are symmetric: pass G.to_undirected() instead"
        )
    loops = list(nx.selfloop_edges(G))
    if loops:
        raise ValueError(
            f"G has {len(loops)} self-loop(s), e.g. {loops[:3]}; a gene interacting with itself is "
            "not a pair: remove them with G.remove_edges_from(list(nx.selfloop_edges(G)))"
        )
    if G.number_of_nodes() < min_nodes or G.number_of_edges() == 0:
        raise ValueError(
            f"G has {G.number_of_nodes()} node(s) and {G.number_of_edges()} edge(s); "
            f"at least {min_nodes} nodes and one edge are needed to sample pairs"
        )


def pairs_from_graph(
    G: nx.Graph,
    *,
    negatives: Literal["degree_matched", "uniform"] = "degree_matched",
    ratio: float = 1.0,
    seed: int = 0,
    max_rounds: int = 200,
) -> pd.DataFrame:
    """Labelled pairs from an interaction graph: every edge a positive, sampled non-edges negative.

    Parameters
    ----------
    G
        Undirected networkx graph whose nodes are gene symbols (e.g.
        ``biobft.datasets.string_network(min_score=700)``); no self-loops.
    negatives
        ``"uniform"``: gene pairs drawn uniformly among non-edges. ``"degree_matched"``: both
        genes drawn with probability proportional to their degree, so each gene appears in about
        as many negatives as positives and node degree alone cannot separate the classes.
    ratio
        Negatives per positive.
    seed
        Random seed.
    max_rounds
        Rejection-sampling rounds before giving up (the graph is too dense for ``ratio``).

    Returns
    -------
    Pairs frame (``gene_a``, ``gene_b``, ``label`` int8) of ``n_edges`` positives and
    ``round(ratio * n_edges)`` negatives, rows shuffled.
    """
    _check_graph(G, min_nodes=3)
    if negatives not in ("degree_matched", "uniform"):
        raise ValueError(f"negatives must be 'degree_matched' or 'uniform'; got {negatives!r}")
    if not ratio > 0:
        raise ValueError(f"ratio must be > 0; got {ratio}")
    # sorted nodes and edges: the result depends on the seed only, not on the graph's
    # iteration order (which differs between processes for subgraph views)
    order_nodes = sorted(G.nodes(), key=str)
    nodes = np.array([str(n) for n in order_nodes], dtype=object)
    pos_of = {n: i for i, n in enumerate(order_nodes)}
    edges = np.array(
        sorted((min(pos_of[u], pos_of[v]), max(pos_of[u], pos_of[v])) for u, v in G.edges()),
        dtype=np.int64,
    ).reshape(-1, 2)
    n_nodes, n_pos = len(nodes), len(edges)
    n_neg = round(ratio * n_pos)
    n_non_edges = n_nodes * (n_nodes - 1) // 2 - n_pos
    if n_neg > n_non_edges:
        raise ValueError(
            f"G has {n_nodes} nodes, {n_pos} edges and only {n_non_edges} non-edges, fewer than "
            f"the {n_neg} negatives asked for (ratio={ratio}); lower ratio or use a larger graph"
        )
    rng = np.random.default_rng(seed)
    # encode an unordered pair (i, j), i < j, as one int64
    taken = {int(min(u, v)) * n_nodes + int(max(u, v)) for u, v in edges}
    endpoints = edges.ravel()  # a node appears once per incident edge: degree-weighted draws
    chosen: list[int] = []
    for _ in range(max_rounds):
        need = n_neg - len(chosen)
        if need <= 0:
            break
        m = max(2 * need, 64)
        if negatives == "uniform":
            i = rng.integers(0, n_nodes, m)
            j = rng.integers(0, n_nodes, m)
        else:
            i = endpoints[rng.integers(0, len(endpoints), m)]
            j = endpoints[rng.integers(0, len(endpoints), m)]
        lo, hi = np.minimum(i, j), np.maximum(i, j)
        for code in (lo * n_nodes + hi)[lo != hi].tolist():
            if code not in taken:
                taken.add(code)
                chosen.append(code)
                if len(chosen) == n_neg:
                    break
    if len(chosen) < n_neg:
        raise ValueError(
            f"could only sample {len(chosen)} of {n_neg} {negatives} negatives in {max_rounds} "
            "rounds: the graph is too dense for this ratio; lower ratio or use negatives='uniform'"
        )
    neg = np.array(chosen, dtype=np.int64)
    a = np.concatenate([edges[:, 0], neg // n_nodes])
    b = np.concatenate([edges[:, 1], neg % n_nodes])
    y = np.concatenate([np.ones(n_pos, np.int8), np.zeros(n_neg, np.int8)])
    order = rng.permutation(len(y))
    return pd.DataFrame({"gene_a": nodes[a[order]], "gene_b": nodes[b[order]], "label": y[order]})


def gene_disjoint_split(
    pairs: pd.DataFrame,
    *,
    test_size: float = 0.2,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split pairs so that no gene is in both train and test.

    The genes are shuffled and a fraction ``test_size`` of them is held out. Test pairs have both
    genes held out, train pairs have neither; pairs with one gene on each side are dropped (so the
    test set holds roughly ``test_size**2`` of the pairs and the train set ``(1 - test_size)**2``).

    Parameters
    ----------
    pairs
        Pairs frame (``gene_a``, ``gene_b``, ``label``).
    test_size
        Fraction of the genes held out for testing, in ``(0, 1)``.
    seed
        Random seed.

    Returns
    -------
    train, test
        Pairs frames (fresh index). Both contain both labels.

    Raises
    ------
    ValueError
        If ``test_size`` is out of range, or there are too few genes / pairs for both sides to hold
        pairs of both labels.
    """
    check_pairs(pairs)
    if not 0 < test_size < 1:
        raise ValueError(f"test_size is the fraction of genes held out, in (0, 1); got {test_size}")
    a = pairs["gene_a"].astype(str).to_numpy()
    b = pairs["gene_b"].astype(str).to_numpy()
    genes = np.unique(np.concatenate([a, b]))
    n_test = round(test_size * len(genes))
    if len(genes) < 4 or n_test < 2 or len(genes) - n_test < 2:
        raise ValueError(
            f"pairs hold {len(genes)} genes: too few for a gene-disjoint split with "
            f"test_size={test_size} (each side needs at least 2 genes); use more pairs or a larger "
            "graph"
        )
    rng = np.random.default_rng(seed)
    held = set(genes[rng.permutation(len(genes))[:n_test]].tolist())
    in_a = np.fromiter((g in held for g in a), bool, len(a))
    in_b = np.fromiter((g in held for g in b), bool, len(b))
    test = pairs.loc[in_a & in_b].reset_index(drop=True)
    train = pairs.loc[~in_a & ~in_b].reset_index(drop=True)
    for name, part in (("train", train), ("test", test)):
        if len(part) == 0 or part["label"].nunique() < 2:
            raise ValueError(
                f"the gene-disjoint {name} split has {len(part)} pair(s) "
                f"({part['label'].nunique() if len(part) else 0} label class(es)); too few genes "
                f"or pairs for test_size={test_size}: use more pairs or change test_size"
            )
    logger.info(
        "gene-disjoint split: %d train, %d test pairs; %d cross pairs dropped",
        len(train),
        len(test),
        len(pairs) - len(train) - len(test),
    )
    return train, test
