"""Seeded synthetic perturbation data with planted effects (tests and benchmarks).

Each perturbed gene ``g`` has an embedding ``e_g`` (the returned table) and a log-fold change
``δ_g = W ᵀ ê_g`` (``ê`` L2-normalised), so a linear model on embeddings can recover unseen
perturbations exactly in expectation. Doubles are additive (``δ_A + δ_B``) plus an optional
interaction term. Cells are Poisson counts with rate ``size · exp(base + δ)``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse


def synthetic_perturbation_data(
    *,
    n_genes: int = 60,
    n_perturbed: int = 16,
    n_doubles: int = 6,
    cells_per_condition: int = 40,
    dim: int = 6,
    effect: float = 1.0,
    interaction: float = 0.0,
    control: str = "control",
    sep: str = "+",
    n_cell_types: int = 1,
    mean_count: float = 2.0,
    seed: int = 0,
):
    """Raw-count AnnData of control, single and double perturbations, and the gene embedding table.

    Returns
    -------
    ``(adata, table, truth)`` where ``truth`` is a DataFrame of the true log-fold changes per
    condition (index = condition label), ``adata.obs`` has ``condition`` and ``cell_type``, and
    perturbed genes are named ``P0, P1, ...`` (the first ``n_perturbed`` measured genes).
    """
    import anndata as ad

    from ..embed.table import make_table

    rng = np.random.default_rng(seed)
    if n_perturbed > n_genes:
        raise ValueError("n_perturbed must be <= n_genes")
    if n_doubles > n_perturbed * (n_perturbed - 1) // 2:
        raise ValueError(f"n_doubles must be <= {n_perturbed * (n_perturbed - 1) // 2}")
    genes = [f"P{i}" for i in range(n_perturbed)] + [f"G{i}" for i in range(n_genes - n_perturbed)]
    emb = rng.normal(size=(n_perturbed, dim))
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    W = rng.normal(scale=effect, size=(dim, n_genes))
    single = unit @ W
    conds = {control: np.zeros(n_genes)}
    for i in range(n_perturbed):
        conds[genes[i]] = single[i]
    pairs: set[tuple[int, int]] = set()
    while len(pairs) < n_doubles:
        a, b = sorted(rng.choice(n_perturbed, size=2, replace=False).tolist())
        pairs.add((a, b))
    for a, b in sorted(pairs):
        extra = interaction * rng.normal(size=n_genes)
        conds[f"{genes[a]}{sep}{genes[b]}"] = single[a] + single[b] + extra
    base = np.log(mean_count) + rng.normal(scale=0.5, size=n_genes)
    blocks, labels, cts = [], [], []
    for t in range(n_cell_types):
        shift = rng.normal(scale=0.3, size=n_genes) if t else np.zeros(n_genes)
        for name, lfc in conds.items():
            rate = np.exp(base + shift + lfc)
            size = rng.lognormal(0, 0.2, size=(cells_per_condition, 1))
            counts = rng.poisson(rate[None, :] * size).astype(np.float32)
            blocks.append(sparse.csr_matrix(counts))
            labels += [name] * cells_per_condition
            cts += [f"type{t}"] * cells_per_condition
    X = sparse.vstack(blocks, format="csr")
    obs = pd.DataFrame(
        {"condition": pd.Categorical(labels), "cell_type": pd.Categorical(cts)},
        index=[f"cell{i}" for i in range(len(labels))],
    )
    adata = ad.AnnData(X, obs=obs, var=pd.DataFrame(index=genes))
    table = make_table(emb, genes[:n_perturbed], model="synthetic", source="planted")
    truth = pd.DataFrame(np.array(list(conds.values())), index=list(conds), columns=genes)
    return adata, table, truth
