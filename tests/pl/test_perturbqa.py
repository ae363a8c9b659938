from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from biobft.pl import perturbqa_auroc


def test_perturbqa_auroc_marks_means_and_reference_lines():
    per_gene = pd.DataFrame({"knn": [0.6, 0.8, np.nan], "base_rate": [0.5, 0.5, 0.5]})
    ax = perturbqa_auroc(per_gene, published=("SUMMER", 0.62), title="K562 DE")
    means = ax.collections[0].get_offsets()[:, 1]
    np.testing.assert_allclose(means, [0.7, 0.5])  # NaN left out of the mean
    ys = sorted(line.get_ydata()[0] for line in ax.lines if len(set(line.get_ydata())) == 1)
    assert 0.5 in ys and 0.62 in ys
    assert ax.get_title() == "K562 DE"
    fig, given = plt.subplots()
    assert perturbqa_auroc(per_gene, ax=given, return_fig=True) is fig
    with pytest.raises(ValueError, match="gene x predictor"):
        perturbqa_auroc(pd.DataFrame())
    plt.close("all")
