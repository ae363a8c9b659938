"""The data of one experiment, built once: evaluation genes, GGI pairs, Norman 2019 cells,
PerturbQA pairs and the gene-disjoint instruction data (:func:`_prepare`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from .data import (
    instruction_split,
    perturbation_genes,
    perturbqa_subset,
    select_genes,
    strip_symbol_prefix,
    subset_pairs,
)
from .settings import ExperimentSettings

__all__: list[str] = []


@dataclass
class _Context:
    settings: ExperimentSettings
    refseq: pd.Series  # symbol -> GenePT-style "Gene symbol X. <summary>"
    ggi_train: pd.DataFrame
    ggi_test: pd.DataFrame
    adata: Any
    genes: list[str]  # every gene embedded / described per model
    train_records: list[dict]
    eval_records: list[dict]
    info: dict[str, Any]
    perturbqa: pd.DataFrame | None = None  # PerturbQA K562 DE pairs of the sampled knockdowns


def _prepare(settings: ExperimentSettings) -> _Context:
    """Load the data, pick the evaluation genes, build the gene-disjoint instruction data."""
    from biobft import datasets
    from biobft.ggi import clean_pairs
    from biobft.text import gene_texts

    refseq = gene_texts(None, source="refseq")
    have_text = set(refseq.index.astype(str))
    g2v_train, _ = clean_pairs(datasets.gene2vec_pairs("train"))
    g2v_test, _ = clean_pairs(datasets.gene2vec_pairs("test"))
    all_test_genes = set(g2v_test["gene_a"].astype(str)) | set(g2v_test["gene_b"].astype(str))
    s = settings
    train_genes = select_genes(
        g2v_train, s.n_ggi_train_genes, candidates=have_text, seed=s.data_seed
    )
    test_genes = select_genes(g2v_test, s.n_ggi_test_genes, candidates=have_text, seed=s.data_seed)
    ggi_train = subset_pairs(g2v_train, train_genes, name="Gene2vec train pairs")
    ggi_test = subset_pairs(g2v_test, test_genes, name="Gene2vec test pairs")

    adata = datasets.perturbench_devel("norman19")
    pert_genes = perturbation_genes(adata.obs["condition"].astype(str).unique())
    genes = list(dict.fromkeys([*train_genes, *test_genes, *pert_genes]))

    # PerturbQA K562 DE (non-commercial data): every test knockdown stays out of training
    pqa = datasets.perturbqa(cell_line="k562", task="de")
    pqa_test_all = set(pqa.loc[pqa["split"] == "test", "pert"].astype(str))
    pqa_pairs = None
    if s.n_perturbqa_test and s.n_perturbqa_train:
        pqa_pairs = perturbqa_subset(pqa, n_test=s.n_perturbqa_test, n_train=s.n_perturbqa_train,
                                     candidates=have_text, seed=s.data_seed)  # fmt: skip
        genes = list(dict.fromkeys([*genes, *sorted(set(pqa_pairs["pert"]))]))

    exclude = all_test_genes | set(genes) | pqa_test_all
    train_records, eval_records = instruction_split(
        strip_symbol_prefix(refseq),
        n_train_genes=s.n_train_genes,
        n_eval_genes=s.n_eval_genes,
        exclude_genes=exclude,
        prompt_template=s.prompt,
        seed=s.data_seed,
    )
    info = {
        "n_ggi_train_pairs": len(ggi_train),
        "n_ggi_test_pairs": len(ggi_test),
        "ggi_test_positive_share": float(ggi_test["label"].mean()),
        "n_gene2vec_test_pairs_total": len(g2v_test),
        "n_perturbation_genes": len(pert_genes),
        "n_perturbation_genes_with_refseq": len(set(pert_genes) & have_text),
        "n_genes_described": len(genes),
        "n_excluded_from_training": len(exclude),
        "n_train_records": len(train_records),
        "n_eval_records": len(eval_records),
        "n_perturbqa_pairs": 0 if pqa_pairs is None else len(pqa_pairs),
        "n_perturbqa_test_knockdowns": 0 if pqa_pairs is None else int(
            pqa_pairs.loc[pqa_pairs["split"] == "test", "pert"].nunique()),
        "n_perturbqa_train_knockdowns": 0 if pqa_pairs is None else int(
            pqa_pairs.loc[pqa_pairs["split"] == "train", "pert"].nunique()),
    }  # fmt: skip
    return _Context(s, refseq, ggi_train, ggi_test, adata, genes, train_records, eval_records,
                    info, pqa_pairs)  # fmt: skip
