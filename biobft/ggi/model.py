"""Pair classifiers: scikit-learn estimators in a registry, fit / predict on pairs, save / load.

Every classifier runs as ``Pipeline([("scale", StandardScaler()), ("clf", estimator)])`` with its
random seed fixed. Add a classifier with one factory ``f(seed, **params) -> estimator`` and one
line in :data:`CLASSIFIERS`.

Fitted models are saved with :mod:`skops.io` (no pickle): loading checks every type in the file
against an explicit allow-list (:data:`TRUSTED_TYPES`) and refuses anything else.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from .._paths import atomic_path
from ..embed.table import table_metadata, validate_table
from ._logistic import fit_logistic_gathered, gathered_logistic_applies
from .features import is_symmetric, pair_matrix, parse_features
from .splits import check_pairs

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1


def _logistic(seed: int, **params: Any) -> BaseEstimator:
    """L2 logistic regression (lbfgs), GenePT's classifier.

    ``tol=1e-4`` (scikit-learn's default). A looser 1e-3 stops early: with MiniLM of RefSeq text
    at C = 1, the test ROC-AUC moved from the converged fit's (tol 1e-8) by 0.0012-0.0021 on
    2,000 and 20,000 Gene2vec training pairs and by up to 0.027 on a few hundred, against
    <= 0.0004 at 1e-4; on the 195k pairs with a RefSeq summary the fit takes 6.5 s instead of
    4.6 s ("Intel(R) Xeon(R) Processor", 2 cores). On Gene2vec, a much stronger penalty than the
    default ``C=1.0`` generalises better to unseen genes (``C=1e-4`` chosen on the valid split,
    ``benchmarks/results/ggi_runs.md``); the default stays 1.0 because the right ``C`` scales
    with the number of training pairs.
    """
    from sklearn.linear_model import LogisticRegression

    kw = {"C": 1.0, "max_iter": 2000, "tol": 1e-4, "random_state": seed} | params
    return LogisticRegression(**kw)


def _random_forest(seed: int, **params: Any) -> BaseEstimator:
    """Random forest (200 trees, depth-limited leaves to stay small)."""
    from sklearn.ensemble import RandomForestClassifier

    kw = {"n_estimators": 200, "min_samples_leaf": 5, "n_jobs": 1, "random_state": seed} | params
    return RandomForestClassifier(**kw)


def _mlp(seed: int, **params: Any) -> BaseEstimator:
    """One hidden layer MLP (Adam, early stopping on a 10% validation cut)."""
    from sklearn.neural_network import MLPClassifier

    kw = {
        "hidden_layer_sizes": (256,),
        "alpha": 1e-3,
        "batch_size": 512,
        "learning_rate_init": 1e-3,
        "max_iter": 30,
        "early_stopping": True,
        "validation_fraction": 0.1,
        "n_iter_no_change": 4,
        "random_state": seed,
    } | params
    return MLPClassifier(**kw)


def _torch_mlp(seed: int, **params: Any) -> BaseEstimator:
    """Small torch MLP (:class:`~biobft.ggi.nn.PairMLP`): AdamW, dropout, early stopping."""
    from .nn import PairMLP

    kw = {"random_state": seed} | params
    return PairMLP(**kw)


#: name -> factory ``f(seed, **params) -> sklearn classifier``
CLASSIFIERS: dict[str, Callable[..., BaseEstimator]] = {
    "logistic": _logistic,
    "random_forest": _random_forest,
    "mlp": _mlp,
    "torch_mlp": _torch_mlp,
}

#: non-default types a saved model may contain (everything else in a file is refused)
TRUSTED_TYPES: tuple[str, ...] = (
    "sklearn.tree._tree.Tree",
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
    "biobft.ggi.nn.PairMLP",
)


def make_classifier(name: str = "logistic", *, seed: int = 0, **params: Any) -> Pipeline:
    """A fresh ``StandardScaler -> classifier`` pipeline from the registry.

    Parameters
    ----------
    name
        Key of :data:`CLASSIFIERS`.
    seed
        Random seed passed to the estimator.
    **params
        Estimator parameters overriding the defaults.
    """
    if name not in CLASSIFIERS:
        raise ValueError(f"unknown classifier {name!r}; valid names: {sorted(CLASSIFIERS)}")
    # copy=False: the feature matrices are built afresh by biobft and never reused
    return Pipeline(
        [("scale", StandardScaler(copy=False)), ("clf", CLASSIFIERS[name](seed, **params))]
    )


@dataclass
class GGIModel:
    """A fitted pair classifier and what is needed to score new pairs with it.

    Attributes
    ----------
    pipeline
        Fitted ``StandardScaler -> classifier`` pipeline.
    features
        Pair feature specification (``"sum+hadamard"``).
    classifier
        Registry name of the classifier.
    dim
        Embedding dimension the model was trained on.
    seed
        Random seed of the fit.
    params
        Classifier parameters given to :func:`make_classifier`.
    table_meta
        Metadata of the embedding table it was trained on (``table.attrs["biobft"]``).
    n_train
        Number of training pairs used.
    """

    pipeline: Pipeline
    features: str
    classifier: str
    dim: int
    seed: int = 0
    params: dict[str, Any] = field(default_factory=dict)
    table_meta: dict[str, Any] = field(default_factory=dict)
    n_train: int = 0

    def predict_pairs(self, table: pd.DataFrame, pairs: pd.DataFrame) -> np.ndarray:
        """Interaction probabilities of ``pairs`` (see :func:`predict_pairs`)."""
        return predict_pairs(self, table, pairs)

    def save(self, path: str | os.PathLike) -> Path:
        """Save with skops (see :func:`save_model`)."""
        return save_model(self, path)


def fit(
    table: pd.DataFrame,
    pairs: pd.DataFrame,
    *,
    features: str | Sequence[str] = "sum",
    classifier: str = "logistic",
    seed: int = 0,
    params: dict[str, Any] | None = None,
) -> GGIModel:
    """Fit a pair classifier on the pairs whose two genes are in ``table``.

    Parameters
    ----------
    table
        Embedding table (index = gene symbol).
    pairs
        Training pairs (``gene_a``, ``gene_b``, ``label``); pairs with a gene missing from
        ``table`` are skipped.
    features
        Pair feature specification, e.g. ``"sum"`` or ``"sum+hadamard"``.
    classifier
        Key of :data:`CLASSIFIERS`.
    seed
        Random seed.
    params
        Classifier parameters overriding the defaults.

    Returns
    -------
    The fitted :class:`GGIModel`.

    Raises
    ------
    ValueError
        On a bad table, unknown feature or classifier, no covered pair, or one-class labels.
    """
    names = parse_features(features)
    spec = "+".join(names)
    table = validate_table(table)
    check_pairs(pairs)
    pipe = make_classifier(classifier, seed=seed, **(params or {}))
    ia = table.index.get_indexer(pairs["gene_a"].astype(str))
    ib = table.index.get_indexer(pairs["gene_b"].astype(str))
    covered = (ia >= 0) & (ib >= 0)
    if not covered.any():
        raise ValueError(
            f"none of the {len(pairs)} training pairs has both genes in the embedding table "
            f"({len(table)} genes, e.g. {list(table.index[:3])}); pairs use symbols like "
            f"{list(pairs['gene_a'].astype(str)[:3])}: check that both use the same gene symbols"
        )
    y = pairs["label"].to_numpy()[covered].astype(np.int64)
    check_pairs(pairs.loc[covered], name="covered training pairs")
    if gathered_logistic_applies(pipe, names, y):
        values = table.to_numpy(dtype=np.float32, copy=False)
        fit_logistic_gathered(pipe, values, ia[covered], ib[covered], names, y)
    else:
        X, _ = pair_matrix(table, pairs, spec)
        _fit_pipeline(pipe, X, y)
    return GGIModel(
        pipeline=pipe,
        features=spec,
        classifier=classifier,
        dim=int(table.shape[1]),
        seed=int(seed),
        params=dict(params or {}),
        table_meta=table_metadata(table),
        n_train=int(covered.sum()),
    )


def _fit_pipeline(pipe: Pipeline, X: np.ndarray, y: np.ndarray, *, block: int = 16384) -> None:
    """``pipe.fit(X, y)`` without the scaler's full-size temporaries.

    ``StandardScaler.fit`` on a float32 matrix allocates a float64 copy of it (``X - mean``)
    and a float32 NaN mask: 3.2 times the size of ``X`` on top of it (5 GB for the 261k
    Gene2vec pairs with 1,536 columns). Here the scaler is fitted block by block
    (``partial_fit``: the same mean and variance up to float64 rounding), ``X`` is scaled in
    place (``copy=False``) and the classifier fitted on it.
    """
    if len(pipe.steps) != 2 or not isinstance(pipe.steps[0][1], StandardScaler):
        pipe.fit(X, y)
        return
    scale, clf = pipe.steps[0][1], pipe.steps[1][1]
    for start in range(0, max(len(X), 1), block):
        scale.partial_fit(X[start : start + block])
    clf.fit(scale.transform(X), y)


def _scores(
    model: GGIModel, table: pd.DataFrame, pairs: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """Positive-class probabilities of the covered pairs and the coverage mask."""
    X, covered = pair_matrix(table, pairs, model.features)
    if not covered.any():
        return np.empty(0), covered
    p = model.pipeline.predict_proba(X)[:, 1]
    if not is_symmetric(model.features):
        swapped = pairs.rename(columns={"gene_a": "gene_b", "gene_b": "gene_a"})
        Xs, _ = pair_matrix(table, swapped, model.features)
        p = 0.5 * (p + model.pipeline.predict_proba(Xs)[:, 1])
    return p, covered


def predict_pairs(model: GGIModel, table: pd.DataFrame, pairs: pd.DataFrame) -> np.ndarray:
    """Interaction probability of each pair; ``NaN`` where a gene is missing from ``table``.

    With a non-symmetric feature (``concat``) the score is the mean over both orientations, so
    ``(a, b)`` and ``(b, a)`` always score the same.

    Parameters
    ----------
    model
        A fitted :class:`GGIModel`.
    table
        Embedding table of the same dimension as the training table.
    pairs
        Frame with columns ``gene_a`` and ``gene_b`` (a ``label`` column is ignored).

    Returns
    -------
    ``float64`` array of length ``len(pairs)``.
    """
    table = validate_table(table)
    check_pairs(pairs, labels=False)
    if table.shape[1] != model.dim:
        raise ValueError(
            f"the model was trained on {model.dim}-dimensional embeddings but the table has "
            f"{table.shape[1]} columns; score with a table from the same embedding model"
        )
    out = np.full(len(pairs), np.nan)
    p, covered = _scores(model, table, pairs)
    out[covered] = p
    return out


def save_model(model: GGIModel, path: str | os.PathLike) -> Path:
    """Write a fitted model to a ``.skops`` file atomically (no pickle).

    Returns
    -------
    The path written.
    """
    if not isinstance(model, GGIModel):
        raise TypeError(
            f"model must be a GGIModel (from biobft.ggi.fit); got {type(model).__name__}"
        )
    import skops.io as sio

    meta = {
        "format_version": FORMAT_VERSION,
        "features": model.features,
        "classifier": model.classifier,
        "dim": model.dim,
        "seed": model.seed,
        "params": model.params,
        "table_meta": model.table_meta,
        "n_train": model.n_train,
    }
    try:
        meta_json = json.dumps(meta)
    except TypeError as err:
        raise TypeError(f"model parameters must be JSON-serialisable to be saved: {err}") from err
    path = Path(path)
    with atomic_path(path) as tmp:
        sio.dump({"pipeline": model.pipeline, "meta": meta_json}, tmp)
    return path


def load_model(path: str | os.PathLike) -> GGIModel:
    """Load a model written by :func:`save_model`.

    Only the default skops-trusted types and :data:`TRUSTED_TYPES` are accepted; a file holding
    any other type is refused with a ``ValueError`` naming it.
    """
    import skops.io as sio

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"model file {str(path)!r} does not exist; write one with save_model"
        )
    untrusted = sio.get_untrusted_types(file=path)
    refused = [t for t in untrusted if t not in TRUSTED_TYPES]
    if refused:
        raise ValueError(
            f"{path} contains types outside biobft's allow-list {refused}; refusing to load it. "
            "Only models written by biobft.ggi.save_model are accepted"
        )
    obj = sio.load(path, trusted=list(untrusted))
    if not isinstance(obj, dict) or "pipeline" not in obj or "meta" not in obj:
        raise ValueError(f"{path} is not a biobft GGI model file (no pipeline/meta record)")
    meta = json.loads(obj["meta"])
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{path} has format version {meta.get('format_version')}; this biobft reads "
            f"version {FORMAT_VERSION}"
        )
    return GGIModel(
        pipeline=obj["pipeline"],
        features=meta["features"],
        classifier=meta["classifier"],
        dim=int(meta["dim"]),
        seed=int(meta["seed"]),
        params=meta["params"],
        table_meta=meta["table_meta"],
        n_train=int(meta["n_train"]),
    )
