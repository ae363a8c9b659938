from __future__ import annotations

import json

import pytest

from biobft.perturb._synthetic import synthetic_perturbation_data
from biobft.perturb.pseudobulk import pseudobulk
from biobft.perturb.splits import (
    Split,
    condition_group,
    cross_cell_type,
    kfold,
    leave_one_out,
    make_split,
    resolve_split,
    simulation,
    split_table,
)


@pytest.fixture(scope="module")
def pb():
    adata, _, _ = synthetic_perturbation_data(n_perturbed=12, n_doubles=8, seed=5)
    return pseudobulk(adata, control="control", n_top_de=0)


def test_leave_one_out_singles_unseen_doubles_seen(pb):
    split = leave_one_out(pb)
    singles = pb.perturbations(kind="single")
    tested = [f["test"][0] for f in split.folds]
    assert set(singles) <= set(tested)
    for fold in split.folds:
        (t,) = fold["test"]
        genes = pb.obs.at[t, "genes"]
        train_genes = {g for i in fold["train"] for g in pb.obs.at[i, "genes"]}
        if len(genes) == 1:
            assert genes[0] not in train_genes and fold["groups"][t] == "single"
        else:
            assert set(genes) <= {pb.obs.at[i, "genes"][0] for i in fold["train"] if "+" not in i}
            assert fold["groups"][t] == "double_seen2" and t not in fold["train"]


def test_kfold_partitions(pb):
    split = kfold(pb, n_splits=4, seed=1)
    tests = [t for f in split.folds for t in f["test"]]
    assert sorted(tests) == sorted(pb.perturbations())
    for f in split.folds:
        assert not set(f["train"]) & set(f["test"])
    assert kfold(pb, n_splits=4, seed=1).folds == split.folds
    with pytest.raises(ValueError, match="n_splits"):
        kfold(pb, n_splits=1)


def test_simulation_groups_and_seed(pb):
    split = simulation(pb, seed=3)
    (fold,) = split.folds
    assert simulation(pb, seed=3).folds == split.folds
    train_genes = {g for i in fold["train"] for g in pb.obs.at[i, "genes"]}
    for t, group in fold["groups"].items():
        genes = pb.obs.at[t, "genes"]
        seen = sum(g in train_genes for g in genes)
        if len(genes) == 1:
            assert group == "single" and seen == 0
        else:
            assert group == f"double_seen{seen}"
    assert not set(fold["train"]) & set(fold["test"])


def test_condition_group():
    assert condition_group(("A", "B"), {"A"}) == "double_seen1"
    assert condition_group(("A",), set(), seen=True) == "single_seen"


def test_split_json_roundtrip_and_unknown(pb, tmp_path):
    split = make_split(pb, "loo")
    path = split.save(tmp_path / "split.json")
    again = Split.load(path)
    assert again.folds == split.folds and again.kind == "loo"
    assert json.loads(path.read_text())["format"] == "biobft.perturb.split"
    assert resolve_split(path, pb).folds == split.folds
    assert len(split_table(split)) == len(split.folds)
    bad = Split([{"train": ["P1", "KLF1"], "test": ["P2"]}])
    with pytest.raises(ValueError, match=r"unknown condition\(s\) \['KLF1'\]"):
        bad.validate(pb)
    with pytest.raises(ValueError, match="control"):
        Split([{"train": ["control"], "test": ["P2"]}]).validate(pb)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        Split.load(tmp_path / "missing.json")
    with pytest.raises(ValueError, match="unknown split"):
        make_split(pb, "random")


def test_cross_cell_type_holds_out_one_context():
    adata, _, _ = synthetic_perturbation_data(n_perturbed=4, n_doubles=0, n_cell_types=2, seed=0)
    pb2 = pseudobulk(adata, control="control", cell_type_key="cell_type", n_top_de=0)
    split = cross_cell_type(pb2)
    assert len(split) == 8
    fold = split.folds[0]
    assert fold["groups"][fold["test"][0]] == "single_seen"
