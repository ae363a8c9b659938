from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from biobft.perturb.embeddings import emap_table, string_table
from biobft.perturb.predictors import PREDICTORS, Shrink


def _emap(rng, genes):
    x = rng.normal(size=(len(genes), len(genes)))
    x = x + x.T
    return pd.DataFrame(x, index=genes, columns=genes)


def test_emap_table_rows_zero_diagonal_and_alias():
    rng = np.random.default_rng(0)
    e = _emap(rng, ["A", "KIAA1804", "C"])
    tab = emap_table(e)
    assert list(tab.index) == ["A", "MAP3K21", "C"]
    ref = e.to_numpy().copy()
    np.fill_diagonal(ref, 0)
    np.testing.assert_allclose(tab.to_numpy(), ref.astype(np.float32))
    keep = emap_table(e, diagonal="keep", aliases={})
    assert list(keep.index) == ["A", "KIAA1804", "C"]
    np.testing.assert_allclose(keep.to_numpy(), e.to_numpy().astype(np.float32))


def test_emap_table_bad_input():
    with pytest.raises(ValueError, match="square"):
        emap_table(pd.DataFrame(np.zeros((2, 3))))
    e = _emap(np.random.default_rng(1), ["A", "B"])
    with pytest.raises(ValueError, match="diagonal"):
        emap_table(e, diagonal="drop")
    e.iloc[0, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        emap_table(e)


def test_string_table_matches_dense_rwr():
    edges = pd.DataFrame(
        {
            "gene_a": ["A", "A", "B", "C", "D"],
            "gene_b": ["B", "C", "C", "D", "E"],
            "combined_score": [900, 400, 700, 800, 500],
        }
    )
    tab = string_table(edges, ["C", "A", "ZZZ"], restart=0.3, n_iter=500, tol=1e-14)
    assert list(tab.index) == ["C", "A"]  # absent gene left out
    nodes = ["A", "B", "C", "D", "E"]  # columns: nodes in order of first appearance
    n = len(nodes)
    A = np.zeros((n, n))
    for a, b, s in edges.itertuples(index=False):
        i, j = nodes.index(a), nodes.index(b)
        A[i, j] = A[j, i] = s / 1000
    W = A / A.sum(axis=0, keepdims=True)
    for g in ["C", "A"]:
        e = np.zeros(n)
        e[nodes.index(g)] = 1
        p = np.linalg.solve(np.eye(n) - 0.7 * W, 0.3 * e)  # closed-form RWR
        p[nodes.index(g)] = 0
        np.testing.assert_allclose(tab.loc[g].to_numpy(), p, rtol=1e-4, atol=1e-6)
    with pytest.raises(KeyError, match="combined_score"):
        string_table(edges.drop(columns="combined_score"), ["A"])
    with pytest.raises(ValueError, match="restart"):
        string_table(edges, ["A"], restart=0)


def _planted(rng, n_pert=12, n_genes=40, noise=0.0):
    genes = [f"G{i}" for i in range(n_pert)]
    emb = rng.normal(size=(n_pert, 6))
    W = rng.normal(size=(6, n_genes))
    table = pd.DataFrame(emb.astype(np.float32), index=genes)
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    delta = unit @ W + noise * rng.normal(size=(n_pert, n_genes))
    return genes, table, delta


def test_shrink_matches_naive_inner_loo_and_limits():
    rng = np.random.default_rng(2)
    genes, table, delta = _planted(rng, noise=0.5)
    perts = [(g,) for g in genes]
    lambdas = (0.0, 0.5, 1.0)
    model = Shrink(embedding=table, lambdas=lambdas).fit(perts, delta)
    # naive reference: inner leave-one-out with the base ridge, mean Pearson per lambda
    ref = np.zeros(len(lambdas))
    for i in range(len(perts)):
        tr = [j for j in range(len(perts)) if j != i]
        base = PREDICTORS["ridge"](embedding=table).fit([perts[j] for j in tr], delta[tr])
        mu = delta[tr].mean(axis=0)
        r = base.predict([perts[i]])[0] - mu
        ref += [np.corrcoef(mu + lam * r, delta[i])[0, 1] for lam in lambdas]
    ref /= len(perts)
    np.testing.assert_allclose(model.cv_scores_, ref, rtol=1e-10)
    assert model.lambda_ == lambdas[int(np.argmax(ref))]
    # prediction is mean + lambda * (ridge - mean)
    full = PREDICTORS["ridge"](embedding=table).fit(perts, delta)
    new = [("G0",), ("G3",)]
    expect = delta.mean(0) + model.lambda_ * (full.predict(new) - delta.mean(0))
    np.testing.assert_allclose(model.predict(new), expect)
    # lambda = 0 only -> train_mean exactly
    zero = Shrink(embedding=table, lambdas=(0.0,)).fit(perts, delta)
    np.testing.assert_allclose(zero.predict(new), np.tile(delta.mean(0), (2, 1)))


def test_shrink_keeps_signal_when_planted_and_bad_base():
    rng = np.random.default_rng(3)
    genes, table, delta = _planted(rng, n_pert=20, noise=0.0)
    model = Shrink(embedding=table).fit([(g,) for g in genes], delta)
    assert model.lambda_ >= 0.8
    with pytest.raises(ValueError, match="shrink base"):
        Shrink(embedding=table, base="nope")
