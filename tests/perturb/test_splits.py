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


# --- builders against independent re-derivations (mutation-testing survivors) ----------------


@pytest.fixture(scope="module")
def pb_mixed():
    """Two cell types; one double whose single P0 is missing (never held out by loo)."""
    adata, _, _ = synthetic_perturbation_data(n_perturbed=6, n_doubles=5, n_cell_types=2, seed=3)
    adata = adata[adata.obs["condition"] != "P0"].copy()
    return pseudobulk(adata, control="control", cell_type_key="cell_type", n_top_de=0)


def _expected_loo(pb, doubles=True):
    obs = pb.obs[~pb.obs["is_control"]]
    folds = []
    for ct in sorted(set(obs["cell_type"])):
        sub = obs[obs["cell_type"] == ct]
        singles = {g[0] for g in sub["genes"] if len(g) == 1}
        for rid, genes in sub["genes"].items():
            if len(genes) == 1:
                train = [i for i, g in sub["genes"].items() if genes[0] not in g]
                group = "single"
            elif len(genes) == 2 and doubles and set(genes) <= singles:
                train = [i for i in sub.index if i != rid]
                group = "double_seen2"
            else:
                continue
            folds.append({"train": train, "test": [rid], "groups": {rid: group}})
    return folds


@pytest.mark.parametrize("doubles", [True, False])
def test_leave_one_out_matches_a_direct_derivation(pb_mixed, doubles):
    split = leave_one_out(pb_mixed, doubles=doubles)
    expected = _expected_loo(pb_mixed, doubles)
    assert split.folds == expected
    n_doubles = sum(f["groups"][f["test"][0]] == "double_seen2" for f in expected)
    assert (n_doubles > 0) == doubles  # doubles with both singles are held out, only then
    assert not any("P0" in t for f in split.folds for t in f["test"] if "+" in t)
    assert split.kind == "loo" and split.params == {"doubles": doubles}


def test_kfold_folds_sizes_params_and_bounds(pb):
    ids = pb.perturbations()
    split = kfold(pb, n_splits=4, seed=3)
    sizes = sorted(len(f["test"]) for f in split.folds)
    assert sum(sizes) == len(ids) and sizes[-1] - sizes[0] <= 1
    for f in split.folds:
        assert f["train"] == [i for i in ids if i not in set(f["test"])]
        assert f["test"] == sorted(f["test"]) and set(f["groups"]) == set(f["test"])
    assert split.kind == "kfold" and split.params == {"n_splits": 4, "seed": 3}
    assert kfold(pb, n_splits=4, seed=4).folds != split.folds
    assert len(kfold(pb, n_splits=2)) == 2 and len(kfold(pb, n_splits=len(ids))) == len(ids)
    for bad in (1, len(ids) + 1):
        msg = rf"^n_splits must be in \[2, {len(ids)}\]; got {bad}$"
        with pytest.raises(ValueError, match=msg):
            kfold(pb, n_splits=bad)


def test_simulation_unseen_genes_and_seen2_share(pb):
    obs = pb.obs[~pb.obs["is_control"]]
    genes = sorted({g for gs in obs["genes"] for g in gs})
    for frac, seen2_frac in ((0.75, 0.5), (0.99, 1.0), (0.5, 0.0)):
        split = simulation(pb, seed=4, train_gene_frac=frac, seen2_test_frac=seen2_frac)
        (fold,) = split.folds
        test = set(fold["test"])
        unseen = {g for t in test if len(obs.at[t, "genes"]) == 1 for g in obs.at[t, "genes"]}
        assert len(unseen) == max(1, round(len(genes) * (1 - frac)))
        with_unseen = {i for i, gs in obs["genes"].items() if set(gs) & unseen}
        seen2 = [i for i, gs in obs["genes"].items() if len(gs) >= 2 and not set(gs) & unseen]
        assert with_unseen <= test
        assert len(test - with_unseen) == round(len(seen2) * seen2_frac)
        assert test - with_unseen <= set(seen2)
        assert fold["train"] == [i for i in obs.index if i not in test]
        assert split.kind == "simulation"
        assert split.params == {"seed": 4, "train_gene_frac": frac, "seen2_test_frac": seen2_frac}
    assert simulation(pb).folds == simulation(pb, seed=1).folds  # the documented default seed
    msg = r"^train_gene_frac must be in \(0, 1\) and seen2_test_frac in \[0, 1\]$"
    for kw in ({"train_gene_frac": 0.0}, {"train_gene_frac": 1.0}, {"seen2_test_frac": 1.5},
               {"seen2_test_frac": -0.1}):  # fmt: skip
        with pytest.raises(ValueError, match=msg):
            simulation(pb, **kw)


def test_split_records_kind_and_params(pb, pb_ct):
    assert cross_cell_type(pb_ct).kind == "cross_cell_type"
    assert cross_cell_type(pb_ct).params == {}
    split = make_split(pb, "kfold", n_splits=3, seed=2)
    assert split.params == {"n_splits": 3, "seed": 2} and split.kind == "kfold"
    assert condition_group(("A", "B", "C"), {"A"}) == "multi"


def test_resolve_split_every_input_kind(pb, tmp_path):
    default = resolve_split(None, pb)
    assert default.kind == "loo" and default.folds == leave_one_out(pb).folds
    assert resolve_split("kfold", pb).folds == kfold(pb).folds
    given = kfold(pb, n_splits=3)
    assert resolve_split(given, pb) is given
    assert resolve_split(given.save(tmp_path / "k.json"), pb).folds == given.folds
    with pytest.raises(TypeError, match=r"^split must be a Split, a name in \['loo', 'kfold', "
                       r"'simulation', 'cross_cell_type'\] or a JSON path; got int$"):  # fmt: skip
        resolve_split(3, pb)
    with pytest.raises(ValueError, match=r"^split 'custom' has no folds on this data \(too few "
                       r"perturbations\?\); pass another of \['loo', 'kfold', 'simulation', "
                       r"'cross_cell_type'\] \(with several cell types and one perturbation, "
                       r"'cross_cell_type'\)$"):  # fmt: skip
        resolve_split(Split([]), pb)


def test_split_json_fields_and_defaults(pb, tmp_path):
    path = Split([{"train": ["P1"], "test": ["P2"]}], params={"a": 1}).save(tmp_path / "s.json")
    data = json.loads(path.read_text())
    assert data["version"] == 1 and data["kind"] == "custom" and data["params"] == {"a": 1}
    assert Split.load(path).params == {"a": 1}
    del data["kind"]
    path.write_text(json.dumps(data))
    assert Split.load(path).kind == "custom"
    for bad in ({"format": "other", "folds": []}, {"format": "biobft.perturb.split"}):
        path.write_text(json.dumps(bad))
        with pytest.raises(ValueError, match=rf"^{path} is not a biobft split file \(expected "
                           r"format 'biobft.perturb.split'\)$"):  # fmt: skip
            Split.load(path)
    missing = tmp_path / "none.json"
    msg = rf"^split file '{missing}' does not exist; write one with biobft"
    msg += r"\.perturb\.splits\.make_split\(\.\.\.\)\.save\(path\)$"
    with pytest.raises(FileNotFoundError, match=msg):
        Split.load(missing)


def test_validate_messages_name_what_is_wrong(pb):
    ids = pb.perturbations()
    unknown = [f"X{i:02d}" for i in range(11)]
    with pytest.raises(ValueError) as err:
        Split([{"train": ids[:2] + unknown, "test": ids[2:3]}]).validate(pb)
    msg = str(err.value)
    assert msg.startswith(f"split references 11 unknown condition(s) {unknown[:10]}; rebuild the ")
    assert "split on this data (make_split(pb, ...)) or drop them (known: " in msg
    assert msg.endswith(f"(known: {sorted(pb.ids)[:20]})") and len(pb.ids) > 20
    for fold in ({"train": [], "test": ids[:1]}, {"train": ids[:1], "test": []}):
        with pytest.raises(ValueError, match=r"^split fold\(s\) \[1\] have an empty train or "):
            Split([{"train": ids[1:2], "test": ids[:1]}, fold]).validate(pb)
    leaks = [{"train": ids[:12], "test": ids[:12]}] + [
        {"train": [i], "test": [i]} for i in ids[12:18]
    ]
    with pytest.raises(ValueError) as err:
        Split(leaks, kind="kfold").validate(pb)
    msg = str(err.value)
    assert msg.startswith("split 'kfold' leaks: 7 fold(s) train on the condition(s) they test (")
    shown = f"fold 0: {sorted(ids[:12])[:10]}; fold 1: {[ids[12]]}; fold 2: {[ids[13]]}; "
    assert shown in msg and "fold 4:" in msg and "fold 5:" not in msg
    assert msg.endswith("remove the test ids from each fold's train list or rebuild the split "
                        "with make_split(pb, ...)")  # fmt: skip


def test_split_table_columns_and_missing_groups():
    split = Split([{"train": ["a", "b"], "test": ["c", "d"], "groups": {"c": "single"}}])
    table = split_table(split)
    assert list(table.columns) == ["fold", "id", "group", "n_train"]
    assert table.to_dict("records") == [
        {"fold": 0, "id": "c", "group": "single", "n_train": 2},
        {"fold": 0, "id": "d", "group": "", "n_train": 2},
    ]


def test_documented_defaults(pb):
    assert condition_group(("A",), set()) == "single"  # seen=False by default
    assert leave_one_out(pb).folds == leave_one_out(pb, doubles=True).folds
    assert any("+" in f["test"][0] for f in leave_one_out(pb).folds)
    assert kfold(pb).params == {"n_splits": 5, "seed": 0}
    assert kfold(pb).folds == kfold(pb, n_splits=5, seed=0).folds
    assert make_split(pb).kind == "loo"
    ids = pb.perturbations()
    folds = [{"train": [], "test": [i]} for i in ids[:11]]
    with pytest.raises(ValueError, match=r"^split fold\(s\) \[0, 1, 2, 3, 4, 5, 6, 7, 8, 9\] have"):
        Split(folds).validate(pb)


def test_mistyped_split_name_is_not_read_as_a_path(pb):
    from biobft.perturb.splits import resolve_split

    with pytest.raises(ValueError, match=r"unknown split 'kfoldd'; did you mean 'kfold'\?"):
        resolve_split("kfoldd", pb)
    with pytest.raises(FileNotFoundError):  # a path-like name is still read as a file
        resolve_split("missing/split.json", pb)
