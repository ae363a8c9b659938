from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from biobft.experiment.report import plot_summary, summarize, to_markdown


@pytest.fixture
def runs():
    rng = np.random.default_rng(0)
    rows = [{"arm": "base", "seed": None, "nll": 2.0, "ggi_hidden_roc_auc": 0.6}]
    for arm in ("sft", "bft"):
        for seed in (0, 1, 2):
            rows.append({"arm": arm, "seed": seed, "nll": 1.5 + rng.random(),
                         "ggi_hidden_roc_auc": 0.6 + 0.1 * rng.random()})  # fmt: skip
    return pd.DataFrame(rows)


def test_summarize_mean_sd_matches_numpy(runs):
    s = summarize(runs)
    assert list(s.index) == ["base", "sft", "bft"]
    assert list(s["n_seeds"]) == [1, 3, 3]
    for arm in ("sft", "bft"):
        vals = runs.loc[runs["arm"] == arm, "nll"].to_numpy()
        assert s.loc[arm, "nll_mean"] == pytest.approx(np.mean(vals))
        assert s.loc[arm, "nll_sd"] == pytest.approx(np.std(vals, ddof=1))
    assert np.isnan(s.loc["base", "nll_sd"])
    with pytest.raises(KeyError, match="no metric column"):
        summarize(runs, metrics=["nope"])
    with pytest.raises(KeyError, match="no column 'group'"):
        summarize(runs, by="group")


def test_markdown_and_plot(runs, tmp_path):
    s = summarize(runs)
    md = to_markdown(s, settings={"max_steps": 3}, baselines={"random": 0.5}, notes=["hi"])
    sft = runs.loc[runs["arm"] == "sft", "nll"]
    assert f"| sft | 3 | {sft.mean():.3f} ± {sft.std(ddof=1):.3f} |" in md
    assert "| base | 1 | 2.000 | 0.600 |" in md
    assert "| max_steps | `3` |" in md and "| random | 0.500 |" in md and "- hi" in md
    path = plot_summary(s, tmp_path / "plot.png", baselines={"ggi_hidden_roc_auc": 0.55})
    assert path.is_file() and path.stat().st_size > 1000
    with pytest.raises(ValueError, match="no <metric>_mean column"):
        plot_summary(s[["n_seeds"]], tmp_path / "x.png")
