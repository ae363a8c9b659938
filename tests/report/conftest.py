"""Fixtures of tests/report: one small real-data benchmark run shared by its test files."""

from __future__ import annotations

import pandas as pd
import pytest

from biobft import datasets
from biobft.report import run_benchmark


@pytest.fixture(scope="session")
def genes(data_mirror) -> list[str]:
    """Norman 2019 perturbed genes plus the genes of the most frequent Gene2vec pairs."""
    adata = datasets.perturbench_devel(dataset="norman19")
    perturbed = {g for c in adata.obs["condition"].unique() for g in str(c).split("+")}
    out = sorted(perturbed - {"control"})
    for split, n in (("train", 120), ("valid", 60), ("test", 60)):
        pairs = datasets.gene2vec_pairs(split)
        counts = pd.concat([pairs.gene_a, pairs.gene_b]).value_counts()
        out += list(counts.index[:n])
    return sorted(set(out))


@pytest.fixture(scope="session")
def result(genes):
    # the PerturbQA section is tested in tests/report/test_perturbqa.py
    return run_benchmark(
        genes=genes, predictors=["no_change", "train_mean", "ridge"], perturbqa=False
    )
