"""Settings of the experiment: presets, argument resolution and checks, the resume key."""

from __future__ import annotations

import dataclasses

import pytest

from biobft.experiment.settings import PRESETS, ExperimentSettings, _settings


def test_settings_defaults_match_default_preset():
    defaults = dataclasses.asdict(ExperimentSettings())
    assert {k: defaults[k] for k in PRESETS["default"]} == PRESETS["default"]
    quick = _settings(True, {"max_steps": None, "seeds": 3, "loss_types": "bft"})
    assert quick.max_steps == PRESETS["quick"]["max_steps"]  # None keeps the preset
    assert quick.seeds == (3,) and quick.loss_types == ("bft",) and quick.quick
    assert _settings(True, {"seeds": None}).seeds == (0,)
    assert _settings(False, {"seeds": None}).seeds == (0, 1, 2)  # mean +- sd needs seeds
    assert ExperimentSettings().key() != quick.key()
    assert quick.key() == _settings(True, {"seeds": (0, 1), "loss_types": "sft,dft"}).key()


@pytest.mark.parametrize("value", [1, -2])
def test_perturbqa_sizes_are_off_or_at_least_two(value):
    for name in ("n_perturbqa_test", "n_perturbqa_train"):
        with pytest.raises(ValueError, match=rf"{name} must be 0 \(off\) or >= 2; got {value}"):
            _settings(True, {name: value})
    off = _settings(True, {"n_perturbqa_test": 0})  # 0 turns the PerturbQA score off
    assert off.n_perturbqa_test == 0
    assert off.n_perturbqa_train == PRESETS["quick"]["n_perturbqa_train"]


def test_key_follows_every_setting_that_changes_an_arm():
    """Resuming reuses an arm only under the same settings; which arms and seeds run is free."""
    base = _settings(True, {})
    for f in dataclasses.fields(ExperimentSettings):
        if f.name in ("loss_types", "seeds", "quick"):
            continue
        value = getattr(base, f.name)
        if isinstance(value, bool) or value is None:
            other = "bf16" if value is None else not value
        elif isinstance(value, (int, float)):
            other = value * 2 + 1
        else:
            other = f"{value}x"
        assert dataclasses.replace(base, **{f.name: other}).key() != base.key(), f.name
    for name, value in (("loss_types", ("bft",)), ("seeds", (5, 6)), ("quick", False)):
        assert dataclasses.replace(base, **{name: value}).key() == base.key(), name
