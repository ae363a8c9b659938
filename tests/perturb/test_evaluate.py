"""biobft.perturb.evaluate.evaluate_split against a hand-written fold loop."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import pearsonr

from biobft.perturb._synthetic import synthetic_perturbation_data
from biobft.perturb.evaluate import evaluate_split
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
    with pytest.raises(ValueError, match="needs embedding=TABLE"):
        evaluate_split(pb, split, ["ridge"])
