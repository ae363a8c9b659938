"""Shared fixtures of the perturb tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from biobft.embed.table import make_table


def _de_toy(seed: int = 0, n_perts: int = 120, n_genes: int = 60, per_pert: int = 30):
    """Planted structure: perturbations in 4 programmes; a programme moves its own genes.

    Returns pairs, an embedding that knows the programmes (centroid + noise) and a network
    whose edges join perturbations of the same programme.
    """
    rng = np.random.default_rng(seed)
    perts = [f"P{i}" for i in range(n_perts)]
    genes = [f"G{j}" for j in range(n_genes)]
    prog = rng.integers(0, 4, n_perts)
    effect = rng.normal(0, 2.0, (4, n_genes))
    base = rng.normal(-1.0, 1.0, n_genes)
    rows = []
    for i, p in enumerate(perts):
        for j in rng.choice(n_genes, per_pert, replace=False):
            logit = base[j] + effect[prog[i], j]
            rows.append((p, genes[j], int(rng.random() < 1 / (1 + np.exp(-logit)))))
    pairs = pd.DataFrame(rows, columns=["pert", "gene", "label"])
    test_perts = set(rng.choice(perts, n_perts // 4, replace=False))
    pairs["split"] = np.where(pairs["pert"].isin(test_perts), "test", "train")
    centroids = rng.normal(size=(4, 16))
    vec = centroids[prog] + 0.6 * rng.normal(size=(n_perts, 16))
    # readout-gene vectors that carry their programme effects, so that pair features can work
    gvec = effect.T @ centroids / 2 + 0.3 * rng.normal(size=(n_genes, 16))
    table = make_table(np.vstack([vec, gvec]), perts + genes, model="toy", source="toy")
    edges = [
        (perts[a], perts[b], 900)
        for a in range(n_perts)
        for b in range(a + 1, n_perts)
        if prog[a] == prog[b] and rng.random() < 0.3
    ]
    network = pd.DataFrame(edges, columns=["gene_a", "gene_b", "combined_score"])
    return pairs, table, network


@pytest.fixture(scope="module")
def de_toy():
    """DE pairs with planted programmes: ``(pairs, table, network)``, see :func:`_de_toy`."""
    return _de_toy()
