from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from biobft.experiment.data import (
    LOSS_VARIANTS,
    check_loss_types,
    instruction_split,
    perturbation_genes,
    select_genes,
    strip_symbol_prefix,
    subset_pairs,
)


def _toy_pairs(n_genes=40, n_pairs=300, seed=0):
    rng = np.random.default_rng(seed)
    a, b = rng.choice(n_genes, size=(2, n_pairs))
    return pd.DataFrame(
        {"gene_a": [f"G{i}" for i in a], "gene_b": [f"G{i}" for i in b],
         "label": rng.integers(0, 2, n_pairs)}
    )  # fmt: skip


def test_loss_variants_map_to_valid_configs():
    from biobft.train.config import BFTConfig

    for name, kw in LOSS_VARIANTS.items():
        cfg = BFTConfig(output_dir="unused", **kw)
        assert cfg.loss_type == kw["loss_type"], name
    assert LOSS_VARIANTS["bft"]["bft_variant"] == "released"
    assert LOSS_VARIANTS["bft_gn"]["bft_variant"] == "group_normalized"
    assert check_loss_types("sft, bft bft") == ["sft", "bft"]
    with pytest.raises(ValueError, match=r"unknown loss type.*valid loss types: sft, dft"):
        check_loss_types(["sft", "ppo"])
    with pytest.raises(ValueError, match="loss_types is empty"):
        check_loss_types([])


def test_select_genes_takes_whole_sampled_pairs_and_ignores_labels():
    pairs = _toy_pairs()
    genes = select_genes(pairs, 10, seed=1)
    assert len(genes) in (10, 11) and len(set(genes)) == len(genes)
    # the same pairs with flipped labels give the same genes: labels are never looked at
    flipped = pairs.assign(label=1 - pairs["label"])
    assert select_genes(flipped, 10, seed=1) == genes
    assert select_genes(pairs, 10, seed=2) != genes
    # naive reference: walk the seeded permutation of eligible pairs
    rng = np.random.default_rng(1)
    ok = np.flatnonzero(pairs["gene_a"].to_numpy() != pairs["gene_b"].to_numpy())
    ref: list[str] = []
    for i in ok[rng.permutation(len(ok))]:
        if len(ref) >= 10:
            break
        for g in (pairs["gene_a"][i], pairs["gene_b"][i]):
            if g not in ref:
                ref.append(g)
    assert genes == ref
    cand = {f"G{i}" for i in range(20)}
    assert set(select_genes(pairs, 6, candidates=cand)) <= cand


def test_select_genes_errors():
    pairs = _toy_pairs(n_genes=5)
    with pytest.raises(ValueError, match="n must be >= 2"):
        select_genes(pairs, 1)
    with pytest.raises(ValueError, match=r"only 5 eligible genes .* 8 requested"):
        select_genes(pairs, 8)


def test_subset_pairs_keeps_pairs_within_genes():
    pairs = _toy_pairs()
    keep = [f"G{i}" for i in range(15)]
    out = subset_pairs(pairs, keep)
    ref = [(a, b) for a, b in zip(pairs["gene_a"], pairs["gene_b"]) if a in keep and b in keep]
    assert list(zip(out["gene_a"], out["gene_b"])) == ref
    only_pos = pairs.assign(label=1)
    with pytest.raises(ValueError, match=r"labels \[1\]; a ROC-AUC needs positive and negative"):
        subset_pairs(only_pos, keep)


def test_perturbation_genes():
    conds = ["control", "KLF1", "KLF1+MAP2K6", "SET+KLF1", "ctrl+TP53"]
    assert perturbation_genes(conds) == ["KLF1", "MAP2K6", "SET", "TP53"]


def test_instruction_split_is_gene_disjoint_and_excludes():
    genes = [f"G{i}" for i in range(50)]
    texts = pd.Series([f"text of {g}" for g in genes], index=genes)
    excluded = set(genes[:20])
    train, evals = instruction_split(texts, n_train_genes=20, n_eval_genes=5,
                                     exclude_genes=excluded, seed=3)  # fmt: skip
    g_train = {r["gene"] for r in train}
    g_eval = {r["gene"] for r in evals}
    assert len(g_train) == 20 and len(g_eval) == 5
    assert not g_train & g_eval and not (g_train | g_eval) & excluded
    assert train[0]["prompt"] == f"Tell me about gene {train[0]['gene']}."
    assert train[0]["response"] == f"text of {train[0]['gene']}"
    with pytest.raises(ValueError, match="only 30 genes with a text are left after excluding 20"):
        instruction_split(texts, n_train_genes=30, n_eval_genes=5, exclude_genes=excluded)
    with pytest.raises(ValueError, match="must be >= 1"):
        instruction_split(texts, n_train_genes=0, n_eval_genes=5)


def test_strip_symbol_prefix():
    s = pd.Series(["Gene symbol TP53. Tumor suppressor.", "No prefix."], index=["TP53", "X"])
    assert strip_symbol_prefix(s).tolist() == ["Tumor suppressor.", "No prefix."]


def test_perturbqa_subset_samples_whole_knockdowns_without_labels():
    from biobft.experiment.data import perturbqa_subset

    rng = np.random.default_rng(0)
    perts = [f"P{i}" for i in range(30)]
    pairs = pd.DataFrame(
        [(p, f"G{j}", int(rng.random() < 0.3)) for p in perts for j in range(5)],
        columns=["pert", "gene", "label"],
    )
    pairs["split"] = np.where(pairs["pert"].isin(perts[:10]), "test", "train")
    out = perturbqa_subset(pairs, n_test=4, n_train=6, candidates=perts[1:], seed=0)
    per = out.groupby("split")["pert"].nunique()
    assert (per["test"], per["train"]) == (4, 6)
    assert "P0" not in set(out["pert"])  # not a candidate
    assert (out.groupby("pert").size() == 5).all()  # whole knockdowns
    shuffled = pairs.assign(label=rng.permutation(pairs["label"].to_numpy()))
    again = perturbqa_subset(shuffled, n_test=4, n_train=6, candidates=perts[1:], seed=0)
    assert set(again["pert"]) == set(out["pert"])  # labels never looked at
    assert perturbqa_subset(pairs, n_test=99, n_train=99)["pert"].nunique() == 30
    with pytest.raises(ValueError, match=">= 2"):
        perturbqa_subset(pairs, n_test=1, n_train=5)
    with pytest.raises(ValueError, match="eligible test"):
        perturbqa_subset(pairs, n_test=2, n_train=2, candidates=["P20", "P21"])


def test_every_arm_trains_a_different_loss():
    """No arm duplicates another: p_alpha carries its own alpha (alpha = 1 would be DFT)."""
    import torch

    from biobft.train import BFTConfig
    from biobft.train.losses import loss_terms

    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 9, 17, generator=g)
    labels = torch.randint(0, 17, (3, 9), generator=g)
    labels[0, :3] = -100
    keys = {"loss_type": "loss_type", "bft_variant": "variant", "alpha": "alpha"}
    losses = {}
    for arm, kw in LOSS_VARIANTS.items():
        cfg = BFTConfig(output_dir="unused", **kw)
        opts = {keys[k]: getattr(cfg, k) for k in ("bft_variant", "alpha")}
        losses[arm] = loss_terms(logits, labels, cfg.loss_type, group_size=4, **opts).loss.item()
    assert LOSS_VARIANTS["p_alpha"]["alpha"] == 0.5
    values = list(losses.values())
    for i, a in enumerate(losses):
        for j, b in enumerate(losses):
            if i < j:
                assert values[i] != pytest.approx(values[j], rel=1e-6), (a, b)
