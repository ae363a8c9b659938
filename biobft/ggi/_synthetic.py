"""Synthetic gene-gene interaction data with planted structure (known best-possible AUC), for
tests and examples."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..embed.table import make_table

__all__ = ["planted"]


def planted(
    n_genes: int = 400,
    d: int = 16,
    n_pairs: int = 6000,
    noise: float = 0.5,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """Genes with a latent propensity ``z`` (stored in column 0 of the table, other columns noise).

    A pair interacts when ``z_a + z_b + eps > 0`` (``eps ~ N(0, noise)``), so the best possible
    ranking score is ``z_a + z_b`` (linear in the ``sum`` feature) and its ROC-AUC is the oracle.

    Returns
    -------
    table, pairs, oracle score per pair
    """
    rng = np.random.default_rng(seed)
    genes = [f"G{i:04d}" for i in range(n_genes)]
    z = rng.standard_normal(n_genes)
    vectors = rng.standard_normal((n_genes, d))
    vectors[:, 0] = z
    table = make_table(vectors, genes, model="synthetic", source="planted")
    a = rng.integers(0, n_genes, n_pairs)
    b = (a + rng.integers(1, n_genes, n_pairs)) % n_genes  # never a self pair
    score = z[a] + z[b]
    label = (score + noise * rng.standard_normal(n_pairs) > 0).astype(np.int8)
    genes_arr = np.array(genes)
    pairs = pd.DataFrame({"gene_a": genes_arr[a], "gene_b": genes_arr[b], "label": label})
    # one row per unordered pair: tests add duplicates / self pairs on purpose when they need them
    first = ~pd.Series(list(zip(np.minimum(a, b), np.maximum(a, b)))).duplicated().to_numpy()
    return table, pairs[first].reset_index(drop=True), pd.Series(score[first])
