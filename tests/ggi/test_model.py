from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from biobft.ggi._synthetic import planted
from biobft.ggi.model import (
    CLASSIFIERS,
    GGIModel,
    fit,
    load_model,
    make_classifier,
    predict_pairs,
    save_model,
)
from biobft.ggi.splits import gene_disjoint_split


def test_registry_pipelines_scale_and_fix_seeds():
    for name in CLASSIFIERS:
        pipe = make_classifier(name, seed=7)
        assert [s for s, _ in pipe.steps] == ["scale", "clf"]
        assert pipe.named_steps["clf"].get_params()["random_state"] == 7
    assert make_classifier("logistic", C=0.1).named_steps["clf"].C == 0.1
    with pytest.raises(ValueError, match=r"unknown classifier 'svm'.*logistic"):
        make_classifier("svm")


def test_logistic_reaches_oracle_auc_on_unseen_genes():
    table, pairs, _ = planted(n_pairs=8000)
    train, test = gene_disjoint_split(pairs, test_size=0.3, seed=0)
    model = fit(table, train, features="sum", seed=0)
    p = model.predict_pairs(table, test)
    z = table["0"].to_numpy(dtype=float)
    oracle = roc_auc_score(
        test.label,
        z[table.index.get_indexer(test.gene_a)] + z[table.index.get_indexer(test.gene_b)],
    )
    assert oracle > 0.9
    assert roc_auc_score(test.label, p) > oracle - 0.02
    assert model.n_train == len(train) and model.dim == 16 and model.features == "sum"


def test_predict_pairs_missing_genes_and_symmetry():
    table, pairs, _ = planted(n_pairs=3000)
    new = pd.DataFrame(
        {"gene_a": ["G0001", "NOPE", "G0002"], "gene_b": ["G0003", "G0001", "G0001"]}
    )
    swapped = new.rename(columns={"gene_a": "gene_b", "gene_b": "gene_a"})
    for spec in ("sum+hadamard", "concat"):
        model = fit(table, pairs, features=spec)
        p = predict_pairs(model, table, new)
        assert np.isnan(p[1]) and np.isfinite(p[[0, 2]]).all()
        np.testing.assert_allclose(p, predict_pairs(model, table, swapped), rtol=1e-12)


def test_fit_bad_input():
    table, pairs, _ = planted(n_pairs=500)
    with pytest.raises(ValueError, match=r"none of the .* training pairs has both genes"):
        fit(table, pairs.assign(gene_a="XX" + pairs.gene_a))
    with pytest.raises(ValueError, match="all 1"):
        fit(table, pairs.assign(label=1))
    with pytest.raises(ValueError, match="unknown pair feature"):
        fit(table, pairs, features="foo")
    nan = table.copy()
    nan.iloc[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fit(nan, pairs)
    model = fit(table, pairs)
    with pytest.raises(ValueError, match="16-dimensional"):
        predict_pairs(model, table.iloc[:, :8], pairs)


@pytest.mark.parametrize(
    ("classifier", "params"),
    [
        ("logistic", None),
        ("random_forest", {"n_estimators": 10}),
        ("mlp", {"hidden_layer_sizes": [8], "max_iter": 20}),
    ],
)
@pytest.mark.filterwarnings("ignore:Stochastic Optimizer.*:sklearn.exceptions.ConvergenceWarning")
def test_save_load_roundtrip(tmp_path, classifier, params):
    table, pairs, _ = planted(n_pairs=1500)
    model = fit(table, pairs, features="sum+abs_diff", classifier=classifier, params=params, seed=1)
    path = save_model(model, tmp_path / "m.skops")
    loaded = load_model(path)
    assert isinstance(loaded, GGIModel)
    assert (loaded.features, loaded.classifier, loaded.dim, loaded.seed, loaded.n_train) == (
        "sum+abs_diff",
        classifier,
        16,
        1,
        len(pairs),
    )
    assert loaded.table_meta["source"] == "planted"
    np.testing.assert_array_equal(
        predict_pairs(loaded, table, pairs), predict_pairs(model, table, pairs)
    )
    assert [p.name for p in tmp_path.iterdir()] == ["m.skops"]  # no temp file left


def test_load_refuses_foreign_types(tmp_path):
    import skops.io as sio
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    path = tmp_path / "evil.skops"
    pipe = Pipeline([("f", FunctionTransformer(eval))])
    sio.dump({"pipeline": pipe, "meta": "{}"}, path)
    with pytest.raises(ValueError, match=r"allow-list.*builtins.eval"):
        load_model(path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_model(tmp_path / "nothing.skops")
    with pytest.raises(TypeError, match="GGIModel"):
        save_model("not a model", tmp_path / "x.skops")
    assert not (tmp_path / "x.skops").exists()


@pytest.mark.filterwarnings("ignore:Stochastic Optimizer.*:sklearn.exceptions.ConvergenceWarning")
def test_mlp_learns_a_nonlinear_interaction():
    # label = "same cluster": invisible to a linear model on sum features, easy for an MLP
    rng = np.random.default_rng(0)
    n_genes, k = 300, 4
    cluster = rng.integers(0, k, n_genes)
    vec = np.eye(k)[cluster] + 0.1 * rng.standard_normal((n_genes, k))
    from biobft.embed.table import make_table

    table = make_table(vec, [f"G{i}" for i in range(n_genes)], model="m", source="s")
    a = rng.integers(0, n_genes, 4000)
    b = (a + rng.integers(1, n_genes, 4000)) % n_genes
    pairs = pd.DataFrame(
        {
            "gene_a": table.index[a],
            "gene_b": table.index[b],
            "label": (cluster[a] == cluster[b]).astype(np.int8),
        }
    )
    train, test = pairs.iloc[:3000], pairs.iloc[3000:]
    auc = {}
    for clf in ("logistic", "mlp"):
        m = fit(
            table,
            train,
            features="sum",
            classifier=clf,
            params=None
            if clf == "logistic"
            else {"hidden_layer_sizes": [32], "max_iter": 200, "n_iter_no_change": 20},
        )
        auc[clf] = roc_auc_score(test.label, m.predict_pairs(table, test))
    assert auc["mlp"] > 0.95
    assert auc["logistic"] < 0.75


def test_blockwise_scaler_fit_matches_sklearn_pipeline_fit():
    """fit() scales block by block (no full-size temporaries): same model as Pipeline.fit."""
    from biobft.ggi.model import _fit_pipeline

    rng = np.random.default_rng(0)
    X = (rng.standard_normal((5000, 12)) * rng.uniform(0.1, 5, 12) + 3).astype(np.float32)
    y = (X[:, 0] - 3 + rng.standard_normal(5000) > 0).astype(np.int64)
    ref = make_classifier("logistic", seed=0, C=0.01).fit(X.copy(), y)
    ours = make_classifier("logistic", seed=0, C=0.01)
    _fit_pipeline(ours, X.copy(), y, block=333)
    np.testing.assert_allclose(ours[0].mean_, ref[0].mean_, rtol=1e-12)
    np.testing.assert_allclose(ours[0].scale_, ref[0].scale_, rtol=1e-12)
    np.testing.assert_allclose(ours[-1].coef_, ref[-1].coef_, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(
        ours.predict_proba(X.copy()), ref.predict_proba(X.copy()), rtol=1e-5, atol=1e-7
    )
