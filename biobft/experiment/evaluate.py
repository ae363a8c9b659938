"""Metrics of one model in the experiment.

- :func:`response_nll`: mean negative log-likelihood and token accuracy of the response tokens of
  held-out instruction samples (the target log-probs are gathered in chunks, never from an fp32
  copy of the full ``[B, T, V]`` logits);
- :func:`ggi_scores`: GGI ROC-AUC of an embedding table on given train / test pairs;
- :func:`perturbation_scores`: mean Pearson delta of perturbation predictors on an AnnData;
- :func:`perturbqa_scores`: PerturbQA AUROC per readout gene of a DE-pair predictor.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

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
