"""Experiment data: loss variants, evaluation genes and the gene-disjoint instruction split.

Every gene that any evaluation scores -- the Gene2vec test genes (all of them, not only the
sampled ones), the Gene2vec train genes whose pairs fit the GGI classifier, the perturbed genes of
Norman 2019, every PerturbQA K562 test knockdown and the sampled PerturbQA training knockdowns --
is kept out of fine-tuning, so every metric measures what a model says about genes
it never saw during alignment. The held-out NLL genes are disjoint from the training genes too.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

__all__ = [
    "LOSS_VARIANTS",
    "check_loss_types",
    "instruction_split",
    "perturbation_genes",
    "perturbqa_subset",
    "select_genes",
    "subset_pairs",
]

LOSS_VARIANTS: dict[str, dict[str, Any]] = {
    "sft": {"loss_type": "sft"},
    "dft": {"loss_type": "dft"},
    "bft": {"loss_type": "bft", "bft_variant": "released"},
    "bft_gn": {"loss_type": "bft", "bft_variant": "group_normalized"},
    "p_alpha": {"loss_type": "p_alpha", "alpha": 0.5},
    "chord_phi": {"loss_type": "chord_phi"},
}
"""Experiment arm -> :class:`biobft.train.BFTConfig` options. ``bft`` is the released BFT loss,
``bft_gn`` its group-normalised variant; ``p_alpha`` weights each token by ``sg(p) ** 0.5``,
halfway between SFT (``alpha = 0``) and DFT (``alpha = 1``, which would duplicate the ``dft``
arm)."""


def check_loss_types(loss_types: Iterable[str] | str) -> list[str]:
    """Validate experiment arm names (order kept, duplicates dropped).

    Raises
    ------
    ValueError
        An unknown name (the message lists the valid ones) or an empty list.
    """
    if isinstance(loss_types, str):
        loss_types = [t for t in loss_types.replace(",", " ").split() if t]
    names = list(dict.fromkeys(str(t) for t in loss_types))
    if not names:
        raise ValueError(f"loss_types is empty; choose from {', '.join(LOSS_VARIANTS)}")
    bad = [t for t in names if t not in LOSS_VARIANTS]
    if bad:
        raise ValueError(
            f"unknown loss type(s) {bad}; valid loss types: {', '.join(LOSS_VARIANTS)}"
        )
    return names


def select_genes(
    pairs: pd.DataFrame,
    n: int,
    *,
    candidates: Iterable[str] | None = None,
    seed: int = 0,
) -> list[str]:
    """Pick about ``n`` genes as the genes of uniformly sampled pairs (labels never looked at).

    Pairs are shuffled (seeded) and taken in turn, both genes at once, while fewer than ``n``
    genes are picked (so ``n`` or ``n + 1`` genes come back). The pairs among the picked genes
    (:func:`subset_pairs`) are then the sampled pairs plus the pairs they induce: a small,
    label-unbiased sample of the benchmark. (Ranking genes by pair count instead gives far more
    pairs per gene, but in Gene2vec the best-connected genes form dense all-positive clusters,
    e.g. chemokines and their receptors, which would make the evaluation meaningless.)

    Parameters
    ----------
    pairs
        Frame with ``gene_a`` and ``gene_b``.
    n
        Number of genes (``>= 2``).
    candidates
        Only pairs whose two genes are in ``candidates`` are sampled (e.g. genes with a RefSeq
        summary).
    seed
        Seed of the pair shuffle.

    Returns
    -------
    Gene symbols in the order they were picked.

    Raises
    ------
    ValueError
        ``n < 2`` or fewer than ``n`` eligible genes.
    """
    if int(n) < 2:
        raise ValueError(f"n must be >= 2 genes to form pairs; got {n}")
    a = pairs["gene_a"].astype(str).to_numpy()
    b = pairs["gene_b"].astype(str).to_numpy()
    ok = a != b
    if candidates is not None:
        cand = set(map(str, candidates))
        ok &= np.fromiter((x in cand and y in cand for x, y in zip(a, b)), bool, len(a))
    idx = np.flatnonzero(ok)
    n_eligible = len(set(a[idx]) | set(b[idx]))
    if n_eligible < n:
        raise ValueError(
            f"only {n_eligible} eligible genes in {len(pairs)} pairs, {n} requested; lower n"
        )
    rng = np.random.default_rng(seed)
    picked: dict[str, None] = {}
    for i in idx[rng.permutation(len(idx))]:
        if len(picked) >= n:
            break
        picked.setdefault(a[i])
        picked.setdefault(b[i])
    return list(picked)


def subset_pairs(pairs: pd.DataFrame, genes: Iterable[str], *, name: str = "pairs") -> pd.DataFrame:
    """The pairs whose two genes are both in ``genes`` (index reset).

    Raises
    ------
    ValueError
        When the subset lacks positive or negative pairs (a ROC-AUC needs both): pick more genes.
    """
    keep = set(map(str, genes))
    mask = pairs["gene_a"].astype(str).isin(keep) & pairs["gene_b"].astype(str).isin(keep)
    out = pairs.loc[mask].reset_index(drop=True)
    labels = set(out["label"].astype(int)) if len(out) else set()
    if labels != {0, 1}:
        raise ValueError(
            f"the {len(keep)} selected genes leave {len(out)} {name} with labels {sorted(labels)}; "
            "a ROC-AUC needs positive and negative pairs: select more genes"
        )
    return out


def perturbation_genes(
    conditions: Iterable[str], *, control: str = "control", sep: str = "+"
) -> list[str]:
    """Sorted unique genes of perturbation labels (``"A"``, ``"A+B"``; the control is skipped)."""
    genes: set[str] = set()
    for cond in map(str, conditions):
        if cond == control:
            continue
        genes.update(g for g in cond.split(sep) if g and g not in ("ctrl", control))
    return sorted(genes)


def perturbqa_subset(
    pairs: pd.DataFrame,
    *,
    n_test: int,
    n_train: int,
    candidates: Iterable[str] | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """The DE pairs of a seeded sample of test and training knockdowns (labels never looked at).

    Parameters
    ----------
    pairs
        DE-pair table (``pert``, ``gene``, ``label``, ``split``), e.g.
        :func:`biobft.datasets.perturbqa`.
    n_test, n_train
        Knockdowns to keep per split (all eligible ones when fewer are available).
    candidates
        Only knockdowns in ``candidates`` are eligible (e.g. genes with a RefSeq summary, so that
        a hidden-state table covers all of them).
    seed
        Seed of the sample.

    Returns
    -------
    The pairs of the sampled knockdowns (index reset), both splits.

    Raises
    ------
    ValueError
        ``n_test`` or ``n_train`` below 2, or a split with fewer than 2 eligible knockdowns.
    """
    if int(n_test) < 2 or int(n_train) < 2:
        raise ValueError(f"n_test and n_train must be >= 2; got {n_test}, {n_train}")
    cand = None if candidates is None else set(map(str, candidates))
    rng = np.random.default_rng(seed)
    keep: list[str] = []
    for split, n in (("test", int(n_test)), ("train", int(n_train))):
        perts = sorted(set(pairs.loc[pairs["split"] == split, "pert"].astype(str)))
        if cand is not None:
            perts = [p for p in perts if p in cand]
        if len(perts) < 2:
            raise ValueError(f"only {len(perts)} eligible {split} knockdowns; need >= 2")
        keep += list(rng.choice(perts, min(n, len(perts)), replace=False))
    return pairs.loc[pairs["pert"].astype(str).isin(set(keep))].reset_index(drop=True)


def instruction_split(
    texts: pd.Series,
    *,
    n_train_genes: int,
    n_eval_genes: int,
    exclude_genes: Iterable[str] = (),
    prompt_template: str = "Tell me about gene {symbol}.",
    seed: int = 0,
) -> tuple[list[dict], list[dict]]:
    """Gene-disjoint instruction records ("Tell me about gene X." -> its text).

    Wraps :func:`biobft.train.gene_instruction_records` on ``texts`` minus ``exclude_genes`` and
    checks the result: no excluded gene in either split, train and eval genes disjoint.

    Parameters
    ----------
    texts
        Series symbol -> text (e.g. RefSeq summaries without the "Gene symbol X." prefix).
    n_train_genes, n_eval_genes
        Genes in each split (a seeded random subset of the eligible genes).
    exclude_genes
        Kept out of both splits (every evaluation gene).
    prompt_template
        With a ``{symbol}`` field.
    seed
        Seed of the gene shuffle.

    Returns
    -------
    train, eval
        Lists of ``{"prompt", "response", "gene"}`` records.

    Raises
    ------
    ValueError
        Non-positive sizes, or fewer eligible genes than requested.
    """
    from biobft.train.data import gene_instruction_records

    if int(n_train_genes) < 1 or int(n_eval_genes) < 1:
        raise ValueError(
            f"n_train_genes and n_eval_genes must be >= 1; got {n_train_genes}, {n_eval_genes}"
        )
    excluded = set(map(str, exclude_genes))
    eligible = sorted(set(texts.dropna().index.astype(str)) - excluded)
    total = int(n_train_genes) + int(n_eval_genes)
    if len(eligible) < total:
        raise ValueError(
            f"only {len(eligible)} genes with a text are left after excluding {len(excluded)} "
            f"evaluation genes; {n_train_genes} train + {n_eval_genes} eval requested: lower them"
        )
    train, evals = gene_instruction_records(
        texts,
        prompt_template=prompt_template,
        eval_fraction=n_eval_genes / total,
        seed=seed,
        exclude_genes=excluded,
        max_genes=total,
    )
    g_train = {r["gene"] for r in train}
    g_eval = {r["gene"] for r in evals}
    leaked = (g_train | g_eval) & excluded
    if leaked or g_train & g_eval:  # pragma: no cover - guards the builder's contract
        raise RuntimeError(
            f"instruction split leaks genes: excluded {sorted(leaked)[:5]}, "
            f"shared {sorted(g_train & g_eval)[:5]}"
        )
    logger.info(
        "instruction data: %d train records (%d genes), %d eval records (%d genes); "
        "%d evaluation genes excluded",
        len(train),
        len(g_train),
        len(evals),
        len(g_eval),
        len(excluded),
    )
    return train, evals


def strip_symbol_prefix(texts: pd.Series) -> pd.Series:
    """Remove GenePT's ``"Gene symbol X. "`` prefix (the prompt already names the gene)."""
    import re

    cleaned = [
        re.sub(rf"^Gene symbol {re.escape(str(sym))}\.\s*", "", str(text))
        for sym, text in texts.items()
    ]
    return pd.Series(cleaned, index=texts.index, name=texts.name)


def sizes_ok(values: Sequence[int], names: Sequence[str]) -> None:
    """Raise a ValueError naming the first size below 1."""
    for v, n in zip(values, names):
        if v is None or int(v) < 1:
            raise ValueError(f"{n} must be >= 1; got {v}")
