from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from biobft.embed.table import make_table
from biobft.ggi.model import fit, load_model, make_classifier, save_model
from biobft.ggi.nn import PairMLP

FAST = {"hidden_layer_sizes": [16], "max_iter": 40, "batch_size": 128, "n_threads": 1}


def _clusters(seed: int = 0, n_genes: int = 300, n_pairs: int = 4000):
    """label = "both genes in the same cluster": invisible to a linear model on sum features."""
    rng = np.random.default_rng(seed)
    cluster = rng.integers(0, 4, n_genes)
    vec = np.eye(4)[cluster] + 0.1 * rng.standard_normal((n_genes, 4))
    table = make_table(vec, [f"G{i}" for i in range(n_genes)], model="m", source="s")
    a = rng.integers(0, n_genes, n_pairs)
    b = (a + rng.integers(1, n_genes, n_pairs)) % n_genes
    pairs = pd.DataFrame(
        {
            "gene_a": table.index[a],
            "gene_b": table.index[b],
            "label": (cluster[a] == cluster[b]).astype(np.int8),
        }
    )
    return table, pairs.iloc[:3000], pairs.iloc[3000:]


@pytest.mark.parametrize(
    ("features", "params"),
    [("sum+hadamard", {}), ("concat", {"siamese": True, "hidden_layer_sizes": [16, 16]})],
)
def test_torch_mlp_learns_a_nonlinear_interaction(features, params):
    table, train, test = _clusters()
    model = fit(
        table, train, features=features, classifier="torch_mlp", params=FAST | params, seed=0
    )
    auc = roc_auc_score(test.label, model.predict_pairs(table, test))
    lin = fit(table, train, features="sum").predict_pairs(table, test)
    assert auc > 0.95
    assert roc_auc_score(test.label, lin) < 0.75


def test_siamese_is_symmetric_and_deterministic():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((500, 6)).astype(np.float32)
    y = (X[:, 0] * X[:, 3] > 0).astype(int)
    kw = {"siamese": True, "hidden_layer_sizes": [8, 4], "max_iter": 5, "random_state": 3}
    m = PairMLP(**kw).fit(X, y)
    swapped = np.concatenate([X[:, 3:], X[:, :3]], axis=1)
    np.testing.assert_allclose(m.decision_function(X), m.decision_function(swapped), rtol=1e-6)
    m2 = PairMLP(**kw).fit(X, y)
    np.testing.assert_array_equal(m.decision_function(X), m2.decision_function(X))
    m3 = PairMLP(**(kw | {"random_state": 4})).fit(X, y)
    assert not np.allclose(m.decision_function(X), m3.decision_function(X))


def test_numpy_forward_matches_torch_and_early_stopping_keeps_best():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    X = rng.standard_normal((400, 5)).astype(np.float32)
    y = (X[:, 0] + 0.5 * rng.standard_normal(400) > 0).astype(int)
    m = PairMLP(hidden_layer_sizes=[7, 3], max_iter=25, n_iter_no_change=3).fit(X, y)
    # independent reference: a torch forward pass with the stored weights
    h = torch.from_numpy(X)
    for w, b in m.head_:
        h = torch.relu(h @ torch.from_numpy(w) + torch.from_numpy(b))
    z = (h @ torch.from_numpy(m.out_[0]) + torch.from_numpy(m.out_[1]))[:, 0].numpy()
    np.testing.assert_allclose(m.decision_function(X), z, rtol=1e-5, atol=1e-6)
    p = m.predict_proba(X)
    np.testing.assert_allclose(p.sum(1), 1.0)
    np.testing.assert_array_equal(m.predict(X), (p[:, 1] >= 0.5).astype(int))
    assert m.best_loss_ == min(m.validation_loss_curve_)
    assert m.validation_loss_curve_[m.best_epoch_] == m.best_loss_
    assert m.n_iter_ == len(m.loss_curve_) <= 25


def test_torch_mlp_save_load_roundtrip(tmp_path):
    table, train, test = _clusters(n_pairs=3500)
    model = fit(table, train, features="sum+hadamard", classifier="torch_mlp", params=FAST)
    path = save_model(model, tmp_path / "m.skops")
    again = load_model(path)
    np.testing.assert_array_equal(
        model.predict_pairs(table, test), again.predict_pairs(table, test)
    )
    assert again.classifier == "torch_mlp" and again.params == FAST


def test_pair_mlp_bad_input():
    X = np.zeros((20, 3), np.float32)
    y = np.arange(20) % 2
    with pytest.raises(ValueError, match="even number of columns"):
        PairMLP(siamese=True).fit(X, y)
    with pytest.raises(ValueError, match="binary classifier"):
        PairMLP().fit(X, np.ones(20))
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        PairMLP(hidden_layer_sizes=[0]).fit(X, y)
    with pytest.raises(ValueError, match="n_encoder_layers"):
        PairMLP(siamese=True, hidden_layer_sizes=[4], n_encoder_layers=2).fit(
            np.zeros((20, 4), np.float32), y
        )
    with pytest.raises(ValueError, match="dropout"):
        PairMLP(dropout=1.0).fit(X, y)
    with pytest.raises(ValueError, match="3 columns"):
        PairMLP(hidden_layer_sizes=[2], max_iter=1).fit(X, y).predict_proba(np.zeros((2, 4)))
    assert make_classifier("torch_mlp", seed=5).named_steps["clf"].random_state == 5
