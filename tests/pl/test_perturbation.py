from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from biobft.pl._perturbation import delta_scatter, metric_bars


def test_delta_scatter_draws_points_and_r():
    rng = np.random.default_rng(0)
    ctrl = rng.normal(size=30)
    obs = ctrl + rng.normal(size=30)
    ax = delta_scatter(obs, obs, ctrl, genes=[f"g{i}" for i in range(30)], highlight=[1, 2])
    assert ax.get_title().endswith("r = 1.00")
    assert len(ax.collections) == 2 and len(ax.collections[0].get_offsets()) == 30
    fig, given = plt.subplots()
    assert delta_scatter(obs, ctrl, ctrl, ax=given, return_fig=True) is fig
    with pytest.raises(ValueError, match="same shape"):
        delta_scatter(obs[:3], obs, ctrl)
    plt.close("all")


def test_metric_bars_heights_are_means():
    df = pd.DataFrame({"predictor": ["a", "a", "b", "b"], "group": ["s"] * 4,
                       "pearson_delta": [0.2, 0.4, 0.6, 0.8]})  # fmt: skip
    ax = metric_bars(df)
    heights = [p.get_height() for p in ax.patches]
    np.testing.assert_allclose(heights, [0.3, 0.7])
    with pytest.raises(KeyError, match="no column 'rmse'"):
        metric_bars(df, metric="rmse")
    plt.close("all")


def test_delta_scatter_title_is_the_pearson_of_the_changes():
    from scipy import stats

    rng = np.random.default_rng(4)
    ctrl = rng.gamma(2.0, scale=3.0, size=80)
    obs = ctrl + rng.normal(size=80)
    pred = ctrl + 0.4 * (obs - ctrl) + rng.normal(size=80)
    r = stats.pearsonr(pred - ctrl, obs - ctrl)[0]
    assert abs(r - stats.pearsonr(pred, obs)[0]) > 0.1  # raw profiles would give another r
    ax = delta_scatter(pred, obs, ctrl, title="KLF1")
    assert ax.get_title() == f"KLF1: r = {r:.2f}"
    x, y = ax.collections[0].get_offsets().T
    np.testing.assert_allclose(x, obs - ctrl)  # observed change on x, predicted on y
    np.testing.assert_allclose(y, pred - ctrl)
    plt.close("all")
