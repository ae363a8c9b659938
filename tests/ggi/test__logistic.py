from __future__ import annotations

import numpy as np
import pytest

from biobft.ggi._logistic import fit_logistic_gathered, gathered_logistic_applies
from biobft.ggi.model import make_classifier


@pytest.mark.parametrize("names", [["sum"], ["sum", "hadamard"], ["abs_diff", "concat", "sum"]])
def test_gathered_logistic_fit_matches_sklearn_on_built_features(names):
    """Linear kernels' columns go through the gene table: same fit as sklearn on the full X."""
    from biobft.ggi.features import pair_features

    rng = np.random.default_rng(1)
    n_genes, d, n = 200, 6, 4000
    values = (rng.standard_normal((n_genes, d)) * rng.uniform(0.2, 3, d) + 1).astype(np.float32)
    ia, ib = rng.integers(0, n_genes, n), rng.integers(0, n_genes, n)
    X = pair_features(values[ia], values[ib], names)
    score = X @ rng.standard_normal(X.shape[1]) / np.sqrt(X.shape[1])
    y = (score - score.mean() + rng.standard_normal(n) > 0).astype(np.int64)
    for params in ({"C": 1e-4}, {"C": 0.05, "tol": 1e-6}):
        ref = make_classifier("logistic", seed=0, **params).fit(X.copy(), y)
        ours = make_classifier("logistic", seed=0, **params)
        assert gathered_logistic_applies(ours, names, y)
        fit_logistic_gathered(ours, values, ia, ib, names, y, block=777)
        np.testing.assert_allclose(ours[0].mean_, ref[0].mean_, rtol=1e-10)
        np.testing.assert_allclose(ours[0].scale_, ref[0].scale_, rtol=1e-10)
        np.testing.assert_allclose(ours[-1].coef_, ref[-1].coef_, rtol=1e-3, atol=1e-4)
        np.testing.assert_allclose(ours[-1].intercept_, ref[-1].intercept_, atol=1e-4)
        np.testing.assert_allclose(
            ours.predict_proba(X.copy()), ref.predict_proba(X.copy()), atol=1e-3
        )  # both stop at float32-level precision, at slightly different points


def test_gathered_logistic_only_for_plain_lbfgs_logistic_with_a_linear_kernel():
    y = np.array([0, 1, 0, 1])
    assert gathered_logistic_applies(make_classifier("logistic"), ["sum"], y)
    assert not gathered_logistic_applies(make_classifier("logistic"), ["hadamard"], y)
    for params in ({"class_weight": "balanced"}, {"solver": "liblinear"}, {"C": np.inf}):
        assert not gathered_logistic_applies(make_classifier("logistic", **params), ["sum"], y)
    assert not gathered_logistic_applies(make_classifier("mlp"), ["sum"], y)
    assert not gathered_logistic_applies(make_classifier("logistic"), ["sum"], np.zeros(4))
