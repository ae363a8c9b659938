"""Gene-gene interaction (GGI) prediction from gene embeddings.

- :mod:`~biobft.ggi.features`: pair features (``sum``, ``hadamard``, ``abs_diff``, ``concat``, and
  ``"+"``-joined combinations) in the :data:`FEATURES` registry;
- :mod:`~biobft.ggi.splits`: pair cleaning, labelled pairs from a graph, gene-disjoint splits;
- :mod:`~biobft.ggi.model`: scikit-learn classifiers in the :data:`CLASSIFIERS` registry,
  :func:`fit` / :func:`predict_pairs`, skops save / load;
- :mod:`~biobft.ggi.nn`: :class:`PairMLP`, a small torch MLP (plain or siamese) as a scikit-learn
  classifier (registry name ``"torch_mlp"``);
- :mod:`~biobft.ggi.evaluate`: GenePT's Gene2vec benchmark (:func:`evaluate_gene2vec`) with
  baselines;
- :mod:`~biobft.ggi.leakage`: the leakage audit (:func:`cooccurrence_mask`, :func:`leakage_share`).
"""

from __future__ import annotations

from .evaluate import GGIResult, evaluate_gene2vec, evaluate_pairs, random_table
from .features import (
    FEATURES,
    feature_dim,
    is_symmetric,
    pair_features,
    pair_matrix,
    parse_features,
)
from .leakage import cooccurrence_mask, leakage_share
from .model import (
    CLASSIFIERS,
    GGIModel,
    fit,
    load_model,
    make_classifier,
    predict_pairs,
    save_model,
)
from .nn import PairMLP
from .splits import check_pairs, clean_pairs, gene_disjoint_split, pairs_from_graph

__all__ = [
    "CLASSIFIERS",
    "FEATURES",
    "GGIModel",
    "GGIResult",
    "PairMLP",
    "check_pairs",
    "clean_pairs",
    "cooccurrence_mask",
    "evaluate_gene2vec",
    "evaluate_pairs",
    "feature_dim",
    "fit",
    "gene_disjoint_split",
    "is_symmetric",
    "leakage_share",
    "load_model",
    "make_classifier",
    "pair_features",
    "pair_matrix",
    "pairs_from_graph",
    "parse_features",
    "predict_pairs",
    "random_table",
    "save_model",
]
