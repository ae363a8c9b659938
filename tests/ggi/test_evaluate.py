from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from biobft.embed.table import make_table
from biobft.ggi import evaluate as ev
from biobft.ggi._synthetic import planted
from biobft.ggi.evaluate import GGIResult, evaluate_gene2vec, evaluate_pairs, random_table
from biobft.ggi.splits import gene_disjoint_split


def test_random_table_same_genes_and_dim():
    table, _, _ = planted()
    rnd = random_table(table, seed=1)
    assert rnd.shape == table.shape and rnd.index.equals(table.index)
    assert rnd.attrs["biobft"]["source"] == "random"
    assert abs(float(rnd.to_numpy().std()) - 1) < 0.05


def _split(n_pairs=6000, seed=0):
    table, pairs, _ = planted(n_pairs=n_pairs, seed=seed)
    train, test = gene_disjoint_split(pairs, test_size=0.3, seed=seed)
    return table, train, test


def test_evaluate_pairs_model_beats_name_beats_random():
    table, train, test = _split()
    # name-only stand-in: the same signal blurred with noise
    z = table["0"].to_numpy()
    rng = np.random.default_rng(5)
    name_vec = rng.standard_normal(table.shape)
    name_vec[:, 0] = z + 1.0 * rng.standard_normal(len(z))
    name = make_table(name_vec, list(table.index), model="m", source="name")
    res = evaluate_pairs(table, train, test, features="sum", name_table=name, seed=0)
    # independent reference: the oracle score z_a + z_b on the same test pairs
    zi = pd.Series(z, index=table.index)
    oracle = roc_auc_score(test.label, zi[test.gene_a].to_numpy() + zi[test.gene_b].to_numpy())
    assert res.roc_auc > oracle - 0.02
    assert abs(res.baselines["random"]["roc_auc"] - 0.5) < 0.08
    assert 0.6 < res.baselines["name"]["roc_auc"] < res.roc_auc - 0.03
    assert res.baselines["name"]["n_test"] == res.n_used["test"] == len(test)
    assert 0 < res.pr_auc <= 1 and 0.5 < res.accuracy <= 1
    assert set(res.curves) == {"model", "random", "name"}
    assert res.curves["model"]["fpr"][0] == 0 and res.curves["model"]["tpr"][-1] == 1
    assert res.model is not None and res.model.n_train == len(train)
    frame = res.to_frame()
    assert list(frame.index) == ["model", "random", "name"]


def test_counts_missing_genes_cleaning_and_json(tmp_path):
    table, train, test = _split()
    # 3 self pairs, a reversed duplicate and 5 pairs with an unknown gene in the test split
    extra = pd.DataFrame(
        {
            "gene_a": ["G0001"] * 3 + [test.gene_b[0]] + [f"UNKNOWN{i}" for i in range(5)],
            "gene_b": ["G0001"] * 3 + [test.gene_a[0]] + list(test.gene_a[:5]),
            "label": [1, 1, 1, test.label[0], 0, 1, 0, 1, 0],
        }
    )
    dirty = pd.concat([test, extra], ignore_index=True)
    texts = {g: f"Gene symbol {g}." for g in table.index}
    texts[test.gene_a[1]] += f" Binds {test.gene_b[1]}."
    res = evaluate_pairs(table, train, dirty, random_baseline=False, texts=texts)
    assert res.n_raw["test"] == len(test) + 9
    assert res.cleaning["test"]["n_self"] == 3 and res.cleaning["test"]["n_duplicate"] == 1
    assert res.n_dropped["test"] == 5 and res.n_used["test"] == len(test)
    assert res.coverage == pytest.approx(len(test) / (len(test) + 9))
    assert res.n_leaky == 1 and res.leakage == pytest.approx(1 / len(test))
    assert res.baselines == {}
    raw = evaluate_pairs(table, train, dirty, random_baseline=False, clean=False)
    assert raw.n_used["test"] == len(test) + 4 and raw.cleaning == {}
    d = json.loads(res.to_json(curves=True))
    assert d["roc_auc"] == res.roc_auc and d["n_used"]["test"] == len(test)
    assert len(d["curves"]["model"]["fpr"]) == len(res.curves["model"]["fpr"])
    assert "model" not in d and "curves" not in res.to_dict()
    text = res.summary()
    assert "leakage:" in text and "coverage" in text and "model" in text


def test_evaluate_pairs_bad_input():
    table, train, test = _split(n_pairs=2000)
    with pytest.raises(ValueError, match=r"none of the .* test pairs has both genes"):
        evaluate_pairs(table, train, test.assign(gene_a="X" + test.gene_a))
    with pytest.raises(ValueError, match="all 1"):
        evaluate_pairs(table, train.assign(label=1), test)
    with pytest.raises(ValueError, match="unknown pair feature"):
        evaluate_pairs(table, train, test, features="foo")
    dup = pd.concat([table, table.iloc[:1]])
    with pytest.raises(ValueError, match="duplicate gene symbol"):
        evaluate_pairs(dup, train, test)
    nan = table.copy()
    nan.iloc[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        evaluate_pairs(table, train, test, name_table=nan)


def test_evaluate_gene2vec_uses_the_three_splits(monkeypatch):
    table, pairs, _ = planted(n_pairs=6000)
    thirds = {"train": pairs.iloc[:4000], "valid": pairs.iloc[4000:5000], "test": pairs.iloc[5000:]}
    calls = []

    def fake(split):
        calls.append(split)
        return thirds[split].reset_index(drop=True)

    import biobft.datasets

    monkeypatch.setattr(biobft.datasets, "gene2vec_pairs", fake)
    res = evaluate_gene2vec(table, use_valid=True, random_baseline=False)
    assert sorted(calls) == ["test", "train", "valid"]
    assert res.n_raw == {"train": 4000, "test": len(pairs) - 5000, "valid": 1000}
    assert isinstance(res, GGIResult) and res.valid["roc_auc"] > 0.85


@pytest.mark.realdata
def test_evaluate_gene2vec_real_pairs_random_vectors(data_mirror):
    """Real Gene2vec splits with random 8-d vectors: chance-level AUC, exact raw counts."""
    from biobft.datasets import gene2vec_pairs

    genes = pd.unique(
        pd.concat([gene2vec_pairs(s)[c] for s in ("train", "test") for c in ("gene_a", "gene_b")])
    )
    table = make_table(
        np.random.default_rng(0).standard_normal((len(genes), 8)),
        genes,
        model="random",
        source="random",
    )
    res = evaluate_gene2vec(table, random_baseline=False)
    assert res.n_raw == {"train": 263016, "test": 21448}
    assert res.n_dropped == {"train": 0, "test": 0}
    assert res.n_used["test"] == res.cleaning["test"]["n_clean"]
    assert abs(res.roc_auc - 0.5) < 0.03
    assert ev.SPLITS == ("train", "valid", "test")
