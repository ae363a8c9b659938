"""Single-cell perturbation response: pseudobulk, splits, predictors on gene embeddings, metrics.

Also DE-pair prediction (:mod:`.de_pairs`): will readout gene G change when P is perturbed
(PerturbQA-style tables, :func:`evaluate_de_pairs`).

Pure array code; the AnnData-facing wrappers are :func:`biobft.tl.predict_perturbation` and
:func:`biobft.tl.evaluate_perturbation`.
"""

from __future__ import annotations

from ..embed.table import concat_tables
from .conditions import parse_condition, parse_conditions, resolve_control
from .de_pairs import check_de_pairs, evaluate_de_pairs
from .de_predictors import DE_PREDICTORS, get_de_predictor
from .embeddings import emap_table, response_table, string_table
from .evaluate import evaluate_split
from .expression import expression_matrix
from .interactions import compare_gi_fits, interaction_table
from .metrics import METRICS, auroc_per_gene, compute_metrics
from .predictors import PREDICTORS, get_predictor
from .pseudobulk import Pseudobulk, pseudobulk
from .splits import SPLITS, Split, make_split

__all__ = [
    "DE_PREDICTORS",
    "METRICS",
    "PREDICTORS",
    "SPLITS",
    "Pseudobulk",
    "Split",
    "auroc_per_gene",
    "check_de_pairs",
    "compare_gi_fits",
    "compute_metrics",
    "concat_tables",
    "emap_table",
    "evaluate_de_pairs",
    "evaluate_split",
    "expression_matrix",
    "get_de_predictor",
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
