"""biobft.perturb.de_predictors: the registry, the predictor API and the ``ensemble`` (the
predictors end to end are in test_de_pairs.py, through evaluate_de_pairs)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import rankdata

from biobft.perturb import DE_PREDICTORS, check_de_pairs, get_de_predictor
from biobft.perturb.metrics import auroc_per_gene


def test_registry_and_predictor_api(de_toy):
    pairs, table, _ = de_toy
    assert {"knn", "graph", "pair", "ensemble", "base_rate"} <= set(DE_PREDICTORS)
    with pytest.raises(ValueError, match="unknown DE-pair predictor"):
        get_de_predictor("nope")
    with pytest.raises(ValueError, match="needs embedding"):
        get_de_predictor("knn")
    model = get_de_predictor("knn", embedding=table, ks=(5,), temperatures=(0.1,))
    with pytest.raises(ValueError, match="not fitted"):
        model.predict(pairs)
    data = check_de_pairs(pairs)
    model.fit(data.train)
    assert model.params_ == {"k": 5, "temperature": 0.1}
    assert 0.5 < model.cv_score_ <= 1.0
    scores = model.predict(data.test)
    assert scores.shape == (len(data.test),) and np.isfinite(scores).all()
    assert auroc_per_gene(data.test["gene"], data.test["label"], scores) > 0.7


def test_ensemble_is_the_weighted_rank_average_of_its_members(de_toy):
    pairs, table, network = de_toy
    data = check_de_pairs(pairs)
    ens = get_de_predictor(
        "ensemble", embedding=table, member_params={"graph": {"network": network}}
    ).fit(data.train)
    assert set(ens.weights_) == {"knn", "graph"}
    assert sum(ens.weights_.values()) == pytest.approx(1.0)
    # the weight grid holds each member alone, so the chosen mix scores at least as well
    assert ens.cv_score_ >= max(m.cv_score_ for m in ens.models_.values()) - 1e-12
    want = sum(
        w * rankdata(ens.models_[m].predict(data.test)) / len(data.test)
        for m, w in ens.weights_.items()
    )
    np.testing.assert_allclose(ens.predict(data.test), want, rtol=0, atol=1e-12)


def test_ensemble_members_must_give_out_of_fold_scores(de_toy):
    """``pair`` and ``base_rate`` have no out-of-fold scores: refused at construction, and the
    message lists what can be a member (it used to list them, then fail at fit)."""
    _, table, _ = de_toy
    allowed = [p for p, c in DE_PREDICTORS.items() if c.out_of_fold and p != "ensemble"]
    assert {"knn", "graph"} <= set(allowed) and not {"pair", "base_rate"} & set(allowed)
    for members in (("knn", "pair"), ("knn",), ("knn", "knn"), ("knn", "nope")):
        with pytest.raises(ValueError, match=r"ensemble members must be >= 2 distinct") as err:
            get_de_predictor("ensemble", embedding=table, members=members)
        assert str(allowed) in str(err.value) and "'pair'" in str(err.value)
