"""Metrics of one model in the experiment.

- :func:`response_nll`: mean negative log-likelihood and token accuracy of the response tokens of
  held-out instruction samples (the target log-probs are gathered in chunks, never from an fp32
  copy of the full ``[B, T, V]`` logits);
- :func:`ggi_scores`: GGI ROC-AUC of an embedding table on given train / test pairs;
- :func:`perturbation_scores`: mean Pearson delta of perturbation predictors on an AnnData;
- :func:`perturbqa_scores`: PerturbQA AUROC per readout gene of a DE-pair predictor;
- ``_evaluate`` / ``_baselines``: all of these for one model of :func:`run_experiment` (its
  hidden states and generated profiles as the embedding tables) / for the LLM-free references.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._paths import atomic_path

if TYPE_CHECKING:
    from .context import _Context

logger = logging.getLogger(__name__)

__all__ = ["ggi_scores", "perturbation_scores", "perturbqa_scores", "response_nll"]


def response_nll(
    model,
    dataset: Sequence[dict[str, list[int]]],
    tokenizer,
    *,
    batch_size: int = 8,
) -> dict[str, float]:
    """Mean per-token NLL and greedy token accuracy on the labelled (response) tokens.

    Parameters
    ----------
    model
        A causal LM.
    dataset
        Tokenised samples ``{"input_ids", "attention_mask", "labels"}`` (labels ``-100`` outside
        the response), e.g. :func:`biobft.train.load_instruction_dataset`.
    tokenizer
        Supplies the pad id.
    batch_size
        Samples per forward pass.

    Returns
    -------
    dict
        ``nll`` (nats per token, averaged over all response tokens of all samples), ``ppl``
        (``exp(nll)``), ``token_accuracy`` (share of response tokens that are the argmax of the
        previous position's logits) and ``n_tokens``.

    Raises
    ------
    ValueError
        An empty dataset, ``batch_size < 1``, or no labelled token at all.
    """
    import torch

    from biobft.train.data import DataCollatorForCompletion
    from biobft.train.losses import target_log_probs

    if len(dataset) == 0:
        raise ValueError("dataset is empty; nothing to evaluate")
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1; got {batch_size}")
    collate = DataCollatorForCompletion(tokenizer)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total_nll, total_ok, total_n = 0.0, 0, 0
    try:
        with torch.inference_mode():
            for start in range(0, len(dataset), batch_size):
                batch = collate(
                    [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
                )
                batch = {k: v.to(device) for k, v in batch.items()}
                logits = model(
                    input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
                ).logits
                logp, valid = target_log_probs(logits, batch["labels"])
                targets = torch.cat(
                    [batch["labels"][:, 1:], torch.full_like(batch["labels"][:, :1], -100)], dim=1
                )
                pred = logits.argmax(dim=-1)
                total_nll += float(-(logp[valid]).double().sum())
                total_ok += int((pred[valid] == targets[valid]).sum())
                total_n += int(valid.sum())
    finally:
        if was_training:
            model.train()
    if total_n == 0:
        raise ValueError("no labelled (response) token in the dataset; check its labels")
    nll = total_nll / total_n
    return {
        "nll": nll,
        "ppl": float(np.exp(nll)),
        "token_accuracy": total_ok / total_n,
        "n_tokens": total_n,
    }


def ggi_scores(
    table: pd.DataFrame,
    train: pd.DataFrame,
    test: pd.DataFrame,
    *,
    features: str = "sum",
    classifier: str = "logistic",
    seed: int = 0,
    texts: pd.Series | None = None,
) -> dict[str, Any]:
    """GGI metrics of an embedding table: fit on ``train`` pairs, score ``test`` pairs.

    Thin wrapper over :func:`biobft.ggi.evaluate_pairs` that returns a flat record:
    ``roc_auc``, ``pr_auc``, ``random_roc_auc`` (random Gaussian embeddings, same genes and
    dimension), ``n_train_pairs``, ``n_test_pairs``, ``leakage`` (share of test pairs whose
    symbols co-occur in ``texts``, if given).
    """
    from biobft.ggi import evaluate_pairs

    res = evaluate_pairs(
        table,
        train,
        test,
        features=features,
        classifier=classifier,
        random_baseline=True,
        texts=texts,
        seed=seed,
    )
    return {
        "roc_auc": res.roc_auc,
        "pr_auc": res.pr_auc,
        "random_roc_auc": res.baselines.get("random", {}).get("roc_auc", float("nan")),
        "n_train_pairs": res.n_used["train"],
        "n_test_pairs": res.n_used["test"],
        "leakage": res.leakage,
    }


def perturbation_scores(
    adata,
    *,
    embedding: pd.DataFrame | None = None,
    predictors: Sequence[str] = ("ridge",),
    condition_key: str = "condition",
    control: str = "control",
    missing: str = "mean",
    metric: str = "pearson_delta",
) -> dict[str, dict[str, float]]:
    """Mean ``metric`` per predictor under leave-one-perturbation-out on ``adata``.

    Wraps :func:`biobft.tl.evaluate_perturbation`. Returns
    ``{predictor: {"mean": float, "n_conditions": int, "n_missing_genes": int}}``.
    """
    from biobft.tl import evaluate_perturbation

    df = evaluate_perturbation(
        adata,
        embedding=embedding,
        condition_key=condition_key,
        control=control,
        predictors=list(predictors),
        missing=missing,
        metrics=[metric],
    )
    out: dict[str, dict[str, float]] = {}
    for name, sub in df.groupby("predictor", sort=False):
        out[str(name)] = {
            "mean": float(sub[metric].mean()),
            "n_conditions": len(sub),
            "n_missing_genes": int(sub["n_missing_genes"].max()) if "n_missing_genes" in sub else 0,
        }
    return out


def perturbqa_scores(
    table: pd.DataFrame,
    pairs: pd.DataFrame,
    *,
    predictor: str = "knn",
    seed: int = 0,
) -> dict[str, Any]:
    """AUROC per readout gene of one DE-pair predictor on held-out knockdowns.

    Thin wrapper over :func:`biobft.perturb.evaluate_de_pairs` (``missing="skip"``) that
    returns a flat record: ``auroc_per_gene``, ``random_auroc_per_gene`` (Gaussian vectors of
    the same dimension through the same predictor), ``n_test_perturbations`` (scored),
    ``perturbation_coverage`` and ``n_genes_scored``.
    """
    from biobft.perturb import evaluate_de_pairs

    res = evaluate_de_pairs(
        pairs, embedding=table, predictors=[predictor], missing="skip", seed=seed
    ).set_index("predictor")
    rand = [i for i in res.index if i.startswith("random")]
    return {
        "auroc_per_gene": float(res.loc[predictor, "auroc_per_gene"]),
        "random_auroc_per_gene": float(res.loc[rand[0], "auroc_per_gene"]) if rand else np.nan,
        "n_test_perturbations": int(res.loc[predictor, "n_test_perturbations"]),
        "perturbation_coverage": float(res.loc[predictor, "perturbation_coverage"]),
        "n_genes_scored": int(res.loc[predictor, "n_genes_scored"]),
    }


# --------------------------------------------------------------------------- one model of the run
def _model_id(model, arm: str) -> str:
    from biobft.embed.describe import weights_hash

    return f"{arm}:weights:{weights_hash(model)}"


def _hidden_states(model, tokenizer, ctx: _Context, genes: list[str], mid: str) -> pd.DataFrame:
    """Mean-pooled hidden states of the genes' RefSeq text (cached under ``mid``)."""
    from biobft.embed import embed_genes

    s = ctx.settings
    return embed_genes(genes, source=ctx.refseq, model=(model, tokenizer), pooling="mean",
                       max_length=s.embed_max_length, batch_size=s.embed_batch_size,
                       model_id=mid)  # fmt: skip


def _profiles(model, tokenizer, ctx: _Context, genes: list[str], mid: str) -> pd.Series:
    """The model's greedy profiles of the genes (cached under ``mid``)."""
    from biobft.embed.describe import describe_genes

    s = ctx.settings
    return describe_genes(genes, model=model, tokenizer=tokenizer, prompt=s.prompt,
                          max_new_tokens=s.max_new_tokens, batch_size=s.gen_batch_size,
                          model_id=mid)  # fmt: skip


def _evaluate(model, tokenizer, ctx: _Context, arm: str, seed: int, eval_ds, out: Path):
    """All metrics of one model; writes its profiles to ``out/profiles/<arm>.csv``."""
    from biobft.embed import embed_genes

    s = ctx.settings
    rec: dict[str, Any] = {}
    t = time.perf_counter()
    nll = response_nll(model, eval_ds, tokenizer, batch_size=s.embed_batch_size)
    rec.update(nll=nll["nll"], token_accuracy=nll["token_accuracy"], n_eval_tokens=nll["n_tokens"])
    rec["nll_seconds"] = time.perf_counter() - t

    mid = _model_id(model, arm)
    t = time.perf_counter()
    hidden = _hidden_states(model, tokenizer, ctx, ctx.genes, mid)
    rec["embed_seconds"] = time.perf_counter() - t
    t = time.perf_counter()
    profiles = _profiles(model, tokenizer, ctx, ctx.genes, mid)
    rec["describe_seconds"] = time.perf_counter() - t
    (out / "profiles").mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "profiles" / f"{arm}.csv") as tmp:
        profiles.to_frame().to_csv(tmp)
    words = profiles.str.split().str.len()
    rec["mean_profile_words"] = float(words.mean())
    # an empty profile (the model stopped at once) is embedded as the bare symbol: a name-only
    # floor instead of a gene silently missing from the table
    empty = words == 0
    rec["n_empty_profiles"] = int(empty.sum())
    texts = profiles.where(~empty, pd.Series(profiles.index, index=profiles.index))
    prof_table = embed_genes(source=texts.rename("profile"), model=s.encoder)

    t = time.perf_counter()
    for name, table, texts in (("hidden", hidden, ctx.refseq), ("profile", prof_table, profiles)):
        g = ggi_scores(table, ctx.ggi_train, ctx.ggi_test, seed=seed, texts=texts)
        rec[f"ggi_{name}_roc_auc"] = g["roc_auc"]
        rec[f"ggi_{name}_random_roc_auc"] = g["random_roc_auc"]
        rec[f"ggi_{name}_leakage"] = g["leakage"]
        p = perturbation_scores(ctx.adata, embedding=table, predictors=("ridge",))
        rec[f"pert_{name}_pearson_delta"] = p["ridge"]["mean"]
        rec[f"pert_{name}_n_missing_genes"] = p["ridge"]["n_missing_genes"]
        if ctx.perturbqa is not None:
            q = perturbqa_scores(table, ctx.perturbqa, seed=seed)
            rec[f"pqa_{name}_auroc_per_gene"] = q["auroc_per_gene"]
            rec[f"pqa_{name}_random_auroc_per_gene"] = q["random_auroc_per_gene"]
            rec[f"pqa_{name}_n_test_knockdowns"] = q["n_test_perturbations"]
    rec["score_seconds"] = time.perf_counter() - t
    return rec


def _baselines(ctx: _Context) -> dict[str, Any]:
    """Reference numbers without any LLM: MiniLM on the RefSeq text, embedding-free predictors."""
    from biobft.embed import embed_genes

    table = embed_genes(ctx.genes, source=ctx.refseq, model=ctx.settings.encoder)
    g = ggi_scores(table, ctx.ggi_train, ctx.ggi_test, seed=0, texts=ctx.refseq)
    p = perturbation_scores(ctx.adata, embedding=table,
                            predictors=("ridge", "additive", "train_mean"))  # fmt: skip
    pqa: dict[str, Any] = {}
    if ctx.perturbqa is not None:
        q = perturbqa_scores(table, ctx.perturbqa, seed=0)
        pqa = {
            "pqa_refseq_minilm_auroc_per_gene": q["auroc_per_gene"],
            "pqa_random_auroc_per_gene": q["random_auroc_per_gene"],
            "pqa_n_test_knockdowns": q["n_test_perturbations"],
        }
    return {
        **pqa,
        "ggi_refseq_minilm_roc_auc": g["roc_auc"],
        "ggi_random_roc_auc": g["random_roc_auc"],
        "ggi_refseq_leakage": g["leakage"],
        "pert_refseq_minilm_ridge_pearson_delta": p["ridge"]["mean"],
        "pert_additive_pearson_delta": p["additive"]["mean"],
        "pert_train_mean_pearson_delta": p["train_mean"]["mean"],
        "n_perturbation_conditions": p["ridge"]["n_conditions"],
    }
