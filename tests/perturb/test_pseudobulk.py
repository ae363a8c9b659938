from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse, stats

from biobft.perturb._synthetic import synthetic_perturbation_data
from biobft.perturb.expression import normalize_log1p
from biobft.perturb.pseudobulk import (
    group_means,
    indicator_matrix,
    pseudobulk,
    top_k_abs,
    welch_t_scores,
)


def test_group_means_matches_pandas_groupby():
    rng = np.random.default_rng(0)
    X = sparse.random(200, 30, density=0.2, random_state=1, format="csr")
    codes = rng.integers(-1, 7, size=200)  # -1 = no group
    means, sq = group_means(X, codes, 7, squares=True)
    dense = pd.DataFrame(X.toarray())
    ref = dense[codes >= 0].groupby(codes[codes >= 0]).mean().sort_index()
    np.testing.assert_allclose(means, ref.to_numpy(), atol=1e-12)
    ref_sq = (dense**2)[codes >= 0].groupby(codes[codes >= 0]).mean().sort_index()
    np.testing.assert_allclose(sq, ref_sq.to_numpy(), atol=1e-12)
    dense_means, _ = group_means(X.toarray(), codes, 7)
    np.testing.assert_allclose(dense_means, means)
    assert indicator_matrix(codes, 7, mean=False).sum() == (codes >= 0).sum()


def test_welch_t_matches_scipy():
    rng = np.random.default_rng(2)
    a, b = rng.normal(1, 2, size=(15, 8)), rng.normal(0, 1, size=(25, 8))
    t = welch_t_scores(a.mean(0), (a**2).mean(0), 15, b.mean(0), (b**2).mean(0), 25)
    ref = stats.ttest_ind(a, b, equal_var=False).statistic
    np.testing.assert_allclose(t, ref, rtol=1e-8)
    assert list(top_k_abs(np.array([[1.0, -5.0, 3.0]]), 2)[0]) == [1, 2]


@pytest.fixture(scope="module")
def toy():
    return synthetic_perturbation_data(n_cell_types=2, seed=3)


def test_pseudobulk_means_controls_delta(toy):
    adata, _, _ = toy
    pb = pseudobulk(adata, control="control", cell_type_key="cell_type")
    X = normalize_log1p(adata.X).toarray()
    obs = adata.obs
    rid = "type1::P0"
    mask = ((obs["cell_type"] == "type1") & (obs["condition"] == "P0")).to_numpy()
    ctl = ((obs["cell_type"] == "type1") & (obs["condition"] == "control")).to_numpy()
    np.testing.assert_allclose(pb.profiles([rid])[0], X[mask].mean(0), atol=1e-10)
    np.testing.assert_allclose(pb.delta([rid])[0], X[mask].mean(0) - X[ctl].mean(0), atol=1e-10)
    assert pb.obs.at[rid, "n_cells"] == mask.sum()
    assert "counts -> normalize_total" in pb.normalization
    assert set(pb.de) == set(pb.perturbations()) and len(pb.de[rid]) == 20
    sub = pb.subset_cell_type("type0")
    assert set(sub.obs["cell_type"]) == {"type0"} and "P0" not in sub.ids


def test_fast_de_matches_scanpy_rank_genes_groups(toy):
    adata, _, _ = toy
    fast = pseudobulk(adata, control="control", cell_type_key="cell_type", n_top_de=10)
    ref = pseudobulk(
        adata, control="control", cell_type_key="cell_type", n_top_de=10, de_method="scanpy"
    )
    agree = [len(set(fast.de[k]) & set(ref.de[k])) / 10 for k in fast.de]
    assert np.mean(agree) > 0.95, agree


def test_pseudobulk_errors():
    adata = ad.AnnData(
        np.ones((6, 3)),
        obs=pd.DataFrame(
            {"c": ["ctrl", "ctrl", "A", "A", "A", "B"], "t": list("xxxxyy")}, index=list("abcdef")
        ),
    )
    with pytest.raises(ValueError, match=r"no control cells \('ctrl'\) in cell type\(s\) \['y'\]"):
        pseudobulk(adata, condition_key="c", control="ctrl", cell_type_key="t")
    with pytest.raises(KeyError, match="pass cell_type_key"):
        pseudobulk(adata, condition_key="c", control="ctrl", cell_type_key="celltype")
    with pytest.warns(UserWarning, match=r"dropped 1 condition group\(s\).*'B': 1"):
        pb = pseudobulk(adata, condition_key="c", control="ctrl", min_cells=2, n_top_de=0)
    assert pb.ids == ["A", "ctrl"]
