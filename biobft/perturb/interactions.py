"""Genetic interactions: deviation from additivity of double perturbations.

For a double ``A+B`` whose singles are both measured, the observed deviation is
``δ_AB − (δ_A + δ_B)``; a prediction's deviation is ``δ̂_AB − (δ_A + δ_B)``. Norman et al. (2019)
fit ``δ_AB ≈ c₁ δ_A + c₂ δ_B`` per double; :func:`compare_gi_fits` correlates our coefficients with
theirs (``norman2019_gi_fits()``: ``ts_coef_first``, ``ts_coef_second``, Theil-Sen fits).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from .metrics import pearson
from .pseudobulk import Pseudobulk


def additivity_deviation(delta_ab, delta_a, delta_b) -> np.ndarray:
    """``δ_AB − (δ_A + δ_B)``."""
    return np.asarray(delta_ab, dtype=np.float64) - (np.asarray(delta_a) + np.asarray(delta_b))


def fit_gi_coefficients(delta_ab, delta_a, delta_b) -> tuple[float, float]:
    """Least-squares ``(c₁, c₂)`` of ``δ_AB ≈ c₁ δ_A + c₂ δ_B`` (no intercept, Norman's model)."""
    A = np.column_stack([np.asarray(delta_a, np.float64), np.asarray(delta_b, np.float64)])
    coef, *_ = np.linalg.lstsq(A, np.asarray(delta_ab, np.float64), rcond=None)
    return float(coef[0]), float(coef[1])


def seen_doubles(pb: Pseudobulk) -> pd.DataFrame:
    """Doubles whose two singles are measured in the same cell type (ids of double and singles)."""
    obs = pb.obs
    single_ids = {
        (ct, g[0]): i for i, ct, g in zip(obs.index, obs["cell_type"], obs["genes"]) if len(g) == 1
    }
    rows = []
    for rid, ct, genes in zip(obs.index, obs["cell_type"], obs["genes"]):
        if len(genes) == 2 and all((ct, g) in single_ids for g in genes):
            a, b = genes
            rows.append(
                {
                    "id": rid,
                    "condition": obs.at[rid, "condition"],
                    "cell_type": ct,
                    "gene_a": a,
                    "gene_b": b,
                    "id_a": single_ids[(ct, a)],
                    "id_b": single_ids[(ct, b)],
                }
            )
    return pd.DataFrame(
        rows, columns=["id", "condition", "cell_type", "gene_a", "gene_b", "id_a", "id_b"]
    )


def interaction_table(
    pb: Pseudobulk, predictions: Mapping[str, np.ndarray] | None = None
) -> pd.DataFrame:
    """Observed (and predicted) deviation from additivity for every seen-single double.

    Parameters
    ----------
    pb
        Pseudobulk.
    predictions
        Optional ``{id: predicted profile}`` (absolute, like ``pb.X`` rows) for the doubles.

    Returns
    -------
    One row per double: ``coef_a``, ``coef_b`` (Norman's model), ``obs_dev_norm`` (L2 norm of the
    observed deviation), ``obs_dev_frac`` (that norm over ``‖δ_AB‖``) and, with predictions,
    ``pred_dev_norm`` and ``pearson_dev`` (predicted vs observed deviation).
    """
    pairs = seen_doubles(pb)
    out = []
    for _, r in pairs.iterrows():
        dab, da, db = pb.delta([r["id"], r["id_a"], r["id_b"]])
        dev = additivity_deviation(dab, da, db)
        c1, c2 = fit_gi_coefficients(dab, da, db)
        norm = float(np.linalg.norm(dev))
        frac = norm / max(float(np.linalg.norm(dab)), 1e-12)
        row = {
            **r.to_dict(),
            "coef_a": c1,
            "coef_b": c2,
            "obs_dev_norm": norm,
            "obs_dev_frac": frac,
        }
        if predictions is not None and r["id"] in predictions:
            pdelta = np.asarray(predictions[r["id"]]) - pb.controls([r["id"]])[0]
            pdev = additivity_deviation(pdelta, da, db)
            row["pred_dev_norm"] = float(np.linalg.norm(pdev))
            row["pearson_dev"] = pearson(pdev, dev)
        out.append(row)
    return pd.DataFrame(out).set_index("id") if out else pd.DataFrame()


def compare_gi_fits(
    table: pd.DataFrame,
    fits: pd.DataFrame,
    *,
    first: str = "ts_coef_first",
    second: str = "ts_coef_second",
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Match our doubles to Norman's fits (index ``A_B`` in either order) and correlate.

    Returns
    -------
    ``(matched, stats)``: matched rows with our and Norman's coefficients aligned to Norman's gene
    order, and ``{"n": ..., "pearson_coef": ..., "spearman_coef": ...}`` over the pooled
    coefficient pairs (NaN when fewer than 3 pairs).
    """
    for col in (first, second):
        if col not in fits.columns:
            raise KeyError(f"GI fits have no column {col!r} (columns: {list(fits.columns)[:10]})")
    rows = []
    for rid, r in table.iterrows():
        a, b = r["gene_a"], r["gene_b"]
        if f"{a}_{b}" in fits.index:
            key, ours = f"{a}_{b}", (r["coef_a"], r["coef_b"])
        elif f"{b}_{a}" in fits.index:
            key, ours = f"{b}_{a}", (r["coef_b"], r["coef_a"])
        else:
            continue
        rows.append(
            {
                "id": rid,
                "norman": key,
                "coef_first": ours[0],
                "coef_second": ours[1],
                first: float(fits.at[key, first]),
                second: float(fits.at[key, second]),
                "obs_dev_frac": r["obs_dev_frac"],
            }
        )
    matched = pd.DataFrame(rows)
    stats = {"n": len(matched), "pearson_coef": float("nan"), "spearman_coef": float("nan")}
    if len(matched) >= 2:
        x = np.r_[matched["coef_first"], matched["coef_second"]]
        y = np.r_[matched[first], matched[second]]
        stats["pearson_coef"] = pearson(x, y)
        stats["spearman_coef"] = pearson(pd.Series(x).rank(), pd.Series(y).rank())
    return matched, stats


__all__ = [
    "additivity_deviation",
    "compare_gi_fits",
    "fit_gi_coefficients",
    "interaction_table",
    "seen_doubles",
]
