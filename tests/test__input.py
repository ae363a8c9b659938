"""The AnnData door (biobft/_input.py) and a property-based test of the whole input contract."""

from __future__ import annotations

import warnings

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import sparse

from biobft._input import check_adata, matrix, obs_index, obs_labels, var_index
from biobft.perturb.pseudobulk import pseudobulk


def _adata(X=None, labels=None):
    labels = labels if labels is not None else ["ctrl"] * 3 + ["A"] * 3
    X = np.arange(len(labels) * 4, dtype=np.float64).reshape(len(labels), 4) if X is None else X
    obs = pd.DataFrame({"c": labels}, index=[f"c{i}" for i in range(len(labels))])
    return ad.AnnData(X, obs=obs, var=pd.DataFrame(index=["A", "B", "C", "D"]))


def test_check_adata_type_errors():
    with pytest.raises(TypeError, match=r"must be an anndata\.AnnData, got DataFrame; wrap"):
        check_adata(pd.DataFrame(np.ones((2, 2))))
    with pytest.raises(TypeError, match="got ndarray; wrap the matrix"):
        check_adata(np.ones((2, 2)))


@pytest.mark.parametrize("bad", [np.nan, None, "", "  "])
def test_obs_labels_refuses_missing(bad):
    a = _adata(labels=["ctrl", "ctrl", bad, "A", "A", bad])
    with pytest.raises(ValueError, match=r"2 of 6 cells have no label.*\['c2', 'c5'\].*notna"):
        obs_labels(a, "c")


def test_obs_labels_categorical_keeps_unused_and_missing_column():
    a = _adata()
    a.obs["c"] = pd.Categorical(a.obs["c"], categories=["A", "ctrl", "unused"])
    lab = obs_labels(a, "c")
    assert list(lab) == ["ctrl"] * 3 + ["A"] * 3
    assert set(lab.categories) == {"A", "ctrl", "unused"}
    with pytest.raises(KeyError, match=r"no column 'x'.*columns: \['c'\]"):
        obs_labels(a, "x")
    a.obs["n"] = [1, 1, 2, 2, 3, 3]  # numeric labels become their str form
    assert list(obs_labels(a, "n")) == ["1", "1", "2", "2", "3", "3"]


def test_duplicated_names():
    a = _adata()
    a.var_names = ["DUP", "B", "C", "DUP"]
    with pytest.raises(ValueError, match=r"var_names has 1 duplicated.*var_names_make_unique\(\)"):
        var_index(a)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # anndata's own non-unique warning
        b = _adata()
        b.obs_names = ["x"] * 6
    with pytest.raises(ValueError, match=r"obs_names_make_unique\(\)"):
        obs_index(b)


@pytest.mark.parametrize(
    "convert",
    [
        np.asarray,
        np.asmatrix,
        sparse.csr_matrix,
        sparse.csc_matrix,
        sparse.csr_array,  # (COO: anndata itself refuses it at construction)
        lambda x: x.astype(np.int32),
        lambda x: x.astype(np.float16),
        lambda x: x.astype(np.float32),
    ],
)
def test_matrix_variants_equal_dense(convert):
    dense = np.arange(24, dtype=np.float64).reshape(6, 4)
    X = matrix(_adata(convert(dense)))
    assert isinstance(X, np.ndarray | sparse.csr_matrix)
    assert X.dtype.kind == "f"
    got = X.toarray() if sparse.issparse(X) else X
    np.testing.assert_array_equal(got, dense)


def test_matrix_view_and_layer():
    a = _adata()
    v = a[[0, 2, 4]]
    np.testing.assert_array_equal(matrix(v), a.X[[0, 2, 4]])
    a.layers["counts"] = a.X * 2
    np.testing.assert_array_equal(matrix(a, layer="counts"), a.X * 2)
    with pytest.raises(KeyError, match=r"no 'raw'.*layers: \['counts'\]"):
        matrix(a, layer="raw")


@pytest.mark.parametrize("dtype", [bool, complex, object])
def test_matrix_refuses_non_numeric(dtype):
    with pytest.raises(TypeError, match=r"expected int or float.*astype\(np\.float32\)"):
        matrix(_adata(np.ones((6, 4)).astype(dtype)))


def test_matrix_refuses_nan_inf_and_backed(tmp_path):
    X = np.ones((6, 4))
    X[1, 2], X[3, 0] = np.nan, np.inf
    with pytest.raises(ValueError, match=r"adata\.X contains 2 NaN/inf"):
        matrix(_adata(X))
    path = tmp_path / "a.h5ad"
    _adata(sparse.csr_matrix(np.ones((6, 4)))).write_h5ad(path)
    backed = ad.read_h5ad(path, backed="r")
    try:
        with pytest.raises(ValueError, match=r"backed.*adata = adata\.to_memory\(\)"):
            matrix(backed)
        np.testing.assert_array_equal(matrix(backed.to_memory()).toarray(), np.ones((6, 4)))
    finally:
        backed.file.close()


# ---------------------------------------------------------------- property-based contract
CONDITIONS = ["ctrl", "G0", "G1", "G0+G1"]
GENES = ["G0", "G1", "G2", "G3", "G4"]
FIXES = (
    "make_unique()",
    "to_memory()",
    "notna()",
    "astype(np.float32)",
    "X[~np.isfinite(X)] = 0",
)


def _reference(counts: np.ndarray, labels: list[str]):
    """The in-memory dense run on a clean AnnData (float64 dense, object labels)."""
    clean = ad.AnnData(
        counts.astype(np.float64),
        obs=pd.DataFrame({"condition": labels}, index=[f"c{i}" for i in range(len(labels))]),
        var=pd.DataFrame(index=GENES),
    )
    return pseudobulk(clean, control="ctrl", n_top_de=3)


@st.composite
def variants(draw):
    sizes = [draw(st.integers(2, 4)) for _ in CONDITIONS]
    labels = [c for c, n in zip(CONDITIONS, sizes) for _ in range(n)]
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    counts = rng.poisson(3.0, size=(len(labels), len(GENES))).astype(np.float64)
    counts[:, 0] += 1  # no all-zero cell
    return {
        "counts": counts,
        "labels": labels,
        "storage": draw(st.sampled_from(["dense", "matrix", "csr", "csc", "backed"])),
        "dtype": draw(st.sampled_from(["int64", "int32", "float16", "float32", "float64", "bool"])),
        "column": draw(st.sampled_from(["object", "category", "string"])),
        "view": draw(st.booleans()),
        "defect": draw(
            st.sampled_from(["none", "none", "none", "nan_label", "dup_var", "dup_obs", "nan_x"])
        ),
    }


def _build(v, tmp_path):
    counts = v["counts"].astype(np.float64)
    labels = list(v["labels"])
    extra = 2 if v["view"] else 0  # a view drops two extra control cells again
    counts = np.vstack([counts, np.ones((extra, counts.shape[1]))])
    labels = labels + ["ctrl"] * extra
    col: list = list(labels)
    if v["defect"] == "nan_label":
        col[1] = None
    if v["defect"] == "nan_x":
        counts[1, 1] = np.nan
    if v["dtype"] == "float16" and v["storage"] not in ("dense", "matrix"):
        v = {**v, "dtype": "float32"}  # scipy.sparse has no float16
    if v["dtype"] != "bool" and v["dtype"].startswith("int") and v["defect"] == "nan_x":
        v = {**v, "dtype": "float32"}
    X = counts.astype(v["dtype"]) if v["defect"] != "nan_x" or v["dtype"] != "bool" else counts
    X = {
        "dense": lambda x: x,
        "matrix": np.asmatrix,
        "csr": sparse.csr_matrix,
        "csc": sparse.csc_matrix,
        "backed": sparse.csr_matrix,
    }[v["storage"]](X)
    obs_names = [f"c{i}" for i in range(len(labels))]
    if v["defect"] == "dup_obs":
        obs_names[1] = obs_names[0]
    column = pd.Series(col, index=obs_names, dtype=object)
    if v["column"] == "category":
        column = column.astype("category")
    elif v["column"] == "string":
        column = column.astype("string")
    var_names = list(GENES)
    if v["defect"] == "dup_var":
        var_names[3] = var_names[2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # anndata warns on non-unique names / implicit types
        a = ad.AnnData(X, obs=pd.DataFrame({"condition": column}, index=obs_names))
        a.var_names = var_names
        if v["storage"] == "backed":
            path = tmp_path / f"a{np.random.default_rng().integers(1 << 30)}.h5ad"
            a.write_h5ad(path)
            a = ad.read_h5ad(path, backed="r")
        if v["view"]:
            a = a[: len(labels) - extra]
    return a


def _snapshot(a):
    X = None if a.isbacked else a.X
    if X is not None:
        X = X.toarray() if sparse.issparse(X) else np.array(X)
    return X, a.obs.copy(), list(a.var_names), list(a.obs_names)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(v=variants())
def test_property_every_variant_equals_dense_or_names_the_fix(v, tmp_path):
    a = _build(v, tmp_path)
    before = _snapshot(a)
    try:
        try:
            pb = pseudobulk(a, control="ctrl", n_top_de=3)
        except (ValueError, KeyError, TypeError) as err:
            msg = str(err)
            assert any(fix in msg for fix in FIXES), msg
            expected = v["defect"] != "none" or v["storage"] == "backed" or v["dtype"] == "bool"
            assert expected, f"clean input refused: {msg}"
        else:
            assert v["defect"] == "none" and v["storage"] != "backed" and v["dtype"] != "bool"
            ref = _reference(v["counts"], v["labels"])
            assert pb.ids == ref.ids
            np.testing.assert_allclose(pb.X, ref.X, rtol=1e-5, atol=1e-6)
            assert list(pb.obs["n_cells"]) == list(ref.obs["n_cells"])
            for k in ref.de:
                np.testing.assert_array_equal(np.sort(pb.de[k]), np.sort(ref.de[k]))
        after = _snapshot(a)
        if before[0] is not None:
            np.testing.assert_array_equal(after[0], before[0])
        pd.testing.assert_frame_equal(after[1], before[1])
        assert after[2:] == before[2:]
    finally:
        if a.isbacked:
            a.file.close()


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(v=variants())
def test_property_tl_evaluate_equals_dense_or_names_the_fix(v, tmp_path):
    """The same contract through the public tl entry point (a short LOO evaluation)."""
    from biobft.tl import evaluate_perturbation

    a = _build(v, tmp_path)
    before = _snapshot(a)
    kw = dict(control="ctrl", predictors=["no_change", "train_mean"], n_top_de=3)
    try:
        try:
            df = evaluate_perturbation(a, **kw)
        except (ValueError, KeyError, TypeError) as err:
            assert any(fix in str(err) for fix in FIXES), str(err)
            assert v["defect"] != "none" or v["storage"] == "backed" or v["dtype"] == "bool"
        else:
            names = [f"c{i}" for i in range(len(v["labels"]))]
            clean = ad.AnnData(
                v["counts"],
                obs=pd.DataFrame({"condition": v["labels"]}, index=names),
                var=pd.DataFrame(index=GENES),
            )
            ref = evaluate_perturbation(clean, **kw)
            pd.testing.assert_frame_equal(df, ref, check_exact=False, rtol=1e-5)
        after = _snapshot(a)
        if before[0] is not None:
            np.testing.assert_array_equal(after[0], before[0])
        pd.testing.assert_frame_equal(after[1], before[1])
    finally:
        if a.isbacked:
            a.file.close()
