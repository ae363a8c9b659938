"""biobft.perturb.de_base: the inner folds and the ``base_rate`` predictor."""

from __future__ import annotations

import numpy as np
import pytest

from biobft.perturb import check_de_pairs
from biobft.perturb.de_base import BaseRate, _inner_folds


def test_inner_folds_partition_training_perturbations():
    perts = [f"P{i}" for i in range(11)] * 3  # repeated names: one fold per perturbation
    folds = _inner_folds(perts, 4, seed=0)
    assert len(folds) == 4
    flat = np.concatenate(folds)
    assert sorted(flat) == sorted(set(perts))  # every perturbation in exactly one fold
    assert max(map(len, folds)) - min(map(len, folds)) <= 1
    assert len(_inner_folds(["A", "B"], 5, seed=0)) == 2  # never more folds than perturbations


def test_base_rate_is_each_readout_genes_training_mean(de_toy):
    pairs, _, _ = de_toy
    data = check_de_pairs(pairs)
    train = data.train[data.train["gene"] != "G0"]  # G0 unseen in training: the global mean
    model = BaseRate().fit(train)
    assert model.cv_score_ == 0.5
    overall = sum(train["label"]) / len(train)
    want = []
    for gene in data.test["gene"]:
        labels = [y for g, y in zip(train["gene"], train["label"]) if g == gene]
        want.append(sum(labels) / len(labels) if labels else overall)
    np.testing.assert_allclose(model.predict(data.test), want, rtol=0, atol=1e-12)
    assert (data.test["gene"] == "G0").any()
    with pytest.raises(ValueError, match="missing must be"):
        BaseRate(missing="drop")
