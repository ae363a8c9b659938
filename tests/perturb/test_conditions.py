from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from biobft.perturb.conditions import (
    check_condition_key,
    parse_condition,
    parse_conditions,
    resolve_control,
)


@pytest.mark.parametrize(
    ("label", "control", "genes"),
    [
        ("ctrl", "ctrl", ()),
        ("KLF1+ctrl", "ctrl", ("KLF1",)),
        ("ctrl+KLF1", "ctrl", ("KLF1",)),
        ("KLF1+MAP2K6", "ctrl", ("KLF1", "MAP2K6")),
        ("control", "control", ()),
        ("KLF1", "control", ("KLF1",)),
        ("SET+KLF1", "control", ("SET", "KLF1")),
        ("A_B", "NT", ("A", "B")),
    ],
)
def test_parse_condition_gears_and_perturbench(label, control, genes):
    sep = "_" if "_" in label else "+"
    assert parse_condition(label, control=control, sep=sep) == genes


def test_parse_conditions_kinds():
    df = parse_conditions(["ctrl", "A+ctrl", "A+B", "A+B+C"], control="ctrl")
    assert list(df["kind"]) == ["control", "single", "double", "multi"]
    assert list(df["n_genes"]) == [0, 1, 2, 3]


def test_check_condition_key_lists_columns():
    obs = pd.DataFrame({"perturbation": ["a", "b"]}, index=["c1", "c2"])
    adata = ad.AnnData(np.zeros((2, 2)), obs=obs)
    with pytest.raises(KeyError, match=r"no column 'condition'.*\['perturbation'\]"):
        check_condition_key(adata, "condition")


def test_resolve_control_detects_and_suggests():
    assert resolve_control(["ctrl", "A+ctrl"], None, condition_key="c") == "ctrl"
    assert resolve_control(["NTC", "A"], "NTC", condition_key="c") == "NTC"
    with pytest.raises(ValueError, match=r"no control cells.*did you mean \['control'\]"):
        resolve_control(["control", "KLF1"], "contrl", condition_key="condition")
    with pytest.raises(ValueError, match="could not detect the control label"):
        resolve_control(["A", "B"], None, condition_key="condition")
    with pytest.raises(ValueError, match="no control cells"):
        resolve_control(["A", "B"], "zzz", condition_key="condition")


def test_perturbation_input_groups_and_kernel_equal_numpy():
    """The door returns n_cells per group; the kernel's means equal a numpy groupby."""
    from biobft.perturb.conditions import perturbation_input
    from biobft.perturb.pseudobulk import pseudobulk_from_input

    rng = np.random.default_rng(0)
    labels = ["ctrl"] * 4 + ["A"] * 3 + ["B+ctrl"] * 2 + ["A+B"] * 3
    cts = ["x", "y"] * 6
    X = rng.normal(size=(12, 3))
    a = ad.AnnData(X, obs=pd.DataFrame({"c": labels, "t": cts}, index=[f"c{i}" for i in range(12)]))
    a.var_names = ["A", "B", "C"]
    inp = perturbation_input(a, condition_key="c", cell_type_key="t", normalize=False, min_cells=1)
    assert inp.control == "ctrl"
    counts = pd.DataFrame({"t": cts, "c": labels}).value_counts()
    assert {(t, c): n for t, c, n in inp.groups.itertuples(index=False)} == counts.to_dict()
    assert dict(zip(inp.conditions.index, inp.conditions["genes"]))["B+ctrl"] == ("B",)
    pb = pseudobulk_from_input(inp, n_top_de=0)
    for rid, (t, c) in zip(pb.ids, zip(pb.obs["cell_type"], pb.obs["condition"])):
        mask = (np.array(cts) == t) & (np.array(labels) == c)
        np.testing.assert_allclose(pb.X[pb.ids.index(rid)], X[mask].mean(0))


def test_cells_of_several_data_sets_are_not_pooled_into_one_experiment():
    """PerturBench's devel file holds two experiments (``obs["dataset"]``): they would share
    conditions and controls (also under a cell_type_key: a cell type may occur in both), so
    the door refuses; one data set, or a NaN beside one, is fine."""
    from biobft.perturb.conditions import perturbation_input

    rng = np.random.default_rng(0)
    obs = pd.DataFrame(
        {
            "c": ["control", "A", "A", "control"] * 3,
            "dataset": ["norman19"] * 6 + ["mcfaline23"] * 6,
            "cell_type": ["K562"] * 12,
        },
        index=[f"c{i}" for i in range(12)],
    )
    a = ad.AnnData(rng.normal(size=(12, 2)), obs=obs)
    a.var_names = ["A", "B"]
    for key in (None, "cell_type", "dataset"):
        with pytest.raises(
            ValueError, match=r"2 data sets .*\['norman19', 'mcfaline23'\].*--data "
        ):
            perturbation_input(a, condition_key="c", cell_type_key=key, normalize=False)
    one = a[a.obs["dataset"] == "norman19"].copy()
    one.obs.loc[one.obs_names[0], "dataset"] = np.nan
    assert perturbation_input(one, condition_key="c", normalize=False).control == "control"


@pytest.mark.realdata
def test_cell_lines_are_not_pooled_without_a_cell_type_key(data_mirror):
    """PerturBench's McFaline-Figueroa screen (3 glioma lines, one data set): without
    cell_type_key all lines shared one control. Refused, naming the key; with it, each line has
    its own control; one line alone, or the column dropped, passes."""
    from biobft import datasets
    from biobft.perturb.conditions import perturbation_input

    adata = datasets.perturbench_devel(dataset="mcfaline23")
    lines = sorted(adata.obs["cell_type"].unique())
    assert lines == ["A172", "T98G", "U87MG"]
    with pytest.raises(ValueError, match=r"adata.obs\['cell_type'\] has 3 values .*cell_type_key="):
        perturbation_input(adata, condition_key="condition", control="control")
    inp = perturbation_input(
        adata, condition_key="condition", control="control", cell_type_key="cell_type"
    )
    assert inp.control == "control"
    one = adata[adata.obs["cell_type"] == "A172"].copy()
    assert perturbation_input(one, condition_key="condition", control="control").control
    pooled = adata.copy()
    pooled.obs = pooled.obs.drop(columns="cell_type")  # the documented opt-in to pooling
    assert perturbation_input(pooled, condition_key="condition", control="control").control


def test_cell_line_column_is_checked_too_and_nan_is_ignored():
    from biobft.perturb.conditions import perturbation_input

    obs = pd.DataFrame(
        {"c": ["control", "A"] * 4, "cell_line": ["K562"] * 4 + ["RPE1"] * 4},
        index=[f"c{i}" for i in range(8)],
    )
    a = ad.AnnData(np.random.default_rng(0).normal(size=(8, 2)), obs=obs)
    a.var_names = ["A", "B"]
    with pytest.raises(ValueError, match=r"\['K562', 'RPE1'\].*--cell-type-key cell_line"):
        perturbation_input(a, condition_key="c", normalize=False)
    a.obs.loc[a.obs_names[4:], "cell_line"] = np.nan
    assert perturbation_input(a, condition_key="c", normalize=False).control == "control"


@pytest.mark.realdata
def test_lines_pooled_under_another_key_or_column_name_are_refused(data_mirror):
    """Trial 7: the guard was skipped under any cell_type_key (cell_type='glioma' for all cells
    beside three cell_line values; cell_type_key='batch') and did not know scPerturb's
    `celltype`. Each is refused now; the real per-line key passes, as does a key whose groups
    each hold one line."""
    from biobft import datasets
    from biobft.perturb.conditions import perturbation_input

    adata = datasets.perturbench_devel(dataset="mcfaline23")
    kw = dict(condition_key="condition", control="control")
    relabelled = adata.copy()
    relabelled.obs["cell_line"] = relabelled.obs["cell_type"]
    relabelled.obs["cell_type"] = "glioma"
    with pytest.raises(ValueError, match=r"obs\['cell_line'\] has 3 values .*within a "):
        perturbation_input(relabelled, cell_type_key="cell_type", **kw)
    assert perturbation_input(relabelled, cell_type_key="cell_line", **kw).control == "control"
    batch = adata.copy()
    batch.obs["batch"] = "b1"
    with pytest.raises(ValueError, match=r"obs\['cell_type'\] has 3 values .*cell_type_key='b"):
        perturbation_input(batch, cell_type_key="batch", **kw)
    batch.obs["batch"] = batch.obs["cell_type"].astype(str) + "-run1"  # one line per group
    assert perturbation_input(batch, cell_type_key="batch", **kw).control == "control"
    scperturb = adata.copy()
    scperturb.obs = scperturb.obs.rename(columns={"cell_type": "celltype"})
    with pytest.raises(ValueError, match=r"obs\['celltype'\] has 3 values"):
        perturbation_input(scperturb, **kw)
    with pytest.raises(KeyError):  # a missing key column: the door's own KeyError
        perturbation_input(adata, cell_type_key="nope", **kw)


@pytest.mark.realdata
def test_rank_genes_on_several_lines_gets_advice_it_can_follow(data_mirror):
    """tl.rank_genes takes no cell_type_key: its refusal must offer subsetting first."""
    from biobft import datasets, tl

    adata = datasets.perturbench_devel(dataset="mcfaline23")
    with pytest.raises(ValueError, match=r"where the function takes one.*adata\[adata.obs"):
        tl.rank_genes(adata, condition_key="condition", control="control")
    one = adata[adata.obs["cell_type"] == "A172"].copy()
    tl.rank_genes(one, condition_key="condition", control="control")
    assert "rank_genes_perturbation" in one.uns
