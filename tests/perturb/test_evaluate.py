"""biobft.perturb.evaluate.evaluate_split against a hand-written fold loop."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import pearsonr

from biobft.perturb._synthetic import synthetic_perturbation_data
from biobft.perturb.evaluate import evaluate_split
from biobft.perturb.metrics import METRICS
from biobft.perturb.predictors import get_predictor
from biobft.perturb.pseudobulk import pseudobulk
from biobft.perturb.splits import leave_one_out


@pytest.fixture(scope="module")
def pb_split():
    adata, table, _ = synthetic_perturbation_data(n_perturbed=6, n_doubles=2, seed=3)
    pb = pseudobulk(adata, control="control")
    return pb, leave_one_out(pb), table


def test_train_mean_rows_equal_a_manual_fold_loop(pb_split):
    pb, split, _ = pb_split
    df = evaluate_split(pb, split, ["train_mean"], metrics=["pearson_delta", "rmse"])
    assert len(df) == sum(len(f["test"]) for f in split.folds)
    assert [c for c in df.columns if c in METRICS] == ["pearson_delta", "rmse"]  # only those
    for k, fold in enumerate(split.folds):
        mean_delta = pb.delta(list(fold["train"])).mean(axis=0)  # what train_mean predicts
        for t in fold["test"]:
            obs_delta = pb.profiles([t])[0] - pb.controls([t])[0]
            row = df[(df["fold"] == k) & (df["id"] == t)].iloc[0]
            assert row["n_train"] == len(fold["train"])
            assert row["pearson_delta"] == pytest.approx(pearsonr(mean_delta, obs_delta)[0])
            want_rmse = np.sqrt(np.mean((mean_delta - obs_delta) ** 2))
            assert row["rmse"] == pytest.approx(want_rmse, rel=1e-6)


def test_labels_params_and_errors(pb_split):
    pb, split, table = pb_split
    specs = {"k1": {"predictor": "knn", "k": 1}, "k3": {"predictor": "knn", "k": 3}}
    df = evaluate_split(pb, split, specs, embedding=table, metrics=["pearson_delta"])
    assert set(df["predictor"]) == {"k1", "k3"}
    by = df.pivot_table(index="id", columns="predictor", values="pearson_delta")
    assert not np.allclose(by["k1"], by["k3"])  # the parameter reached the predictor
    with pytest.raises(ValueError, match="unknown predictor 'nope'"):
        evaluate_split(pb, split, ["nope"])
    # one name is one predictor (before: its letters, "unknown predictor 't'")
    one = evaluate_split(pb, split, "train_mean", metrics=["pearson_delta"])
    pd.testing.assert_frame_equal(
        one, evaluate_split(pb, split, ["train_mean"], metrics=["pearson_delta"])
    )
    with pytest.raises(ValueError, match="predictors is empty"):
        evaluate_split(pb, split, [])
    with pytest.raises(ValueError, match="needs embedding=TABLE"):
        evaluate_split(pb, split, ["ridge"])


def test_table_is_the_hand_built_fold_loop_column_by_column():
    """Two cell types, two test ids per fold, a fold without groups, a gene without a vector:
    every column (order, labels, values) and every returned prediction re-derived by hand."""
    from biobft.embed.table import make_table
    from biobft.perturb.splits import Split

    adata, table, _ = synthetic_perturbation_data(
        n_perturbed=6, n_doubles=2, n_cell_types=2, seed=4
    )
    pb = pseudobulk(adata, control="control", cell_type_key="cell_type", n_top_de=5)
    ids = pb.perturbations()
    assert len(set(pb.obs.loc[ids, "cell_type"])) == 2
    cut = table.drop(index="P1")  # P1 has no vector: counted and reported
    cut = make_table(cut.to_numpy(), list(cut.index), model="m", source="s")
    folds = [
        {"train": ids[4:], "test": ids[:2], "groups": {ids[0]: "g0", ids[1]: "g1"}},
        {"train": ids[:2] + ids[6:], "test": ids[2:4]},  # no groups: ""
    ]
    split = Split(folds=folds)
    specs = {"rs": {"predictor": "ridge", "missing": "skip"}, "tm": {"predictor": "train_mean"}}
    df, preds = evaluate_split(pb, split, specs, embedding=cut, return_predictions=True)
    names = list(METRICS)
    assert list(df.columns) == [
        "predictor", "condition", "cell_type", "id", "group", "fold", "n_train",
        *names, "n_missing_genes", "fallback",
    ]  # fmt: skip
    assert df.index.tolist() == list(range(len(df)))
    expected_rows = []
    for k, fold in enumerate(folds):
        train, test = fold["train"], fold["test"]
        for label, name in [("rs", "ridge"), ("tm", "train_mean")]:
            kw = {"embedding": cut, "missing": "skip"} if name == "ridge" else {}
            model = get_predictor(name, **kw).fit(pb.genes_of(train), pb.delta(train))
            delta = model.predict(pb.genes_of(test))
            for j, t in enumerate(test):
                genes = pb.obs.at[t, "genes"]
                ctrl = pb.controls([t])[0]
                np.testing.assert_allclose(preds[(label, t)], ctrl + delta[j], rtol=1e-12)
                obs_delta = pb.profiles([t])[0] - ctrl
                missing = sum(g == "P1" for g in genes) if name == "ridge" else 0
                expected_rows.append(
                    (label, pb.obs.at[t, "condition"], pb.obs.at[t, "cell_type"], t,
                     fold.get("groups", {}).get(t, ""), k, len(train), missing,
                     model.fallback_[j], pearsonr(delta[j], obs_delta)[0])
                )  # fmt: skip
    got = df.sort_values(["fold", "predictor", "id"]).reset_index(drop=True)
    want = sorted(expected_rows, key=lambda r: (r[5], r[0], r[3]))
    assert len(got) == len(want) == 8
    for (_, row), w in zip(got.iterrows(), want):
        assert tuple(row[["predictor", "condition", "cell_type", "id", "group", "fold"]]) == w[:6]
        assert (row["n_train"], row["n_missing_genes"], row["fallback"]) == w[6:9]
        assert row["pearson_delta"] == pytest.approx(w[9], rel=1e-6)
        t = row["id"]
        top = pb.de[t]  # the scanpy top DE genes of that condition
        mse = np.mean((preds[(row["predictor"], t)][top] - pb.profiles([t])[0][top]) ** 2)
        assert row["mse_de"] == pytest.approx(mse, rel=1e-6)
    assert set(preds) == {(lab, t) for lab in specs for f in folds for t in f["test"]}
    assert got["n_missing_genes"].max() >= 1  # the P1 case was exercised


def test_spec_defaults_label_as_name_own_embedding_and_var_names(pb_split):
    pb, split, table = pb_split
    by_label = evaluate_split(pb, split, {"knn": {"k": 1}}, embedding=table)
    named = evaluate_split(pb, split, {"knn": {"predictor": "knn", "k": 1}}, embedding=table)
    pd.testing.assert_frame_equal(by_label, named)
    own = evaluate_split(pb, split, {"knn": {"predictor": "knn", "k": 1, "embedding": table}})
    pd.testing.assert_frame_equal(own, named)
    # linear without a table embeds genes by their rows of G: it needs pb's var_names
    _, preds = evaluate_split(pb, split, ["linear"], return_predictions=True)
    fold = split.folds[0]
    model = get_predictor("linear", var_names=pb.var_names).fit(
        pb.genes_of(fold["train"]), pb.delta(fold["train"])
    )
    t = fold["test"][0]
    np.testing.assert_allclose(
        preds[("linear", t)], pb.controls([t])[0] + model.predict(pb.genes_of([t]))[0], rtol=1e-12
    )


def test_no_predictor_is_an_error_not_an_empty_table(pb_split):
    """An empty predictor list used to return an empty table without a word; now, like
    evaluate_de_pairs(predictors=[], baselines=False), it is one clear error."""
    pb, split, _ = pb_split
    with pytest.raises(ValueError, match=r"predictors is empty; name at least one of"):
        evaluate_split(pb, split, [], return_predictions=True)
