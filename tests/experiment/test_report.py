from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from biobft.experiment.report import paired_differences, plot_summary, summarize, to_markdown


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


def test_markdown_and_plot(runs, tmp_path, monkeypatch):
    s = summarize(runs)
    md = to_markdown(s, settings={"max_steps": 3}, baselines={"random": 0.5}, notes=["hi"])
    sft = runs.loc[runs["arm"] == "sft", "nll"]
    assert f"| sft | 3 | {sft.mean():.3f} ± {sft.std(ddof=1):.3f} |" in md
    assert "| base | 1 | 2.000 | 0.600 |" in md
    assert "| max_steps | `3` |" in md and "| random | 0.500 |" in md and "- hi" in md
    path = plot_summary(s, tmp_path / "plot.png", baselines={"ggi_hidden_roc_auc": 0.55})
    assert path.is_file() and path.stat().st_size > 1000
    import matplotlib.pyplot as plt

    fig_calls = []
    real = plt.Figure.savefig

    def spy(fig, *args, **kwargs):
        fig_calls.append(fig)
        return real(fig, *args, **kwargs)

    monkeypatch.setattr(plt.Figure, "savefig", spy)
    plot_summary(
        s, tmp_path / "l.png", baselines={"nll": (1.9, "MiniLM"), "ggi_hidden_roc_auc": 0.5}
    )
    labels = [t.get_text() for ax in fig_calls[0].axes if ax.get_legend()
              for t in ax.get_legend().get_texts()]  # fmt: skip
    assert labels == ["MiniLM", "reference"]
    with pytest.raises(ValueError, match="no <metric>_mean column"):
        plot_summary(s[["n_seeds"]], tmp_path / "x.png")


def test_paired_differences_match_a_loop_and_scipy(runs):
    from scipy import stats

    runs = pd.concat([runs, pd.DataFrame([{"arm": "dft", "seed": 1, "nll": 9.0,
                                           "ggi_hidden_roc_auc": 0.1}])])  # fmt: skip
    d = paired_differences(runs, reference="sft").set_index(["arm", "metric"])
    assert list(dict.fromkeys(a for a, _ in d.index)) == ["bft", "dft"]  # base has no seed
    sft = runs[runs["arm"] == "sft"].set_index("seed")
    bft = runs[runs["arm"] == "bft"].set_index("seed")
    for m in ("nll", "ggi_hidden_roc_auc"):
        diffs = [bft.loc[s, m] - sft.loc[s, m] for s in (0, 1, 2)]
        row = d.loc[("bft", m)]
        assert row["mean"] == pytest.approx(np.mean(diffs))
        assert row["sd"] == pytest.approx(np.std(diffs, ddof=1))
        assert row["n_seeds"] == 3 and row["n_higher"] == sum(x > 0 for x in diffs)
        assert row["p_value"] == pytest.approx(stats.ttest_rel(bft[m], sft[m]).pvalue)
    # an arm with one shared seed: its difference, no sd, no test
    one = d.loc[("dft", "nll")]
    assert one["mean"] == pytest.approx(9.0 - sft.loc[1, "nll"]) and one["n_seeds"] == 1
    assert np.isnan(one["sd"]) and np.isnan(one["p_value"])
    assert paired_differences(runs[runs["arm"] != "sft"], reference="sft").empty
    md = to_markdown(summarize(runs), paired=paired_differences(runs, reference="sft"))
    assert "## Each arm minus sft, paired by seed" in md
    row = d.loc[("bft", "nll")]
    assert (f"| bft | {row['mean']:.3f} ± {row['sd']:.3f} ({int(row['n_higher'])}/3 higher, "
            f"p {row['p_value']:.2g}) |") in md  # fmt: skip
