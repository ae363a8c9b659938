from __future__ import annotations

import anndata as ad
import numpy as np
import pytest
import scanpy as sc
from scipy import sparse

from biobft.perturb.expression import expression_matrix, is_count_matrix, normalize_log1p


@pytest.mark.filterwarnings("ignore:Some cells have zero counts")
def test_normalize_log1p_matches_scanpy():
    rng = np.random.default_rng(0)
    counts = rng.poisson(2.0, size=(30, 20)).astype(np.float32)
    counts[3] = 0  # an empty cell stays zero
    ref = ad.AnnData(counts.copy())
    sc.pp.normalize_total(ref, target_sum=1e4)
    sc.pp.log1p(ref)
    np.testing.assert_allclose(normalize_log1p(counts), ref.X, rtol=1e-5)
    np.testing.assert_allclose(
        normalize_log1p(sparse.csr_matrix(counts)).toarray(), ref.X, rtol=1e-5
    )


def test_expression_matrix_detects_counts_and_logs():
    rng = np.random.default_rng(1)
    counts = sparse.csr_matrix(rng.poisson(3.0, size=(10, 5)).astype(np.float32))
    adata = ad.AnnData(counts)
    X, used = expression_matrix(adata)
    assert "counts -> normalize_total" in used
    np.testing.assert_allclose(X.toarray(), normalize_log1p(counts).toarray())
    adata.layers["log"] = normalize_log1p(counts)
    X2, used2 = expression_matrix(adata, layer="log")
    assert "used as is" in used2 and not is_count_matrix(adata.layers["log"])
    np.testing.assert_allclose(X2.toarray(), X.toarray())
    with pytest.raises(KeyError, match="no 'nope'"):
        expression_matrix(adata, layer="nope")


def test_expression_matrix_bad_values():
    X = np.ones((4, 3))
    X[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN/inf"):
        expression_matrix(ad.AnnData(X))
    X = np.ones((4, 3))
    X[0, 0] = -1.0
    with pytest.raises(ValueError, match="negative values, so it is not raw counts"):
        expression_matrix(ad.AnnData(X), normalize=True)


@pytest.mark.realdata
def test_normalised_but_not_logged_data_is_refused_not_used_as_log(data_mirror):
    """Real Norman 2019 (PerturBench stores it log1p-normalised): undone with expm1 it is the
    linear-scale output of normalize_total, which normalize='auto' took as log-normalised. Now
    one error says what it looks like and the fixes, each of which works; through the public
    tl door too."""
    from biobft import datasets, tl
    from biobft.perturb.expression import LOG_SCALE_MAX

    adata = datasets.perturbench_devel(dataset="norman19")
    adata = adata[adata.obs["condition"].isin(["control", "KLF1", "BAK1", "CEBPE"])].copy()
    assert "log1p" in adata.uns and adata.X.max() < LOG_SCALE_MAX
    linear = adata.copy()
    linear.X = np.expm1(adata.X)
    del linear.uns["log1p"]
    assert not is_count_matrix(linear.X) and linear.X.max() > LOG_SCALE_MAX
    with pytest.raises(ValueError, match=r"normalised but not log-transformed.*sc\.pp\.log1p"):
        expression_matrix(linear)
    with pytest.raises(ValueError, match="not log-scale either"):
        tl.rank_genes(linear, condition_key="condition", control="control")
    _, used = expression_matrix(linear, normalize=False)  # the user's explicit choice
    assert "used as is" in used
    sc.pp.log1p(linear)  # the fix the message names
    X, used = expression_matrix(linear)
    assert "used as is" in used
    dense = lambda m: m.toarray() if sparse.issparse(m) else np.asarray(m)  # noqa: E731
    np.testing.assert_allclose(dense(X), dense(adata.X), rtol=1e-6, atol=1e-9)


def test_counts_with_a_few_non_integers_are_not_sent_to_log1p():
    """Trial 7: 5 non-integer values among 50k counts got the 'run sc.pp.log1p' advice, which
    yields un-normalised log counts. Now the message says what it sees and offers
    normalize=True, which gives scanpy's normalize_total + log1p of the data."""
    rng = np.random.default_rng(3)
    counts = rng.poisson(5.0, size=(400, 120)).astype(np.float64)
    counts[0, :3] = 60.0
    counts[1, :5] += 0.5  # 5 non-integer values
    adata = ad.AnnData(counts)
    with pytest.raises(ValueError, match=r"5 of its 48000 stored values are not integers.*True"):
        expression_matrix(adata)
    X, used = expression_matrix(adata, normalize=True)
    assert "counts -> normalize_total" in used
    ref = ad.AnnData(counts.copy())
    sc.pp.normalize_total(ref, target_sum=1e4)
    sc.pp.log1p(ref)
    np.testing.assert_allclose(X, ref.X, rtol=1e-6)
