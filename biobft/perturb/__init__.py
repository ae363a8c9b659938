"""Single-cell perturbation response: pseudobulk, splits, predictors on gene embeddings, metrics.

Pure array code; the AnnData-facing wrappers are :func:`biobft.tl.predict_perturbation` and
:func:`biobft.tl.evaluate_perturbation`.
"""

from __future__ import annotations

from .conditions import expression_matrix, parse_condition, parse_conditions, resolve_control
from .embeddings import concat_tables, emap_table, response_table, string_table
from .evaluate import evaluate_split
from .interactions import compare_gi_fits, interaction_table
from .metrics import METRICS, compute_metrics
from .predictors import PREDICTORS, get_predictor
from .pseudobulk import Pseudobulk, pseudobulk
from .splits import SPLITS, Split, make_split

__all__ = [
    "METRICS",
    "PREDICTORS",
    "SPLITS",
    "Pseudobulk",
    "Split",
    "compare_gi_fits",
    "compute_metrics",
    "concat_tables",
    "emap_table",
    "evaluate_split",
    "expression_matrix",
    "get_predictor",
    "interaction_table",
    "make_split",
    "parse_condition",
    "parse_conditions",
    "pseudobulk",
    "resolve_control",
    "response_table",
    "string_table",
]
