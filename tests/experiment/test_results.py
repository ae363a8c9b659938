"""``ExperimentResult`` and the files written from it (hand-made result, no model)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from biobft.experiment.report import paired_differences, summarize
from biobft.experiment.results import ExperimentResult, _notes, _write
from biobft.experiment.settings import _settings


@pytest.fixture
def result(tmp_path) -> ExperimentResult:
    runs = pd.DataFrame({
        "arm": ["base", "sft", "sft", "bft", "bft"],
        "seed": [np.nan, 0, 1, 0, 1],
        "nll": [2.0, 1.5, 1.7, 1.4, 1.5],
        "ggi_hidden_roc_auc": [0.6, 0.62, 0.64, 0.66, 0.7],
        "seconds": [10.0, 20.0, 20.0, 20.0, 20.0],
    })  # fmt: skip
    settings = _settings(True, {"loss_types": "sft,bft", "seeds": (0, 1)})
    info = {"arms_seconds_total": 90.0, "device": "cpu", "n_train_records": 48}
    baselines = {"ggi_refseq_minilm_roc_auc": 0.65, "pert_train_mean_pearson_delta": 0.9}
    return ExperimentResult(runs, summarize(runs), baselines, settings, tmp_path / "out", 120.0,
                            info, paired_differences(runs, reference="sft"))  # fmt: skip


def test_write_makes_every_file(result):
    out = result.out_dir
    out.mkdir()
    _write(result)
    pd.testing.assert_frame_equal(pd.read_csv(out / "runs.csv"), result.runs)
    pd.testing.assert_frame_equal(pd.read_csv(out / "summary.csv", index_col=0), result.summary)
    payload = json.loads((out / "results.json").read_text())
    assert payload["settings"]["loss_types"] == ["sft", "bft"]
    assert payload["settings"]["seeds"] == [0, 1] and payload["settings"]["quick"] is True
    assert payload["info"] == result.info and payload["baselines"] == result.baselines
    assert payload["summary"]["bft"]["nll_mean"] == pytest.approx((1.4 + 1.5) / 2)
    assert [r["arm"] for r in payload["runs"]] == list(result.runs["arm"])
    paired = {r["metric"]: r for r in payload["paired_vs_sft"]}
    assert paired["nll"]["arm"] == "bft"
    assert paired["nll"]["mean"] == pytest.approx(((1.4 - 1.5) + (1.5 - 1.7)) / 2)
    md = (out / "results.md").read_text()
    assert md.endswith("\n![summary](summary.png)\n")
    assert "| base |" in md and "## Each arm minus sft, paired by seed" in md
    for note in _notes(result):
        assert f"- {note}" in md
    assert (out / "summary.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_notes_report_times_and_settings(result):
    notes = " ".join(_notes(result))
    assert "Wall time 2.0 min for this invocation" in notes  # 120 s
    assert "sums to 1.5 min" in notes  # 90 s over the arms
    s = result.settings
    assert f"Training: {s.max_steps} steps x {s.batch_size} x 1 samples" in notes
    assert "full fine-tuning" in notes and "48 training records" in notes
