from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from biobft.embed.table import make_table
from biobft.experiment.evaluate import ggi_scores, perturbation_scores, response_nll
from biobft.train.data import load_instruction_dataset

RECORDS = [
    {"prompt": "Tell me about gene TP53 .", "response": "This gene encodes a tumor suppressor ."},
    {
        "prompt": "Tell me about gene KLF1 .",
        "response": "A transcription factor in erythroid cells .",
    },
    {
        "prompt": "hello",
        "response": "The protein binds DNA and regulates transcription , apoptosis",
    },
]


def _naive(model, dataset):
    """Per-sample loop: F.cross_entropy over the labelled response tokens."""
    nll, ok, n = 0.0, 0, 0
    with torch.no_grad():
        for f in dataset:
            ids = torch.tensor([f["input_ids"]])
            labels = torch.tensor(f["labels"])
            logits = model(input_ids=ids).logits[0]
            for t in range(len(labels) - 1):
                y = labels[t + 1]
                if y == -100:
                    continue
                nll += float(F.cross_entropy(logits[t : t + 1].double(), y[None]))
                ok += int(logits[t].argmax() == y)
                n += 1
    return nll / n, ok / n, n


@pytest.mark.parametrize("batch_size", [1, 2, 8])
def test_response_nll_matches_naive_loop(tiny_lm, batch_size):
    model, tok = tiny_lm
    ds = load_instruction_dataset(RECORDS, tok, max_length=64)
    nll, acc, n = _naive(model, ds)
    got = response_nll(model, ds, tok, batch_size=batch_size)  # right padding within batches
    assert got["n_tokens"] == n
    assert got["nll"] == pytest.approx(nll, rel=1e-5)
    assert got["ppl"] == pytest.approx(np.exp(nll), rel=1e-5)
    assert got["token_accuracy"] == pytest.approx(acc)
    assert not model.training


def test_response_nll_uniform_logits_is_log_vocab(tiny_lm):
    model, tok = tiny_lm
    with torch.no_grad():  # zero output layer: uniform next-token distribution, NLL = log V
        model.lm_head.weight = torch.nn.Parameter(torch.zeros_like(model.lm_head.weight))
    ds = load_instruction_dataset(RECORDS[:2], tok, max_length=64)
    got = response_nll(model, ds, tok)
    assert got["nll"] == pytest.approx(np.log(model.config.vocab_size), rel=1e-6)


def test_response_nll_bad_input(tiny_lm):
    model, tok = tiny_lm
    with pytest.raises(ValueError, match="dataset is empty"):
        response_nll(model, [], tok)
    ds = load_instruction_dataset(RECORDS[:1], tok, max_length=64)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        response_nll(model, ds, tok, batch_size=0)
    unlabeled = [{**ds[0], "labels": [-100] * len(ds[0]["labels"])}]
    with pytest.raises(ValueError, match="no labelled"):
        response_nll(model, unlabeled, tok)


def _pairs(genes, rng, n):
    a, b = rng.choice(len(genes), size=(2, n))
    return pd.DataFrame({"gene_a": np.array(genes)[a], "gene_b": np.array(genes)[b]})


def test_ggi_scores_perfect_and_random_tables():
    rng = np.random.default_rng(0)
    genes = [f"G{i}" for i in range(60)]
    score = rng.standard_normal(60)
    table = make_table(np.c_[score, rng.standard_normal((60, 3))], genes, model="t", source="t")
    train, test = _pairs(genes[:30], rng, 300), _pairs(genes[30:], rng, 200)
    for df in (train, test):  # label = sum of the planted scores > 0: linear in "sum" features
        s = table.loc[df["gene_a"], "0"].to_numpy() + table.loc[df["gene_b"], "0"].to_numpy()
        df["label"] = (s > 0).astype(int)
    out = ggi_scores(table, train, test, seed=0)
    assert out["roc_auc"] > 0.99
    assert 0.3 < out["random_roc_auc"] < 0.7
    assert out["n_test_pairs"] <= 200 and out["n_train_pairs"] > 100
    assert out["leakage"] is None


def test_perturbation_scores_recovers_planted_effects():
    from biobft.perturb._synthetic import synthetic_perturbation_data
    from biobft.tl import evaluate_perturbation

    adata, table, _ = synthetic_perturbation_data(seed=0)
    got = perturbation_scores(adata, embedding=table, predictors=("ridge", "train_mean"))
    ref = evaluate_perturbation(adata, embedding=table, predictors=["ridge", "train_mean"],
                                missing="mean", control="control")  # fmt: skip
    for name in ("ridge", "train_mean"):
        sub = ref[ref["predictor"] == name]
        assert got[name]["mean"] == pytest.approx(sub["pearson_delta"].mean())
        assert got[name]["n_conditions"] == len(sub)
    assert got["ridge"]["mean"] > 0.5  # planted linear effects are recovered


def test_perturbqa_scores_planted_table_vs_random():
    from biobft.embed.table import make_table
    from biobft.experiment.evaluate import perturbqa_scores

    rng = np.random.default_rng(0)
    perts = [f"P{i}" for i in range(60)]
    prog = np.arange(60) % 2
    rows = [
        (p, f"G{j}", int(rng.random() < (0.85 if (j % 2) == prog[i] else 0.15)))
        for i, p in enumerate(perts)
        for j in range(16)
    ]
    pairs = pd.DataFrame(rows, columns=["pert", "gene", "label"])
    pairs["split"] = np.where(pairs["pert"].isin(perts[:15]), "test", "train")
    table = make_table(np.eye(6)[prog] + 0.2 * rng.normal(size=(60, 6)), perts, model="t",
                       source="t")  # fmt: skip
    rec = perturbqa_scores(table.iloc[1:], pairs, seed=0)  # P0 (a test knockdown) not embedded
    assert rec["auroc_per_gene"] > 0.8
    assert rec["auroc_per_gene"] > rec["random_auroc_per_gene"] + 0.2
    assert rec["n_test_perturbations"] == 14
    assert rec["perturbation_coverage"] == pytest.approx(14 / 15)
