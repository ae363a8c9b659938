from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from biobft.embed.table import make_table
from biobft.tl._embedding import cell_embedding, gene_embedding


@pytest.fixture
def table():
    rng = np.random.default_rng(0)
    return make_table(rng.normal(size=(4, 6)), ["A", "B", "C", "D"], model="toy", source="toy")


@pytest.fixture
def adata():
    rng = np.random.default_rng(1)
    x = rng.poisson(1.0, size=(8, 5)).astype(np.float32)
    x[3] = 0.0  # a cell expressing nothing
    x[4] = [0, 0, 0, 0, 5]  # a cell expressing only the gene without a vector
    return ad.AnnData(X=x, var=pd.DataFrame(index=["B", "A", "Z", "D", "Q"]))


def _naive_genept_w(x, vecs, present):
    out = np.zeros((x.shape[0], vecs.shape[1]))
    for i, row in enumerate(x):
        acc, w = np.zeros(vecs.shape[1]), 0.0
        for j, val in enumerate(row):
            if present[j]:
                acc += val * vecs[j]
                w += val
        if w > 0:
            acc /= w
            out[i] = acc / np.linalg.norm(acc)
    return out


def test_gene_embedding_writes_varm_and_records_missing(adata, table, tmp_path):
    assert gene_embedding(adata, table=table) is None
    varm = adata.varm["X_biobft"]
    np.testing.assert_array_equal(varm[0], table.loc["B"].to_numpy())
    np.testing.assert_array_equal(varm[3], table.loc["D"].to_numpy())
    np.testing.assert_array_equal(varm[[2, 4]], 0.0)
    assert list(adata.uns["X_biobft"]["missing"]) == ["Z", "Q"]
    params = adata.uns["X_biobft"]["params"]
    assert params["missing"] == "zero" and params["n_present"] == 3 and params["model"] == "toy"
    assert adata.var["X_biobft_present"].tolist() == [True, True, False, True, False]
    adata.write_h5ad(tmp_path / "a.h5ad")  # everything written is h5ad-serialisable
    back = ad.read_h5ad(tmp_path / "a.h5ad")
    assert list(back.uns["X_biobft"]["missing"]) == ["Z", "Q"]


def test_gene_embedding_policies_and_copy(adata, table):
    out = gene_embedding(adata, table=table, missing="nan", key_added="emb", copy=True)
    assert "emb" not in adata.varm and np.isnan(out.varm["emb"][2]).all()
    with pytest.raises(KeyError, match=r"2 of 5 genes have no embedding.*missing='zero'"):
        gene_embedding(adata, table=table, missing="error")
    with pytest.raises(ValueError, match=r"unknown missing policy 'drop'"):
        gene_embedding(adata, table=table, missing="drop")
    other = ad.AnnData(X=np.ones((2, 2)), var=pd.DataFrame(index=["ENSG1", "ENSG2"]))
    with pytest.raises(ValueError, match=r"none of the 2 adata.var_names .* Ensembl"):
        gene_embedding(other, table=table)
    assert "X_biobft" not in adata.varm  # nothing written on error


@pytest.mark.parametrize("sparse", [False, True])
def test_cell_embedding_matches_naive_loop(adata, table, sparse):
    gene_embedding(adata, table=table, missing="nan")
    expected = _naive_genept_w(adata.X, np.nan_to_num(adata.varm["X_biobft"]), [1, 1, 0, 1, 0])
    if sparse:
        adata.layers["counts"] = sp.csr_matrix(adata.X)
    cell_embedding(adata, layer="counts" if sparse else None)
    got = adata.obsm["X_genept_w"]
    assert got.dtype == np.float32 and got.shape == (8, 6)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    np.testing.assert_array_equal(got[[3, 4]], 0.0)
    norms = np.linalg.norm(np.delete(got, [3, 4], axis=0), axis=1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-6)
    params = adata.uns["X_genept_w"]["params"]
    assert params["n_genes_used"] == 3 and params["n_cells_empty"] == 2


def test_cell_embedding_errors(adata, table):
    with pytest.raises(KeyError, match=r"run biobft.tl.gene_embedding"):
        cell_embedding(adata)
    gene_embedding(adata, table=table)
    with pytest.raises(KeyError, match=r"adata.layers has no 'raw'"):
        cell_embedding(adata, layer="raw")
    adata.layers["scaled"] = adata.X - 1
    with pytest.raises(ValueError, match=r"must be non-negative"):
        cell_embedding(adata, layer="scaled")
    out = cell_embedding(adata, copy=True)
    assert "X_genept_w" in out.obsm and "X_genept_w" not in adata.obsm


def test_gene_embedding_computes_table_from_texts(tiny_lm, tmp_path, monkeypatch):
    monkeypatch.setenv("BIOBFT_CACHE_DIR", str(tmp_path))
    texts = pd.Series({"A": "tumor suppressor protein", "B": "binds DNA"}, name="toy")
    data = ad.AnnData(X=np.ones((2, 3), dtype=np.float32), var=pd.DataFrame(index=["A", "B", "C"]))
    gene_embedding(data, model=tiny_lm, source=texts, precision="fp32")
    assert data.varm["X_biobft"].shape == (3, 32)
    assert list(data.uns["X_biobft"]["missing"]) == ["C"]
    with pytest.raises(ValueError, match=r"no gene of adata.var_names"):
        gene_embedding(data[:, ["C"]].copy(), model=tiny_lm, source=texts)
