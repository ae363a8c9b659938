from __future__ import annotations

import json
import re
import time

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


# ------------------------------------------------------------- issue 15 mutation run
def _hand_result(**kw):
    base = dict(
        roc_auc=0.81234567,
        pr_auc=0.70123456,
        accuracy=0.61111111,
        features="sum",
        classifier="logistic",
        seed=3,
        table_meta={"model": "m-one", "source": "summary"},
        n_raw={"train": 10, "test": 8},
        n_used={"train": 9, "test": 6},
        valid={"roc_auc": 0.55555, "pr_auc": 0.44444, "accuracy": 0.5},
        leakage=1 / 6,
        n_leaky=1,
    )
    return GGIResult(**(base | kw))


def test_result_summary_frame_and_json_report_the_fields():
    res = _hand_result()
    text = res.summary()
    lines = text.split("\n")
    assert str(res) == text and len(lines) == len(res.to_frame()) + 6  # header, frame (+2), 3 lines
    assert "table=m-one/summary" in lines[0] and "seed=3" in lines[0]
    for v in (0.81234567, 0.70123456, 0.61111111):  # the frame at 4 decimals
        assert re.search(rf"{v:.4f}(?!\d)", text)
    assert f"valid ROC-AUC {0.55555:.4f}  PR-AUC {0.44444:.4f}" in text
    # coverage: every split as used/raw, the test share as a percentage (6 / 8)
    assert "train 9/10, test 6/8" in text and "(test 75.0%)" in text
    assert f"leakage: {100 / 6:.2f}% of scored test pairs (1) have one symbol written" in text
    no_leak = _hand_result(leakage=None, n_leaky=None).summary().split("\n")
    assert lines[0].startswith("GGI  table=") and lines[-1].startswith("leakage: ")
    assert no_leak[-1] == "leakage: n/a (no texts given)" and no_leak[0] == lines[0]
    assert "table=?/?" in _hand_result(table_meta={}).summary()

    frame = res.to_frame()
    assert list(frame.columns) == ["roc_auc", "pr_auc", "accuracy", "n_test"]
    assert frame.loc["model"].tolist() == [0.81234567, 0.70123456, 0.61111111, 6]
    assert _hand_result(n_used={}).to_frame().loc["model", "n_test"] == 0

    d = res.to_dict()
    assert d["coverage"] == pytest.approx(6 / 8) and "curves" not in d
    d["n_used"]["test"] = -1  # a deep copy: the record does not alias the result
    assert res.n_used["test"] == 6
    nested = _hand_result(baselines={"random": {"roc_auc": 0.5, "n_test": 6}})
    nested.to_dict()["baselines"]["random"]["roc_auc"] = -1
    assert nested.baselines["random"]["roc_auc"] == 0.5
    assert "curves" not in json.loads(res.to_json())
    assert json.loads(res.to_json()) == json.loads(json.dumps(res.to_dict()))
    assert "\n" not in res.to_json(indent=None) and '\n  "roc_auc"' in res.to_json()


def test_random_table_seed_and_metadata():
    table, _, _ = planted(n_genes=50)
    a, b, c = random_table(table), random_table(table, seed=0), random_table(table, seed=7)
    assert a.equals(b) and not a.equals(c)  # default seed 0, reproducible, seed-dependent
    assert random_table(table, seed=7).equals(c)
    meta = c.attrs["biobft"]
    assert meta["model"] == "random-normal" and meta["seed"] == 7


def test_evaluate_pairs_options_reach_model_baselines_and_result():
    table, train, test = _split(n_pairs=2000)
    rng = np.random.default_rng(1)
    name = make_table(rng.standard_normal(table.shape), list(table.index), model="n", source="name")
    kw = dict(
        features=["sum", "hadamard"],
        classifier="random_forest",
        params={"n_estimators": 7, "min_samples_leaf": 3},
        seed=5,
    )
    t0 = time.perf_counter()
    res = evaluate_pairs(table, train, test, name_table=name, **kw)
    wall = time.perf_counter() - t0
    assert (res.features, res.classifier, res.seed) == ("sum+hadamard", "random_forest", 5)
    m = res.model
    clf = m.pipeline.named_steps["clf"]
    assert (m.features, m.classifier, m.seed) == ("sum+hadamard", "random_forest", 5)
    assert (clf.n_estimators, clf.min_samples_leaf, clf.random_state) == (7, 3, 5)
    assert res.table_meta["model"] == table.attrs["biobft"]["model"]
    assert 0 <= res.fit_seconds <= wall
    assert res.valid is None and res.leakage is None and res.n_leaky is None
    # the name baseline is the same configuration fitted on the name table: compare with a
    # direct run on that table (it covers every gene, so the pairs are the same)
    direct = evaluate_pairs(name, train, test, random_baseline=False, **kw)
    assert res.baselines["name"]["roc_auc"] == pytest.approx(direct.roc_auc)
    assert res.baselines["name"]["pr_auc"] == pytest.approx(direct.pr_auc)
    # each curve integrates to its ROC-AUC (independent of how it was stored)
    for k, auc in [("model", res.roc_auc), ("name", res.baselines["name"]["roc_auc"])]:
        assert np.trapezoid(res.curves[k]["tpr"], res.curves[k]["fpr"]) == pytest.approx(auc)
    # accuracy is at the 0.5 threshold: far above the majority share for a strong model
    base_rate = float(test.label.mean())
    assert res.accuracy > max(base_rate, 1 - base_rate) + 0.1
    # the random baseline follows the seed
    r1 = evaluate_pairs(table, train, test, seed=1).baselines["random"]["roc_auc"]
    assert r1 == evaluate_pairs(table, train, test, seed=1).baselines["random"]["roc_auc"]
    assert r1 != evaluate_pairs(table, train, test).baselines["random"]["roc_auc"]
    assert evaluate_pairs(table, train, test, random_baseline=False).seed == 0


def test_evaluate_pairs_errors_name_the_input(caplog):
    table, train, test = _split(n_pairs=2000)
    nan = table.copy()
    nan.iloc[0, 0] = np.nan
    with pytest.raises(ValueError, match=r"^name_table has"):
        evaluate_pairs(table, train, test, name_table=nan)
    with pytest.raises(ValueError, match=r"^test pairs\['label'\]"):
        evaluate_pairs(table, train, test.assign(label=2))
    with pytest.raises(ValueError, match="must use the same gene symbols"):
        evaluate_pairs(table, train, test.assign(gene_a="X" + test.gene_a))
    # covered pairs of one class only: the error names the covered split
    pos = test[test.label == 1]
    neg = test[test.label == 0].assign(gene_a="X" + test.gene_a)
    with pytest.raises(ValueError, match=r"^covered test pairs\['label'\] is all 1"):
        evaluate_pairs(table, train, pd.concat([pos, neg], ignore_index=True))
    # a name table that covers the train genes and one positive test pair only: its test pairs
    # are one class, so that baseline is skipped with a warning naming why
    pa, pb = pos.gene_a.iloc[0], pos.gene_b.iloc[0]
    keep = set(train.gene_a) | set(train.gene_b) | {pa, pb}
    covered = test[test.gene_a.isin(keep) & test.gene_b.isin(keep)]
    assert set(covered.label) == {1}  # the construction works on this split
    name = table.loc[[g for g in table.index if g in keep]]
    with caplog.at_level("WARNING", logger="biobft.ggi.evaluate"):
        res = evaluate_pairs(table, train, test, name_table=name)
    assert set(res.baselines) == {"random"} and set(res.curves) == {"model", "random"}
    msg = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("skipping the name baseline: name baseline test pairs") for m in msg)
    # the same when the name table covers one positive train pair only
    tpos = train[train.label == 1]
    keep = set(test.gene_a) | set(test.gene_b) | {tpos.gene_a.iloc[0], tpos.gene_b.iloc[0]}
    assert set(train[train.gene_a.isin(keep) & train.gene_b.isin(keep)].label) == {1}
    name = table.loc[[g for g in table.index if g in keep]]
    caplog.clear()
    with caplog.at_level("WARNING", logger="biobft.ggi.evaluate"):
        res = evaluate_pairs(table, train, test, name_table=name, random_baseline=False)
    assert res.baselines == {}
    msg = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("skipping the name baseline: name baseline train pairs") for m in msg)


def test_evaluate_gene2vec_defaults_and_options_match_evaluate_pairs(monkeypatch):
    table, pairs, _ = planted(n_pairs=2000)
    thirds = {"train": pairs.iloc[:1400], "valid": pairs.iloc[1400:1700], "test": pairs.iloc[1700:]}
    calls = []

    def fake(split):
        calls.append(split)
        return thirds[split].reset_index(drop=True)

    import biobft.datasets

    monkeypatch.setattr(biobft.datasets, "gene2vec_pairs", fake)
    res = evaluate_gene2vec(table)
    # defaults: train + test only, random baseline, cleaned pairs, seed 0
    assert sorted(calls) == ["test", "train"] and res.valid is None
    assert set(res.baselines) == {"random"} and set(res.cleaning) == {"train", "test"}
    assert res.seed == 0
    # every option is passed on: the same as evaluate_pairs on the same three splits
    rng = np.random.default_rng(2)
    name = make_table(rng.standard_normal(table.shape), list(table.index), model="n", source="name")
    texts = {g: f"Gene symbol {g}." for g in table.index}
    texts[thirds["test"].gene_a.iloc[0]] += f" Binds {thirds['test'].gene_b.iloc[0]}."
    kw = dict(
        features="sum+hadamard",
        classifier="random_forest",
        params={"n_estimators": 5},
        name_table=name,
        random_baseline=False,
        texts=texts,
        clean=False,
        seed=4,
    )
    got = evaluate_gene2vec(table, use_valid=True, **kw).to_dict()
    ref = evaluate_pairs(table, *(fake(s) for s in ("train", "test")), valid=fake("valid"), **kw)
    ref = ref.to_dict()
    for d in (got, ref):
        d.pop("fit_seconds")
    assert got == ref
    assert got["leakage"] > 0 and set(got["baselines"]) == {"name"} and got["cleaning"] == {}


def test_a_pair_in_train_and_test_is_a_refused_leak():
    """A test pair the model was fitted on (either orientation) inflates the score: refused
    before any fit, unless allow_shared_pairs says it is intended."""
    table, train, test = _split(n_pairs=2000)
    leak = train.iloc[:3].rename(columns={"gene_a": "gene_b", "gene_b": "gene_a"})
    leaky = pd.concat([test, leak], ignore_index=True)
    with pytest.raises(ValueError, match=r"^3 gene pair\(s\) are in both the train and the test"):
        evaluate_pairs(table, train, leaky)
    with pytest.raises(ValueError, match=r"in both the train and the valid pairs"):
        evaluate_pairs(table, train, test, valid=leaky)
    res = evaluate_pairs(table, train, leaky, allow_shared_pairs=True, random_baseline=False)
    assert res.n_used["test"] == len(leaky)
