"""Issue 12's cases: each silent wrong answer is now a clear error or a reported choice.

Expected values come from numpy / scanpy on the same data, never from biobft itself.
"""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from biobft.embed.table import make_table
from biobft.tl import cell_embedding, gene_embedding
from biobft.tl._perturbation import evaluate_perturbation, predict_perturbation
from biobft.tl._rank_genes import rank_genes

GENES = ["G1", "G2", "G3", "G4", "G5", "G20", "G21"]


def _data(labels, *, seed=0, genes=GENES):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(len(labels), len(genes))) + 2.0
    lab = np.asarray(labels, dtype=object)
    for k, g in enumerate(genes):  # gene g raises its own column in cells perturbed by g
        hit = np.array([isinstance(x, str) and g in x.split("+") for x in lab])
        X[hit, k] += 3.0
    obs = pd.DataFrame({"condition": labels}, index=[f"cell{i}" for i in range(len(labels))])
    return ad.AnnData(X, obs=obs, var=pd.DataFrame(index=genes))


def _labels(groups: dict[str, int]) -> list:
    return [c for c, n in groups.items() for _ in range(n)]


def test_case1_missing_labels_are_refused_not_a_gene_called_nan():
    labels = _labels({"control": 20, "G1": 20, "G2": 20, "G3": 20})
    for i in range(0, 80, 10):
        labels[i] = np.nan
    adata = _data(labels)
    for fn in (evaluate_perturbation, rank_genes):
        with pytest.raises(ValueError, match=r"8 of 80 cells have no label.*'cell0', 'cell10'"):
            fn(adata, control="control")


def test_case2_duplicated_var_names_are_refused_everywhere():
    adata = _data(_labels({"control": 10, "G1": 10, "G2": 10}))
    adata.var_names = ["DUP", "G1", "G2", "G3", "G4", "G5", "DUP"]
    match = r"var_names has 1 duplicated.*var_names_make_unique\(\)"
    with pytest.raises(ValueError, match=match):
        evaluate_perturbation(adata, control="control", de_method="scanpy")
    with pytest.raises(ValueError, match=match):
        predict_perturbation(adata, control="control", perturbations=["G1"], predictor="additive")
    with pytest.raises(ValueError, match=match):
        rank_genes(adata, control="control")
    table = make_table(np.eye(7), [f"x{i}" for i in range(6)] + ["DUP"], model="t", source="t")
    with pytest.raises(ValueError, match=match):
        gene_embedding(adata, table=table)


def test_case2_fixed_names_give_scanpy_de():
    """After var_names_make_unique the fast t-test DE equals scanpy's rank_genes_groups."""
    import scanpy as sc

    adata = _data(_labels({"control": 15, "G1": 15, "G2": 15}), seed=3)
    adata.var_names = ["DUP", "G1", "G2", "G3", "G4", "G5", "DUP"]
    adata.var_names_make_unique()
    df = evaluate_perturbation(adata, control="control", predictors=["no_change"], n_top_de=2)
    ref = adata.copy()
    sc.tl.rank_genes_groups(ref, "condition", reference="control", method="t-test",
                            rankby_abs=True, n_genes=2)  # fmt: skip
    expect = {g: set(ref.uns["rank_genes_groups"]["names"][g]) for g in ("G1", "G2")}
    obs = ref.X
    ctrl = obs[ref.obs["condition"].to_numpy() == "control"].mean(0)
    for cond in ("G1", "G2"):
        cols = [list(ref.var_names).index(g) for g in expect[cond]]
        mean = obs[ref.obs["condition"].to_numpy() == cond].mean(0)
        row = df[df["condition"] == cond].iloc[0]
        assert row["mse_de"] == pytest.approx(float(np.mean((ctrl[cols] - mean[cols]) ** 2)))


def test_case3_joined_double_is_named_with_sep_hint():
    adata = _data(_labels({"control": 6, "G1": 6, "G2": 6, "G3": 6, "G1_G2": 6}))
    with pytest.raises(ValueError, match=r"\['G1_G2'\].*joined by \['_'\].*pass sep="):
        evaluate_perturbation(adata, control="control", predictors=["no_change", "additive"])
    table = make_table(np.eye(7), GENES, model="t", source="t")
    with pytest.raises(ValueError, match=r"absent from both the embedding table.*sep="):
        evaluate_perturbation(adata, control="control", embedding=table)
    # with the right separator the double is a double
    df = evaluate_perturbation(adata, control="control", sep="_", predictors=["no_change"])
    assert "double_seen2" in set(df["group"])


def test_case4_additive_fallback_is_reported_and_follows_missing():
    adata = _data(_labels({"control": 10, "G1": 10, "G2": 10, "G3": 10}), seed=1)
    kw = dict(control="control", predictor="additive", perturbations=["G1", "G20", "G20+G21"])
    with pytest.raises(KeyError, match=r"additive has no learnt response.*\['G20', 'G20\+G21'\]"):
        predict_perturbation(adata, **kw)
    out = predict_perturbation(adata, missing="mean", **kw)
    X = adata.X
    lab = adata.obs["condition"].to_numpy()
    ctrl = X[lab == "control"].mean(0)
    singles = np.array([X[lab == g].mean(0) - ctrl for g in ("G1", "G2", "G3")])
    np.testing.assert_allclose(out.X[0], ctrl + singles[0], rtol=1e-5)
    np.testing.assert_allclose(out.X[1], ctrl + singles.mean(0), rtol=1e-5)
    np.testing.assert_allclose(out.X[2], ctrl + 2 * singles.mean(0), rtol=1e-5)
    assert list(out.obs["fallback"] != "") == [False, True, True]
    assert "G20+G21" in out.obs["fallback"].iloc[2]
    assert list(out.obs["n_cells"]) == [10, 0, 0]
    assert set(out.obs["n_cells_control"]) == {10}


def test_case5_control_only_rank_genes():
    adata = _data(["ctrl"] * 40)
    with pytest.raises(ValueError, match=r"only the control label 'ctrl'.*no perturbation"):
        rank_genes(adata)


@pytest.mark.parametrize(
    ("groups", "match"),
    [
        ({"control": 5, "ctrl": 5, "G1": 5, "G2": 5}, r"\['ctrl'\].* name no perturbed gene"),
        ({"control": 5, "G1": 5, "G1+ctrl": 5, "G2": 5}, r"spelt in more than one way.*'G1\+ctrl'"),
        ({"control": 5, "G1+G2": 5, "G2+G1": 5, "G3": 5}, r"spelt in more than one way"),
        ({"control": 5, "G1+G1": 5, "G2": 5}, r"\['G1\+G1'\].* repeat a gene"),
        ({"control": 5, "ctrl+ctrl": 5, "G2": 5}, r"\['ctrl\+ctrl'\].* name no perturbed gene"),
    ],
)
def test_case8_mixed_label_styles_are_reported(groups, match):
    adata = _data(_labels(groups))
    with pytest.raises(ValueError, match=match):
        evaluate_perturbation(adata, control="control", predictors=["no_change"])


def test_case9_one_cell_groups():
    adata = _data(_labels({"control": 10, "G1": 10, "G2": 10, "G3": 1}))
    with pytest.raises(ValueError, match=r"fewer than 2 cells \(n_cells: \{'G3': 1\}\)"):
        evaluate_perturbation(adata, control="control", predictors=["no_change"])
    with pytest.warns(UserWarning, match=r"dropped 1 condition group.*'G3': 1"):
        df = evaluate_perturbation(adata, control="control", predictors=["no_change"], min_cells=2)
    assert set(df["condition"]) == {"G1", "G2"}
    counts = adata.obs["condition"].value_counts()
    assert list(df["n_cells"]) == [counts[c] for c in df["condition"]]
    assert set(df["n_cells_control"]) == {counts["control"]}
    one_ctl = _data(_labels({"control": 1, "G1": 10, "G2": 10}))
    for min_cells in (None, 1, 2):
        if min_cells == 1:
            continue
        with pytest.raises(ValueError, match=r"no control group .* inflates every delta"):
            evaluate_perturbation(one_ctl, control="control", min_cells=min_cells)


@pytest.mark.parametrize("min_cells", [0, -3, 1.5, True, "2"])
def test_min_cells_must_be_a_whole_number_at_least_one(min_cells):
    adata = _data(_labels({"control": 10, "G1": 10, "G2": 1}))
    with pytest.raises(ValueError, match=r"min_cells must be a whole number >= 1"):
        evaluate_perturbation(
            adata, control="control", predictors=["no_change"], min_cells=min_cells
        )


def test_messages_show_plain_counts_not_numpy_reprs():
    one_ctl = _data(_labels({"control": 1, "G1": 10, "G2": 10}))
    with pytest.raises(ValueError) as err:
        evaluate_perturbation(one_ctl, control="control", predictors=["no_change"])
    assert "np." not in str(err.value) and "1" in str(err.value)


def test_predict_refuses_a_repeated_gene_and_unknown_options_before_any_work(monkeypatch):
    import biobft.tl._perturbation as tlp

    def boom(*a, **k):
        raise AssertionError("pseudobulk computed before the request was checked")

    adata = _data(_labels({"control": 10, "G1": 10, "G2": 10}))
    with pytest.raises(ValueError, match=r"\['G1\+G1'\] repeat a gene"):
        predict_perturbation(adata, control="control", perturbations=["G1+G1"])
    monkeypatch.setattr(tlp, "perturbation_input", boom)
    with pytest.raises(ValueError, match=r"predictor 'knn' takes no option\(s\) \['kk'\]"):
        predict_perturbation(
            adata, control="control", perturbations=["G1"], predictor="knn",
            predictor_params={"kk": 1},
        )  # fmt: skip


def test_case10_linear_without_table_under_skip_is_marked():
    adata = _data(_labels({"control": 10, "G1": 10, "G2": 10, "G3": 10}), genes=GENES[:5])
    out = predict_perturbation(
        adata, control="control", perturbations=["G1", "NEW"], predictor="linear", missing="skip"
    )
    X = adata.X
    lab = adata.obs["condition"].to_numpy()
    ctrl = X[lab == "control"].mean(0)
    train_mean = np.mean([X[lab == g].mean(0) - ctrl for g in ("G1", "G2", "G3")], axis=0)
    np.testing.assert_allclose(out.X[1], ctrl + train_mean, rtol=1e-5)
    assert list(out.obs["n_missing_genes"]) == [0, 1]
    assert out.obs["fallback"].iloc[1].startswith("train_mean")
    assert out.obs["fallback"].iloc[0] == ""


def test_case11_cell_embedding_refuses_nan():
    adata = _data(_labels({"control": 4, "G1": 4}))
    adata.X = np.abs(adata.X)
    adata.varm["X_biobft"] = np.eye(7, 3) + 0.1
    adata.X[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"adata\.X contains 1 NaN/inf"):
        cell_embedding(adata)


def test_case12_wrong_types_up_front():
    adata = _data(_labels({"control": 5, "G1": 5, "G2": 5}))
    with pytest.raises(TypeError, match=r"must be a pandas DataFrame.*got ndarray"):
        evaluate_perturbation(adata, control="control", embedding=np.eye(7))
    with pytest.raises(TypeError, match=r"must be an anndata\.AnnData, got DataFrame"):
        evaluate_perturbation(adata.to_df(), control="control")
    with pytest.raises(TypeError, match=r"must be an anndata\.AnnData, got DataFrame"):
        gene_embedding(adata.to_df(), table=make_table(np.eye(7), GENES, model="t", source="t"))
    bool_table = pd.DataFrame(np.eye(7, dtype=bool), index=GENES)
    with pytest.raises(TypeError, match=r"\['bool'\] column.*real-valued"):
        predict_perturbation(adata, control="control", embedding=bool_table, perturbations=["G3"])
    complex_table = pd.DataFrame(np.eye(7) + 0j, index=GENES)
    with pytest.raises(TypeError, match=r"\['complex128'\] column"):
        gene_embedding(adata, table=complex_table)


@pytest.mark.parametrize(
    "name", ["gene_embedding", "cell_embedding", "predict_perturbation",
             "evaluate_perturbation", "rank_genes"],
)  # fmt: skip
def test_every_tl_function_goes_through_the_door(name):
    """A DataFrame as adata is refused up front by every tl entry point (same TypeError)."""
    import biobft.tl

    func = getattr(biobft.tl, name)
    df = pd.DataFrame(np.ones((4, 3)), columns=["A", "B", "C"])
    kw = {"perturbations": ["A"]} if name == "predict_perturbation" else {}
    if name == "gene_embedding":
        kw["table"] = make_table(np.eye(3), ["A", "B", "C"], model="t", source="t")
    with pytest.raises(TypeError, match=r"adata must be an anndata\.AnnData, got DataFrame"):
        func(df, **kw)
