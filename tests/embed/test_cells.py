from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from biobft.embed.cells import genept_w


def test_genept_w_matches_naive_loop_dense_and_sparse():
    rng = np.random.default_rng(0)
    expr = rng.poisson(0.7, size=(20, 9)).astype(float)
    expr[0] = 0.0
    vecs = rng.normal(size=(9, 4))
    vecs[2] = np.nan  # absent genes may hold anything
    present = np.ones(9, dtype=bool)
    present[[2, 5]] = False
    expected = np.zeros((20, 4))
    for i in range(20):
        num = sum(expr[i, j] * vecs[j] for j in range(9) if present[j])
        den = sum(expr[i, j] for j in range(9) if present[j])
        if den > 0 and np.linalg.norm(num) > 0:
            expected[i] = (num / den) / np.linalg.norm(num / den)
    dense = genept_w(expr, vecs, present)
    sparse = genept_w(sp.csr_matrix(expr), vecs, present)
    assert dense.dtype == np.float32
    np.testing.assert_allclose(dense, expected, atol=1e-6)
    np.testing.assert_allclose(sparse, dense, atol=1e-6)
    np.testing.assert_array_equal(dense[0], 0.0)
