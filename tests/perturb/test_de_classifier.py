"""biobft.perturb.de_classifier: the ``pair`` predictor scores the features its docstring names."""

from __future__ import annotations

import numpy as np
import pytest

from biobft.ggi.model import make_classifier
from biobft.perturb import check_de_pairs
from biobft.perturb.de_classifier import PairClassifier


def test_pair_classifier_is_logistic_on_concat_hadamard_and_base_rate(de_toy):
    pairs, table, _ = de_toy
    data = check_de_pairs(pairs)
    model = PairClassifier(embedding=table, Cs=(1e-2,), max_pairs=10**6).fit(data.train)
    assert model.params_["C"] == 1e-2

    def features(frame):
        unit = table.to_numpy(np.float64)
        unit = unit / np.linalg.norm(unit, axis=1, keepdims=True)
        unit = dict(zip(table.index, unit.astype(np.float32)))
        p = np.stack([unit[x] for x in frame["pert"]])
        g = np.stack([unit[x] for x in frame["gene"]])
        rate = data.train.groupby("gene")["label"].mean()
        base = frame["gene"].map(rate).fillna(data.train["label"].mean()).to_numpy()
        return np.hstack([p, g, p * g, base[:, None].astype(np.float32)])

    ref = make_classifier("logistic", seed=0, C=1e-2)
    ref.fit(features(data.train), data.train["label"].to_numpy())
    want = ref.predict_proba(features(data.test))[:, 1]
    np.testing.assert_allclose(model.predict(data.test), want, rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="max_pairs"):
        PairClassifier(embedding=table, max_pairs=0)
