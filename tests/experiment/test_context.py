"""The data of one experiment run (real data from the mirror)."""

from __future__ import annotations

from biobft.experiment.context import _prepare
from biobft.experiment.settings import PRESETS, _settings


def test_prepare_keeps_every_evaluation_gene_out_of_training(data_mirror):
    """The real-data half of the quick path (fast): splits, exclusion, pair subsets."""
    from biobft import datasets

    ctx = _prepare(_settings(True, {}))
    test = datasets.gene2vec_pairs("test")
    test_genes = set(test["gene_a"]) | set(test["gene_b"])
    trained = {r["gene"] for r in ctx.train_records}
    held_out = {r["gene"] for r in ctx.eval_records}
    assert len(trained) == PRESETS["quick"]["n_train_genes"]
    assert len(held_out) == PRESETS["quick"]["n_eval_genes"]
    assert not (trained | held_out) & (test_genes | set(ctx.genes)) and not trained & held_out
    assert {"KLF1", "MAP2K6"} <= set(ctx.genes)  # Norman 2019 genes are described
    for pairs in (ctx.ggi_train, ctx.ggi_test):
        assert set(pairs["label"]) == {0, 1}
        assert set(pairs["gene_a"]) | set(pairs["gene_b"]) <= set(ctx.genes)
    assert set(ctx.ggi_test["gene_a"]) <= test_genes
    assert ctx.info["n_excluded_from_training"] >= len(test_genes)
    # PerturbQA K562: every test knockdown stays out of training; the sample is scored
    pqa = datasets.perturbqa(cell_line="k562", task="de")
    pqa_test = set(pqa.loc[pqa["split"] == "test", "pert"])
    assert not (trained | held_out) & pqa_test
    sample = ctx.perturbqa.groupby("split")["pert"].nunique()
    assert sample["test"] == PRESETS["quick"]["n_perturbqa_test"]
    assert sample["train"] == PRESETS["quick"]["n_perturbqa_train"]
    assert set(ctx.perturbqa["pert"]) <= set(ctx.genes) & set(ctx.refseq.index)
    assert not ctx.train_records[0]["response"].startswith("Gene symbol")
