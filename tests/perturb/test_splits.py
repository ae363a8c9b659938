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


# --- leak guard: a fold that trains on what it tests is refused at every entry point ---------


@pytest.fixture(scope="module")
def pb_ct():
    adata, _, _ = synthetic_perturbation_data(n_perturbed=4, n_doubles=0, n_cell_types=2, seed=0)
    return pseudobulk(adata, control="control", cell_type_key="cell_type", n_top_de=0)


def test_validate_refuses_a_fold_whose_train_and_test_overlap(pb):
    ok = Split([{"train": ["P1", "P3"], "test": ["P2"]}])
    assert ok.validate(pb) is ok
    leak = Split([ok.folds[0], {"train": ["P1", "P2", "P4"], "test": ["P2", "P4", "P5"]}])
    with pytest.raises(ValueError, match=r"leaks: 1 fold\(s\).*fold 1: \['P2', 'P4'\]"):
        leak.validate(pb)


@pytest.mark.parametrize("kind", ["loo", "kfold", "simulation", "cross_cell_type"])
def test_every_builder_gives_disjoint_folds(kind, pb, pb_ct):
    data = pb_ct if kind == "cross_cell_type" else pb
    split = make_split(data, kind)
    assert len(split) > 0
    for fold in split.folds:
        assert not set(fold["train"]) & set(fold["test"])


def test_cross_cell_type_trains_on_the_other_cell_type_only(pb_ct):
    split = cross_cell_type(pb_ct)
    ids = pb_ct.perturbations()
    assert len(split) == len(ids) == 8
    for fold in split.folds:
        (t,) = fold["test"]
        cond = pb_ct.obs.at[t, "condition"]
        assert t not in fold["train"]
        # the same perturbation in the other cell type is in training, nothing else is dropped
        assert sorted(fold["train"]) == sorted(i for i in ids if i != t)
        others = [i for i in fold["train"] if pb_ct.obs.at[i, "condition"] == cond]
        assert (
            len(others) == 1
            and pb_ct.obs.at[others[0], "cell_type"] != pb_ct.obs.at[t, "cell_type"]
        )


def test_cross_cell_type_leak_is_refused(pb_ct):
    # the break the issue reports: train on every id including the held-out one
    ids = pb_ct.perturbations()
    leaky = Split([{"train": list(ids), "test": [t]} for t in ids], kind="cross_cell_type")
    with pytest.raises(ValueError, match=r"leaks: 8 fold\(s\)"):
        leaky.validate(pb_ct)


def test_leaking_saved_json_split_is_refused_everywhere(pb, tmp_path):
    from biobft.perturb.evaluate import evaluate_split
    from biobft.tl import evaluate_perturbation

    path = Split([{"train": ["P1", "P2", "P3"], "test": ["P3"]}]).save(tmp_path / "leak.json")
    with pytest.raises(ValueError, match=r"fold 0: \['P3'\]"):
        resolve_split(path, pb)
    with pytest.raises(ValueError, match="leaks"):
        evaluate_split(pb, Split.load(path), ["train_mean"])
    adata, _, _ = synthetic_perturbation_data(n_perturbed=12, n_doubles=8, seed=5)
    with pytest.raises(ValueError, match=r"fold 0: \['P3'\]"):
        evaluate_perturbation(adata, control="control", predictors=["train_mean"], split=path)


def test_leaking_split_is_refused_by_the_cli(tmp_path, capsys):
    from biobft.cli import main

    adata, _, _ = synthetic_perturbation_data(n_perturbed=6, n_doubles=0, seed=2)
    h5 = tmp_path / "toy.h5ad"
    adata.write_h5ad(h5)
    path = Split([{"train": ["P1", "P2"], "test": ["P2"]}]).save(tmp_path / "leak.json")
    out = tmp_path / "res.csv"
    rc = main(["perturb", "evaluate", "--data", str(h5), "--control", "control",
               "--predictors", "train_mean", "--split", str(path), "--out", str(out)])  # fmt: skip
    assert rc == 2
    assert "fold 0: ['P2']" in capsys.readouterr().err
    assert not out.exists()
