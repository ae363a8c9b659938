from __future__ import annotations

import pandas as pd
import pytest

from biobft.perturb import DE_PREDICTORS, check_de_pairs, de_input, de_pairs, evaluate_de_pairs


@pytest.fixture(scope="module")
def toy(de_toy):
    return de_toy


def test_door_is_reexported_from_de_pairs():
    assert de_pairs.check_de_pairs is de_input.check_de_pairs is check_de_pairs
    assert de_pairs.DEPairs is de_input.DEPairs


def _bad(pairs: pd.DataFrame, kind: str) -> pd.DataFrame:
    df = pairs.copy()
    if kind == "missing_column":
        return df.drop(columns="split")
    if kind == "labels":
        df.loc[0, "label"] = 2
        return df
    if kind == "no_test":
        return df.assign(split="train")
    if kind == "leak":
        p = df.loc[df["split"] == "test", "pert"].iloc[0]
        extra = df.loc[df["pert"] == p].head(1).assign(split="train", gene="GX")
        return pd.concat([df, extra], ignore_index=True)
    if kind == "empty_gene":
        return df.assign(gene="")
    if kind == "nan":
        df["pert"] = df["pert"].astype(object)
        df.loc[3, "pert"] = None
        return df
    if kind == "conflict":
        return pd.concat([df, df.head(1).assign(label=1 - df["label"].iloc[0])], ignore_index=True)
    raise AssertionError(kind)


@pytest.mark.parametrize(
    ("kind", "error", "match"),
    [
        ("missing_column", KeyError, "no column"),
        ("labels", ValueError, "must be 0 or 1"),
        ("no_test", ValueError, "no 'test' rows"),
        ("leak", ValueError, "allow_shared_perturbations"),
        ("empty_gene", ValueError, "empty in every row"),
        ("nan", ValueError, "NaN"),
        ("conflict", ValueError, "both labels"),
    ],
)
def test_bad_pairs_one_clear_error_before_any_fit(toy, kind, error, match, monkeypatch):
    pairs, table, network = toy
    bad = _bad(pairs, kind)

    def boom(*a, **k):  # any fit would be work done before the error
        raise AssertionError("a predictor was fitted before the input was rejected")

    for cls in DE_PREDICTORS.values():
        monkeypatch.setattr(cls, "fit", boom)
    with pytest.raises(error, match=match):
        check_de_pairs(bad)
    with pytest.raises(error, match=match):
        evaluate_de_pairs(bad, embedding=table, network=network)


def test_leak_allowed_on_request_and_duplicates_collapse(toy):
    pairs, _, _ = toy
    data = check_de_pairs(pd.concat([pairs, pairs.head(3)], ignore_index=True))
    assert data.n_duplicates == 3
    assert len(data.train) + len(data.test) == len(pairs)
    leak = _bad(pairs, "leak")
    shared = check_de_pairs(leak, allow_shared_perturbations=True)
    assert set(shared.train["pert"]) & set(shared.test["pert"])
