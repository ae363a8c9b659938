"""The Gene2vec gene-gene interaction benchmark (GenePT's GGI task) with its baselines.

:func:`evaluate_gene2vec` fits a pair classifier on the Gene2vec train split and scores the test
split, together with two baselines computed in the same call on the same pairs: random Gaussian
embeddings of the same dimension, and a ``name``-only text table when one is given.
:func:`evaluate_pairs` does the same on any train / test pairs (e.g. from
:func:`~biobft.ggi.pairs_from_graph` + :func:`~biobft.ggi.gene_disjoint_split`). The leakage
audit it reports lives in :mod:`~biobft.ggi.leakage`.
"""

from __future__ import annotations

import copy
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd

from ..embed.table import make_table, table_metadata, validate_table
from .features import parse_features
from .leakage import cooccurrence_mask
from .model import GGIModel, _scores, fit
from .splits import check_pairs, clean_pairs, unordered_ends

logger = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")


# ----------------------------------------------------------------------------- result
@dataclass
class GGIResult:
    """Outcome of one GGI benchmark run.

    Attributes
    ----------
    roc_auc, pr_auc, accuracy
        Test metrics of the model (accuracy at probability 0.5).
    features, classifier, seed
        The configuration.
    table_meta
        Metadata of the embedding table (model, text source, ...).
    n_raw, n_used, n_dropped
        Per split: pairs in the file, pairs scored (both genes covered, after cleaning), pairs
        dropped because a gene has no embedding.
    cleaning
        Per split: the counts of :func:`~biobft.ggi.splits.clean_pairs` (self, contradictory,
        duplicate pairs removed); empty when ``clean=False``.
    valid
        Validation metrics (``roc_auc``, ``pr_auc``, ``accuracy``) when a valid split was scored.
    baselines
        Name (``"random"``, ``"name"``) -> ``{"roc_auc", "pr_auc", "accuracy", "n_test"}``.
    leakage
        Share of the scored test pairs whose symbols co-occur in the embedded texts (``None``
        without texts); ``n_leaky`` counts them.
    curves
        Name (``"model"`` and each baseline) -> ``{"fpr": array, "tpr": array}`` test ROC curve.
    fit_seconds
        Wall time of the model fit.
    model
        The fitted :class:`~biobft.ggi.GGIModel` (not serialised by :meth:`to_dict`).
    """

    roc_auc: float
    pr_auc: float
    accuracy: float
    features: str
    classifier: str
    seed: int
    table_meta: dict[str, Any] = field(default_factory=dict)
    n_raw: dict[str, int] = field(default_factory=dict)
    n_used: dict[str, int] = field(default_factory=dict)
    n_dropped: dict[str, int] = field(default_factory=dict)
    cleaning: dict[str, dict[str, int]] = field(default_factory=dict)
    valid: dict[str, float] | None = None
    baselines: dict[str, dict[str, float]] = field(default_factory=dict)
    leakage: float | None = None
    n_leaky: int | None = None
    curves: dict[str, dict[str, np.ndarray]] = field(default_factory=dict, repr=False)
    fit_seconds: float = float("nan")
    model: GGIModel | None = field(default=None, repr=False, compare=False)

    @property
    def coverage(self) -> float:
        """Share of the raw test pairs that were scored."""
        return self.n_used.get("test", 0) / max(self.n_raw.get("test", 0), 1)

    def to_dict(self, *, curves: bool = False) -> dict[str, Any]:
        """Plain-Python record (JSON-ready); ROC curves as lists only with ``curves=True``."""
        out = {
            f.name: copy.deepcopy(getattr(self, f.name))
            for f in fields(self)
            if f.name not in ("curves", "model")
        }
        out["coverage"] = self.coverage
        if curves:
            out["curves"] = {
                k: {kk: np.asarray(vv).tolist() for kk, vv in v.items()}
                for k, v in self.curves.items()
            }
        return out

    def to_json(self, *, curves: bool = False, indent: int | None = 2) -> str:
        """:meth:`to_dict` as a JSON string."""
        return json.dumps(self.to_dict(curves=curves), indent=indent)

    def to_frame(self) -> pd.DataFrame:
        """One row per scorer (model, then baselines): ROC-AUC, PR-AUC, accuracy, test pairs."""
        rows = [
            {
                "scorer": "model",
                "roc_auc": self.roc_auc,
                "pr_auc": self.pr_auc,
                "accuracy": self.accuracy,
                "n_test": self.n_used.get("test", 0),
            }
        ]
        rows += [{"scorer": k, **v} for k, v in self.baselines.items()]
        return pd.DataFrame(rows).set_index("scorer")

    def summary(self) -> str:
        """Human-readable report: configuration, metric table, coverage, leakage."""
        src = self.table_meta.get("source", "?")
        mdl = self.table_meta.get("model", "?")
        lines = [
            f"GGI  table={mdl}/{src}  features={self.features}  classifier={self.classifier}  "
            f"seed={self.seed}",
            self.to_frame().to_string(float_format=lambda v: f"{v:.4f}"),
        ]
        if self.valid:
            lines.append(
                f"valid ROC-AUC {self.valid['roc_auc']:.4f}  PR-AUC {self.valid['pr_auc']:.4f}"
            )
        cov = ", ".join(f"{s} {self.n_used[s]}/{self.n_raw[s]}" for s in SPLITS if s in self.n_used)
        lines.append(f"coverage (pairs scored / in file): {cov}  (test {100 * self.coverage:.1f}%)")
        if self.leakage is None:
            lines.append("leakage: n/a (no texts given)")
        else:
            lines.append(
                f"leakage: {100 * self.leakage:.2f}% of scored test pairs ({self.n_leaky}) have "
                "one symbol written in the other gene's text"
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


# ----------------------------------------------------------------------------- evaluation
def _metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, average_precision_score, roc_auc_score

    return {
        "roc_auc": float(roc_auc_score(y, p)),
        "pr_auc": float(average_precision_score(y, p)),
        "accuracy": float(accuracy_score(y, p >= 0.5)),
    }


def _curve(y: np.ndarray, p: np.ndarray) -> dict[str, np.ndarray]:
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(y, p)
    return {"fpr": fpr, "tpr": tpr}


def _score(
    model: GGIModel, table: pd.DataFrame, pairs: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray]:
    p, covered = _scores(model, table, pairs)
    return p, pairs["label"].to_numpy()[covered].astype(np.int64)


def _covered(table: pd.DataFrame, pairs: pd.DataFrame) -> np.ndarray:
    """Mask of the pairs whose two genes are both in ``table``."""
    ia = table.index.get_indexer(pairs["gene_a"].astype(str))
    ib = table.index.get_indexer(pairs["gene_b"].astype(str))
    return (ia >= 0) & (ib >= 0)


def random_table(table: pd.DataFrame, *, seed: int = 0) -> pd.DataFrame:
    """Standard-normal embeddings for the genes of ``table``, same dimension (the random floor)."""
    table = validate_table(table)
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal(table.shape, dtype=np.float32)
    return make_table(vectors, list(table.index), model="random-normal", source="random", seed=seed)


def _unordered(pairs: pd.DataFrame) -> set[tuple[str, str]]:
    ends = unordered_ends(
        pairs["gene_a"].astype(str).to_numpy(), pairs["gene_b"].astype(str).to_numpy()
    )
    return set(zip(*(e.tolist() for e in ends)))


def _check_disjoint(splits: Mapping[str, pd.DataFrame]) -> None:
    """Refuse a gene pair (either orientation) in train and in an evaluated split."""
    train = _unordered(splits["train"])
    for s, pairs in splits.items():
        shared = sorted(train & _unordered(pairs)) if s != "train" else []
        if shared:
            raise ValueError(
                f"{len(shared)} gene pair(s) are in both the train and the {s} pairs (either "
                f"orientation), e.g. {shared[:5]}: the {s} score would be inflated by pairs the "
                f"model was fitted on; drop them from one side, or pass allow_shared_pairs=True "
                "if this is intended"
            )


def evaluate_pairs(
    table: pd.DataFrame,
    train: pd.DataFrame,
    test: pd.DataFrame,
    *,
    valid: pd.DataFrame | None = None,
    features: str | Sequence[str] = "sum",
    classifier: str = "logistic",
    params: dict[str, Any] | None = None,
    name_table: pd.DataFrame | None = None,
    random_baseline: bool = True,
    texts: Mapping[str, str] | pd.Series | None = None,
    clean: bool = True,
    seed: int = 0,
    allow_shared_pairs: bool = False,
) -> GGIResult:
    """Fit on ``train``, score ``test`` (and ``valid``), with baselines and the leakage audit.

    Parameters
    ----------
    table
        Embedding table (index = gene symbol).
    train, test, valid
        Pairs frames (``gene_a``, ``gene_b``, ``label``).
    features
        Pair feature specification (``"sum"``, ``"sum+hadamard"``, ...).
    classifier
        Classifier registry name (``"logistic"``, ``"random_forest"``, ``"mlp"``).
    params
        Classifier parameters overriding the defaults.
    name_table
        Embedding table of ``name``-only texts: the honest floor baseline. It is fitted and scored
        on the pairs the main table covers (minus any it does not cover itself).
    random_baseline
        Also score random Gaussian embeddings of the same genes and dimension.
    texts
        Symbol -> embedded text, for the leakage audit (:func:`~biobft.ggi.leakage_share`).
    clean
        Apply :func:`~biobft.ggi.splits.clean_pairs` to every split (drop self pairs and pairs
        with both labels, collapse duplicates in either orientation). ``False`` scores the raw
        pairs, repeats included.
    seed
        Random seed (classifier and random baseline).
    allow_shared_pairs
        Accept a gene pair (in either orientation) that is in ``train`` and in ``test`` or
        ``valid``; by default that leak is refused, since the score would be inflated.

    Returns
    -------
    :class:`GGIResult`.

    Raises
    ------
    TypeError, KeyError, ValueError
        Bad pairs (see :func:`~biobft.ggi.splits.check_pairs`), features or classifier; a pair
        shared by ``train`` and ``test`` / ``valid`` (unless ``allow_shared_pairs``); no scored
        pair with both genes in the table.
    """
    spec = "+".join(parse_features(features))
    table = validate_table(table)
    if name_table is not None:
        name_table = validate_table(name_table, name="name_table")
    splits = {"train": train, "test": test} | ({"valid": valid} if valid is not None else {})
    n_raw, cleaning, used, dropped, covered_pairs = {}, {}, {}, {}, {}
    for s, pairs in splits.items():
        check_pairs(pairs, name=f"{s} pairs")
    if not allow_shared_pairs:
        _check_disjoint(splits)
    for s, pairs in splits.items():
        n_raw[s] = len(pairs)
        if clean:
            pairs, cleaning[s] = clean_pairs(pairs)
        else:
            pairs = pairs[list(("gene_a", "gene_b", "label"))].reset_index(drop=True)
        cov = _covered(table, pairs)
        if not cov.any():
            raise ValueError(
                f"none of the {len(pairs)} {s} pairs has both genes in the embedding table "
                f"({len(table)} genes, e.g. {list(table.index[:3])}; pairs use e.g. "
                f"{list(pairs['gene_a'].astype(str)[:3])}): the table and the pairs must use the "
                "same gene symbols"
            )
        covered_pairs[s] = pairs.loc[cov].reset_index(drop=True)
        check_pairs(covered_pairs[s], name=f"covered {s} pairs")
        used[s] = int(cov.sum())
        dropped[s] = int((~cov).sum())

    t0 = time.perf_counter()
    model = fit(
        table,
        covered_pairs["train"],
        features=spec,
        classifier=classifier,
        seed=seed,
        params=params,
    )
    fit_seconds = time.perf_counter() - t0
    p, y = _score(model, table, covered_pairs["test"])
    metrics = _metrics(y, p)
    curves = {"model": _curve(y, p)}
    valid_metrics = None
    if "valid" in covered_pairs:
        pv, yv = _score(model, table, covered_pairs["valid"])
        valid_metrics = _metrics(yv, pv)

    baselines: dict[str, dict[str, float]] = {}
    others: list[tuple[str, pd.DataFrame]] = []
    if random_baseline:
        others.append(("random", random_table(table, seed=seed)))
    if name_table is not None:
        others.append(("name", name_table))
    for bname, btable in others:
        tr = covered_pairs["train"]
        te = covered_pairs["test"]
        tr, te = tr.loc[_covered(btable, tr)], te.loc[_covered(btable, te)]
        try:
            check_pairs(tr, name=f"{bname} baseline train pairs")
            check_pairs(te, name=f"{bname} baseline test pairs")
        except ValueError as err:
            logger.warning("skipping the %s baseline: %s", bname, err)
            continue
        bmodel = fit(btable, tr, features=spec, classifier=classifier, seed=seed, params=params)
        bp, by = _score(bmodel, btable, te)
        baselines[bname] = {**_metrics(by, bp), "n_test": len(by)}
        curves[bname] = _curve(by, bp)

    leakage = n_leaky = None
    if texts is not None:
        mask = cooccurrence_mask(covered_pairs["test"], texts)
        n_leaky = int(mask.sum())
        leakage = float(mask.mean())

    return GGIResult(
        **metrics,
        features=spec,
        classifier=classifier,
        seed=int(seed),
        table_meta=table_metadata(table),
        n_raw=n_raw,
        n_used=used,
        n_dropped=dropped,
        cleaning=cleaning,
        valid=valid_metrics,
        baselines=baselines,
        leakage=leakage,
        n_leaky=n_leaky,
        curves=curves,
        fit_seconds=fit_seconds,
        model=model,
    )


def evaluate_gene2vec(
    table: pd.DataFrame,
    *,
    features: str | Sequence[str] = "sum",
    classifier: str = "logistic",
    params: dict[str, Any] | None = None,
    name_table: pd.DataFrame | None = None,
    random_baseline: bool = True,
    use_valid: bool = False,
    texts: Mapping[str, str] | pd.Series | None = None,
    clean: bool = True,
    seed: int = 0,
) -> GGIResult:
    """GenePT's gene-gene interaction benchmark on the Gene2vec splits, in one call.

    Fits on the Gene2vec train split (263,016 pairs), scores the test split (21,448 pairs; no
    gene shared with train), and computes the random and (if ``name_table`` is given)
    name-only baselines on the same pairs. Pairs with a gene missing from ``table`` are dropped
    and counted. Self pairs, pairs with both labels and repeats are handled by
    :func:`~biobft.ggi.splits.clean_pairs` (``clean=True``, the default).

    Parameters
    ----------
    table
        Embedding table (index = gene symbol).
    use_valid
        Also score the valid split (5,568 pairs): use it, never test, to choose features,
        classifier and text source.
    features, classifier, params, name_table, random_baseline, texts, clean, seed
        See :func:`evaluate_pairs`.

    Returns
    -------
    :class:`GGIResult`.

    Examples
    --------
    >>> from biobft.embed import read_table
    >>> res = evaluate_gene2vec(read_table("refseq_minilm.parquet"), features="sum+hadamard")
    >>> print(res)  # doctest: +SKIP
    """
    from .. import datasets

    parse_features(features)
    validate_table(table)
    splits = {s: datasets.gene2vec_pairs(s) for s in (SPLITS if use_valid else ("train", "test"))}
    return evaluate_pairs(
        table,
        splits["train"],
        splits["test"],
        valid=splits.get("valid"),
        features=features,
        classifier=classifier,
        params=params,
        name_table=name_table,
        random_baseline=random_baseline,
        texts=texts,
        clean=clean,
        seed=seed,
    )
