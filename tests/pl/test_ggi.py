from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

from biobft.pl import roc_curves


def _result():
    from biobft.embed.table import make_table
    from biobft.ggi import evaluate_pairs

    rng = np.random.default_rng(0)
    genes = [f"G{i}" for i in range(120)]
    vec = rng.standard_normal((120, 4))
    table = make_table(vec, genes, model="m", source="s")
    a, b = rng.integers(0, 60, 800), rng.integers(0, 60, 800)
    c, d = rng.integers(60, 120, 300), rng.integers(60, 120, 300)
    import pandas as pd

    def pairs(i, j):
        keep = i != j
        i, j = i[keep], j[keep]
        return pd.DataFrame(
            {
                "gene_a": np.array(genes)[i],
                "gene_b": np.array(genes)[j],
                "label": (vec[i, 0] + vec[j, 0] > 0).astype(np.int8),
            }
        )

    return evaluate_pairs(table, pairs(a, b), pairs(c, d), clean=True)


def test_roc_curves_result_and_ax():
    res = _result()
    fig = roc_curves(res, return_fig=True)
    ax = fig.axes[0]
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels[0] == f"model (AUC {res.roc_auc:.3f})"
    assert labels[1].startswith("random (AUC")
    np.testing.assert_array_equal(ax.get_lines()[0].get_xdata(), res.curves["model"]["fpr"])
    plt.close(fig)

    fig2, ax2 = plt.subplots()
    assert roc_curves(res, ax=ax2, title="t") is None
    assert len(ax2.get_lines()) == 3 and ax2.get_title() == "t"
    plt.close(fig2)


def test_roc_curves_mapping_and_errors():
    fig = roc_curves({"a": {"fpr": [0, 1], "tpr": [0, 1]}}, return_fig=True)
    assert fig.axes[0].get_lines()[0].get_label() == "a"
    plt.close(fig)
    with pytest.raises(KeyError, match="'fpr' and 'tpr'"):
        roc_curves({"a": {"fpr": [0, 1]}})
    with pytest.raises(TypeError, match="GGIResult or a mapping"):
        roc_curves([1, 2])
    with pytest.raises(ValueError, match="no ROC curves"):
        roc_curves({})
