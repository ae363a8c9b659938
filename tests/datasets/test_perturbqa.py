from __future__ import annotations

import importlib
import logging

import numpy as np
import pytest

from biobft.datasets import perturbqa, registry

# the function shadows its module's name on the package: reach the module through importlib
_module = importlib.import_module("biobft.datasets.perturbqa")


def test_registry_entries_say_non_commercial():
    for cell in ("k562", "rpe1"):
        for task in ("de", "dir"):
            entry = registry()[f"perturbqa_{cell}_{task}"]
            assert "Non-Commercial" in entry.license
            assert "04ff16d20060b7e3629e5874a971000b3c1e4b60" in entry.url
            assert entry.url.endswith(f"perturbqa/datasets/{cell}-{task}.csv")


@pytest.mark.parametrize("kw", [{"cell_line": "hepg2"}, {"task": "direction"}])
def test_bad_arguments(kw):
    with pytest.raises(ValueError, match="choose one of"):
        perturbqa(**kw)


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("cell", "task", "n_pairs", "n_train", "n_test"),
    [
        ("k562", "de", 157_679, 1_564, 267),
        ("rpe1", "de", 187_089, 1_596, 406),
        ("k562", "dir", 19_980, None, None),
        ("rpe1", "dir", 26_652, None, None),
    ],
)
def test_files(data_mirror, cell, task, n_pairs, n_train, n_test):
    df = perturbqa(cell_line=cell, task=task)
    assert list(df.columns) == ["pert", "gene", "label", "split"]
    assert len(df) == n_pairs
    assert df["label"].dtype == np.int8 and set(df["label"].unique()) == {0, 1}
    assert set(df["split"].unique()) == {"train", "test"}
    per_split = df.groupby("split")["pert"].unique()
    # split by perturbation: no knockdown in both
    assert not set(per_split["train"]) & set(per_split["test"])
    if n_train is not None:
        assert (len(per_split["train"]), len(per_split["test"])) == (n_train, n_test)
    if cell == "k562" and task == "de":
        assert abs(df["label"].mean() - 0.1267) < 1e-3
    assert not df.duplicated(["pert", "gene"]).any()
    assert "Non-Commercial" in df.attrs["license"]


@pytest.mark.realdata
def test_licence_notice_logged_once(data_mirror, caplog, monkeypatch):
    monkeypatch.setattr(_module, "_noticed", set())
    with caplog.at_level(logging.WARNING, logger="biobft.datasets.perturbqa"):
        perturbqa(cell_line="k562", task="dir")
        perturbqa(cell_line="k562", task="dir")
    notices = [r for r in caplog.records if "non-commercial use only" in r.getMessage()]
    assert len(notices) == 1
    assert "Genentech Non-Commercial Software License v1.0" in notices[0].getMessage()
