"""biobft.perturb.de_predictors kernels against naive loops (the predictors end to end are in
test_de_pairs.py, through evaluate_de_pairs)."""

from __future__ import annotations

import numpy as np
import pytest

from biobft.perturb.de_predictors import _inner_folds, neighbour_scores


def test_neighbour_scores_match_a_naive_loop():
    rng = np.random.default_rng(3)
    n_t, n_q, n_g = 25, 6, 5
    sim = rng.normal(size=(n_q, n_t))
    t_pert = np.repeat(np.arange(n_t), n_g)
    t_gene = np.tile(np.arange(n_g), n_t)
    keep = rng.random(len(t_pert)) < 0.7
    t_pert, t_gene = t_pert[keep], t_gene[keep]
    t_y = rng.integers(0, 2, len(t_pert))
    q_pert = np.repeat(np.arange(n_q), n_g)
    q_gene = np.tile(np.arange(n_g), n_q)
    ks, temps = (3, 100), (0.1, 1.0)
    got = neighbour_scores(
        sim, t_pert, t_gene, t_y, q_pert, q_gene, ks=ks, temperatures=temps, fallback=np.zeros(30)
    )
    for row, (k, temp) in enumerate([(k, t) for k in ks for t in temps]):
        for i, (q, g) in enumerate(zip(q_pert, q_gene)):
            cand = np.flatnonzero(t_gene == g)
            s = sim[q, t_pert[cand]]
            top = cand[np.argsort(-s, kind="stable")[:k]]
            st = sim[q, t_pert[top]]
            w = np.exp((st - st.max()) / temp)
            assert got[row, i] == pytest.approx(w @ t_y[top] / w.sum(), abs=1e-12)


def test_inner_folds_partition_training_perturbations():
    perts = [f"P{i}" for i in range(11)] * 3  # repeated names: one fold per perturbation
    folds = _inner_folds(perts, 4, seed=0)
    assert len(folds) == 4
    flat = np.concatenate(folds)
    assert sorted(flat) == sorted(set(perts))  # every perturbation in exactly one fold
    assert max(map(len, folds)) - min(map(len, folds)) <= 1
    assert len(_inner_folds(["A", "B"], 5, seed=0)) == 2  # never more folds than perturbations
