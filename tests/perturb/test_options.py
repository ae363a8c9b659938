from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from biobft.perturb import DE_PREDICTORS
from biobft.perturb._options import check_options, missing_hint, options_of, predictor_specs
from biobft.perturb.de_predictors import get_de_predictor
from biobft.perturb.predictors import PREDICTORS, get_predictor


def test_options_are_collected_over_the_mro():
    # KNN(k, temperature, **kw) -> Predictor(embedding, missing, var_names)
    assert options_of(PREDICTORS["knn"]) == sorted(
        ["k", "temperature", "embedding", "missing", "var_names"]
    )


@pytest.mark.parametrize("name", sorted(PREDICTORS))
def test_every_expression_predictor_accepts_its_listed_options(name):
    cls = PREDICTORS[name]
    check_options(cls, {o: None for o in options_of(cls)}, what=name)  # no error


@pytest.mark.parametrize("name", sorted(DE_PREDICTORS))
def test_every_de_predictor_accepts_its_listed_options(name):
    cls = DE_PREDICTORS[name]
    check_options(cls, {o: None for o in options_of(cls)}, what=name)


def test_unknown_option_is_one_clear_error_with_the_close_match():
    with pytest.raises(ValueError, match=r"predictor 'knn' takes no option\(s\) \['kk'\] "
                       r"\(did you mean 'k' for 'kk'\?\); its options are \["):  # fmt: skip
        get_predictor("knn", kk=3)
    with pytest.raises(ValueError, match=r"DE-pair predictor 'knn' takes no option\(s\) \['zz'\]"):
        get_de_predictor("knn", zz=1)


def test_evaluate_refuses_an_unknown_option_before_any_fit(monkeypatch):
    from biobft.perturb.evaluate import evaluate_split
    from biobft.perturb.pseudobulk import Pseudobulk

    def boom(*a, **k):
        raise AssertionError("fitted before the options were checked")

    monkeypatch.setattr(PREDICTORS["ridge"], "fit", boom)
    monkeypatch.setattr(Pseudobulk, "delta", boom)
    table = pd.DataFrame(np.eye(3), index=["A", "B", "C"])

    class _Split:
        folds = ()

        def validate(self, pb):
            return None

    with pytest.raises(ValueError, match=r"takes no option\(s\) \['alpha'\].*'alphas'"):
        evaluate_split(
            object(), _Split(), predictors={"r": {"predictor": "ridge", "alpha": 1.0}},
            embedding=table,
        )  # fmt: skip


# --------------------------------------------------------------------------- predictor_specs
def test_predictor_specs_reads_one_name_names_and_dicts():
    from biobft.perturb._options import predictor_specs

    # one name is one predictor, never its letters (trial: "unknown DE-pair predictor 'k'")
    assert predictor_specs("knn", DE_PREDICTORS) == {"knn": ("knn", {})}
    assert predictor_specs(("knn", "pair"), DE_PREDICTORS) == {
        "knn": ("knn", {}),
        "pair": ("pair", {}),
    }
    spec = {"k1": {"predictor": "knn", "k": 1}, "ridge": {}}
    assert predictor_specs(spec, PREDICTORS) == {"k1": ("knn", {"k": 1}), "ridge": ("ridge", {})}
    assert predictor_specs([], PREDICTORS, allow_empty=True) == {}


@pytest.mark.parametrize(
    ("value", "error", "match"),
    [
        ([], ValueError, r"predictors is empty; name at least one of \['no_change'"),
        ({}, ValueError, "predictors is empty"),
        (["knn", "knn"], ValueError, r"\['knn'\] are named more than once"),
        ([" knn"], ValueError, r"unknown predictor ' knn' \(did you mean 'knn'\?\)"),
        (["ridge", 3], TypeError, r"predictor names must be strings; got 3 \(int\)"),
        (5, TypeError, "predictors must be a name, a list of names or a dict"),
        ({"a": "knn"}, TypeError, r"predictors\['a'\] must be a dict"),
        ({"a": {"predictor": "knn", "kk": 1}}, ValueError, r"'a' \(knn\) takes no option"),
    ],
)
def test_predictor_specs_refuses_bad_values(value, error, match):
    from biobft.perturb._options import predictor_specs

    with pytest.raises(error, match=match):
        predictor_specs(value, PREDICTORS)


def test_several_names_in_one_string_are_told_to_be_a_list():
    """``"knn,graph"`` (Python) or ``"ridge knn"`` (a quoted CLI value) is not a close match of
    one name: the message says to pass a list, in both syntaxes."""
    reg = {"knn": object, "graph": object, "ridge": object}
    for text, parts in (("knn,graph", ["knn", "graph"]), ("ridge knn", ["ridge", "knn"])):
        with pytest.raises(ValueError) as err:
            predictor_specs(text, reg)
        msg = str(err.value)
        assert f"pass them as a list, e.g. {parts}" in msg and "did you mean" not in msg
        assert f"--predictors {','.join(parts)}" in msg


def test_missing_hint_names_the_python_and_command_line_forms():
    assert missing_hint("skip", "mean") == (
        "pass missing='skip' or 'mean' (command line: --missing skip)"
    )
