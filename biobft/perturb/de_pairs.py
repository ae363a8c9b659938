"""Differential-expression pairs: will readout gene G change when gene P is perturbed?

A *DE-pair table* has one row per (perturbation, readout gene) with columns ``pert``, ``gene``,
``label`` (0/1: differentially expressed or not, or up vs down) and ``split`` (``train`` /
``test``, whole perturbations per split), like :func:`biobft.datasets.perturbqa` (PerturbQA,
Wu et al. 2025) or a table built from one's own screen. Nothing here assumes PerturbQA's genes,
cell lines or sizes.

:func:`evaluate_de_pairs` validates the table once (:func:`check_de_pairs`), fits every
predictor of :data:`DE_PREDICTORS` on the training pairs only (hyper-parameters by inner
cross-validation over *training perturbations*), scores the test pairs and reports, beside them,
the baselines that could fake a score: the readout gene's base rate (0.5 by construction under
:func:`~biobft.perturb.metrics.auroc_per_gene`), random Gaussian vectors of the same dimension
through the best embedding predictor, and a name-only table when one is given.

The predictors (``knn``, ``graph``, ``pair``, ``ensemble``, ``base_rate``) and their registry
live in :mod:`biobft.perturb.de_predictors`; adding one is one class + one registry line.

Perturbed genes without an embedding follow ``missing=`` as in
:mod:`biobft.perturb.predictors`: ``"error"`` raises, ``"skip"`` leaves their test pairs unscored
(reported as ``coverage``), ``"mean"`` gives them the mean embedding of the training
perturbations.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..embed.table import validate_table
from ._options import missing_hint, predictor_specs
from .de_base import _MISSING
from .de_input import DE_PAIR_COLUMNS, DEPairs, check_de_pairs
from .de_neighbours import DEFAULT_SCORE_COL, graph_edges
from .de_predictors import DE_PREDICTORS, Ensemble
from .embeddings import Missing
from .metrics import auroc_per_gene

logger = logging.getLogger(__name__)

__all__ = ["DE_PAIR_COLUMNS", "DEPairs", "check_de_pairs", "evaluate_de_pairs"]


# --------------------------------------------------------------------------- input checks
DEFAULT_DE_PREDICTORS = ("knn", "graph", "pair", "ensemble")


def _check_networks(
    specs: dict[str, tuple[str, dict[str, Any]]], network: Any, perts: pd.Index
) -> None:
    """Validate every network a ``graph`` (alone or inside an ``ensemble``) will use, up front.

    A network given here must also have at least one perturbed gene as a node, else every
    ``graph`` score would be the base-rate fallback. The default (STRING) is loaded at fit time.
    """
    uses: list[tuple[str, dict[str, Any]]] = []
    for label, (name, params) in specs.items():
        if name == "graph":
            uses.append((label, params))
        elif name == "ensemble" and "graph" in params.get("members", ("knn", "graph")):
            member = dict(params.get("member_params") or {}).get("graph", {})
            uses.append((f"{label} (its graph member)", member))
    for label, params in uses:
        net = params.get("network", network)
        if net is None:
            continue
        what = "network" if "network" not in params else f"the network of {label!r}"
        try:
            edges = graph_edges(net, score_col=params.get("score_col", DEFAULT_SCORE_COL))
        except (KeyError, TypeError, ValueError) as err:
            if what == "network":
                raise
            raise type(err)(f"{what}: {err.args[0] if err.args else err}") from None
        nodes = set(edges["gene_a"]) | set(edges["gene_b"])
        if not nodes & set(perts):
            raise ValueError(
                f"{what} ({len(edges)} edges, nodes e.g. {sorted(nodes)[:3]}) has none of the "
                f"{len(perts)} perturbed genes (e.g. {list(perts[:3])}) as a node, so 'graph' "
                "would score every pair by the base rate; use the gene symbols of the pairs"
            )


# --------------------------------------------------------------------------- evaluation
def _row(label, kind, test, scored, scores, n_test_perts, model, seconds) -> dict[str, Any]:
    t = test.loc[scored]
    from sklearn.metrics import average_precision_score, roc_auc_score

    y = t["label"].to_numpy()
    both = len(np.unique(y)) == 2
    return {
        "predictor": label,
        "kind": kind,
        "auroc_per_gene": auroc_per_gene(t["gene"], y, scores) if len(t) else float("nan"),
        "n_genes_scored": int(
            (t.groupby("gene")["label"].agg(lambda v: 0 < v.sum() < len(v))).sum()
        ),
        "n_test_pairs": len(test),
        "n_scored_pairs": len(t),
        "n_test_perturbations": int(t["pert"].nunique()),
        "coverage": float(len(t) / len(test)),
        "perturbation_coverage": float(t["pert"].nunique() / n_test_perts),
        "auroc": float(roc_auc_score(y, scores)) if both else float("nan"),
        "average_precision": float(average_precision_score(y, scores)) if both else float("nan"),
        "n_fallback_pairs": int(getattr(model, "n_fallback_", 0)),
        "inner_cv_auroc_per_gene": float(getattr(model, "cv_score_", float("nan"))),
        "params": repr(getattr(model, "params_", {})),
        "seconds": round(seconds, 2),
    }


LOW_COVERAGE = 0.5
"""Below this share of test perturbations embedded, :func:`evaluate_de_pairs` warns."""


def _warn_low_coverage(test: pd.DataFrame, scored: np.ndarray, known: set, missing: str) -> None:
    """Warn when fewer than :data:`LOW_COVERAGE` of the test perturbations have an embedding.

    Under ``missing="skip"`` the score then describes a small subset of the test pairs; under
    ``"mean"`` most test perturbations share one vector. Either way the number looks like a full
    benchmark score, so say it once, with the counts.
    """
    perts = pd.unique(test["pert"])
    n_emb = sum(p in known for p in perts)
    if n_emb >= LOW_COVERAGE * len(perts):
        return
    what = (
        f"only {int(scored.sum())} of {len(test)} test pairs are scored"
        if missing == "skip"
        else "the rest get the mean training embedding"
    )
    warnings.warn(
        f"only {n_emb} of {len(perts)} test perturbations ({n_emb / len(perts):.1%}) have an "
        f"embedding: {what} (missing={missing!r}), so the score says little about the whole "
        "screen; use a table that covers more genes (e.g. source 'refseq|go|name')",
        UserWarning,
        stacklevel=3,
    )


def evaluate_de_pairs(
    pairs: pd.DataFrame,
    *,
    embedding: pd.DataFrame,
    predictors: Sequence[str] | dict[str, dict[str, Any]] | None = None,
    missing: Missing = "error",
    seed: int = 0,
    name_embedding: pd.DataFrame | None = None,
    network: Any = None,
    baselines: bool = True,
    allow_shared_perturbations: bool = False,
    n_folds: int = 5,
    return_scores: bool = False,
):
    """Fit DE-pair predictors on the training pairs and score the test pairs beside baselines.

    Parameters
    ----------
    pairs
        DE-pair table: ``pert``, ``gene``, ``label`` (0/1), ``split`` (``train`` / ``test``);
        see :func:`check_de_pairs`.
    embedding
        Gene embedding table (index = gene symbol): embeds the perturbed genes (and the readout
        genes for ``pair``).
    predictors
        A name or names from :data:`DE_PREDICTORS` (``"knn"`` is one predictor), or
        ``{label: {"predictor": name, **params}}``; default ``("knn", "graph", "pair",
        "ensemble")`` (the ensemble reuses the fitted ``knn`` and ``graph``). Empty only with
        ``baselines=True``.
    missing
        Perturbed genes absent from ``embedding``: ``"error"`` (raise, before any fit),
        ``"skip"`` (their test pairs are not scored: see ``coverage``), ``"mean"`` (mean
        embedding of the training perturbations).
    seed
        Inner-CV folds, classifier seeds and the random-vector baseline.
    name_embedding
        Optional name-only table (``biobft.embed.embed_genes(source="name")``): the ``name``
        baseline, run through the same predictor as ``random``.
    network
        Edges for ``graph`` (and the ensemble's graph member): a DataFrame with one row per edge,
        columns ``gene_a``, ``gene_b`` (gene symbols, str, the same as ``pairs["pert"]``) and an
        optional weight ``combined_score`` (numeric >= 0; absent: every edge weighs 1), or a
        ``networkx.Graph``; default STRING v12 (:func:`biobft.datasets.string_edges`). Checked
        by :func:`~biobft.perturb.de_input.check_network` before any fit, and it must have a
        perturbed gene as a node.
    baselines
        Add ``base_rate``, ``random`` (and ``name``) rows.
    allow_shared_perturbations
        See :func:`check_de_pairs`.
    n_folds
        Inner CV folds over training perturbations.
    return_scores
        Also return a frame of the scored test pairs with one score column per row label.

    Returns
    -------
    DataFrame
        One row per predictor and baseline, all on the same test pairs: ``predictor``, ``kind``
        (``model`` / ``baseline``), ``auroc_per_gene`` (PerturbQA's metric), ``n_genes_scored``,
        ``n_test_pairs`` (all test pairs), ``n_scored_pairs``, ``n_test_perturbations``
        (scored), ``coverage`` (share of test pairs scored), ``perturbation_coverage``,
        ``auroc`` (pooled over all scored pairs: inflated by readout-gene base rates, not the
        task's metric), ``average_precision`` (pooled), ``n_fallback_pairs`` (scored test
        pairs that got a fallback: ``knn``/``graph`` the readout gene's training base rate for a
        knockdown without an embedding, or (``graph``) without a network neighbour among the
        training knockdowns that measured that readout gene, ``pair`` the mean gene vector for a
        readout gene without one; 0 for ``base_rate``; the ``ensemble``'s are in its members'
        rows), ``inner_cv_auroc_per_gene``,
        ``params``, ``seconds``. ``attrs["per_gene"]``: ``{predictor: {gene: AUROC}}``
        (``pd.DataFrame(...)`` gives the
        gene x predictor frame);
        ``attrs["best"]``: the embedding predictor with the best inner-CV score (the one the
        ``random``/``name`` baselines go through; predictors with a full k-fold inner CV are
        ranked before those scored on one hold-out, whose scores are not comparable; an
        ``ensemble`` when no other embedding predictor was run).

    Raises
    ------
    TypeError, KeyError, ValueError
        Bad pairs (see :func:`check_de_pairs`), bad ``missing``, unknown predictor, no
        predictor with ``baselines=False``, a bad ``network`` (see
        :func:`~biobft.perturb.de_input.check_network`) or one without any perturbed gene, an
        embedding table that covers no perturbed gene, or (``missing="error"``) perturbed genes
        absent from it. All raised before any fit.

    Warns
    -----
    UserWarning
        Fewer than :data:`LOW_COVERAGE` (half) of the test perturbations have an embedding
        (``missing="skip"`` or ``"mean"``): the score then describes a small subset.
    """
    t0 = time.perf_counter()
    data = check_de_pairs(pairs, allow_shared_perturbations=allow_shared_perturbations)
    if missing not in _MISSING:
        raise ValueError(f"missing must be one of {_MISSING}; got {missing!r}")
    table = validate_table(embedding)
    specs = predictor_specs(
        DEFAULT_DE_PREDICTORS if predictors is None else predictors,
        DE_PREDICTORS,
        what="DE-pair predictor",
        allow_empty=baselines,
    )
    all_perts = pd.Index(pd.unique(pd.concat([data.train["pert"], data.test["pert"]])))
    _check_networks(specs, network, all_perts)
    covered = table.index.intersection(all_perts)
    if len(covered) == 0:
        raise ValueError(
            f"the embedding table ({len(table)} genes, e.g. {list(table.index[:3])}) covers none "
            f"of the {len(all_perts)} perturbed genes (e.g. {list(all_perts[:3])}); check that "
            "both use the same gene symbols"
        )
    absent = sorted(set(all_perts) - set(table.index))
    if absent and missing == "error":
        raise KeyError(
            f"{len(absent)} of {len(all_perts)} perturbed gene(s) are absent from the embedding "
            f"table, e.g. {absent[:10]}; use a table that covers them (e.g. source "
            f"'refseq|go|name') or {missing_hint('skip', 'mean')}"
        )
    test = data.test
    n_test_perts = int(test["pert"].nunique())
    scored = np.ones(len(test), bool)
    if missing == "skip":
        scored = test["pert"].isin(set(table.index)).to_numpy()
        if not scored.any():
            raise ValueError("no test perturbation has an embedding: nothing to score")
    _warn_low_coverage(test, scored, set(table.index), missing)
    test_s = test.loc[scored].reset_index(drop=True)
    both = test_s.groupby("gene")["label"].nunique()
    if not (both == 2).any():
        raise ValueError(
            f"no readout gene has both labels (0 and 1) among the {len(test_s)} scored test pairs "
            f"({int(scored.sum())} of {len(test)} test pairs have an embedded perturbation): the "
            "per-gene AUROC is undefined for every gene; use more test perturbations, a table "
            "that covers more of them, or check the label column"
        )
    common = dict(missing=missing, seed=seed, n_folds=n_folds)

    rows, score_cols, models = [], {}, {}

    def run(label, name, params, emb, kind):
        t = time.perf_counter()
        kw = {**common, **params}
        if DE_PREDICTORS[name].needs_embedding:
            kw.setdefault("embedding", emb)
        if name == "graph":
            kw.setdefault("network", network)
        if name == "ensemble":
            # a baseline's members see its own (random / name) table: never reuse fitted models
            kw.setdefault("fitted", models if kind == "model" else {})
            kw.setdefault("member_params", {"graph": {"network": network}})
            if emb is not None:
                kw.setdefault("embedding", emb)
        model = DE_PREDICTORS[name](**kw).fit(data.train)
        scores = model.predict(test_s)
        rows.append(
            _row(label, kind, test, scored, scores, n_test_perts, model, time.perf_counter() - t)
        )
        score_cols[label] = scores
        logger.info(
            "%s: auroc_per_gene %.4f (%.1f s)",
            label,
            rows[-1]["auroc_per_gene"],
            rows[-1]["seconds"],
        )
        return model

    for label, (name, params) in specs.items():
        models[label] = run(label, name, params, table, "model")
    emb_models = {
        lab: m
        for lab, m in models.items()
        if type(m).needs_embedding and not isinstance(m, Ensemble) and np.isfinite(m.cv_score_)
    }
    # k-fold out-of-fold scores and one hold-out score are not comparable: rank the predictors
    # with a full inner CV (oof_) first, the others only when none has one
    full = {lab: m for lab, m in emb_models.items() if m.oof_ is not None}
    pool = full or emb_models
    if not pool:  # e.g. predictors=["ensemble"]: the baselines go through the ensemble itself
        pool = {
            lab: m
            for lab, m in models.items()
            if isinstance(m, Ensemble)
            and np.isfinite(m.cv_score_)
            and any(DE_PREDICTORS[k].needs_embedding for k in m.models_)
        }
    best = max(pool, key=lambda lab: pool[lab].cv_score_) if pool else None
    if baselines:
        run("base_rate", "base_rate", {}, None, "baseline")
        if best is not None:
            name, params = specs[best]
            rng = np.random.default_rng(seed)
            rand = pd.DataFrame(
                rng.standard_normal(table.shape).astype(np.float32),
                index=table.index,
                columns=table.columns,
            )
            run(f"random ({best})", name, params, rand, "baseline")
            if name_embedding is not None:
                run(f"name ({best})", name, params, validate_table(name_embedding), "baseline")
    out = pd.DataFrame(rows)
    per_gene = {
        lab: auroc_per_gene(test_s["gene"], test_s["label"], s, reduce=False)
        for lab, s in score_cols.items()
    }
    # plain dicts: pandas compares attrs when concatenating, which a DataFrame cannot survive
    out.attrs["per_gene"] = {
        lab: {str(g): float(v) for g, v in s.items()} for lab, s in per_gene.items()
    }
    out.attrs["best"] = best
    out.attrs["n_train_pairs"] = len(data.train)
    out.attrs["n_train_perturbations"] = int(data.train["pert"].nunique())
    out.attrs["n_test_perturbations"] = n_test_perts
    out.attrs["seconds"] = round(time.perf_counter() - t0, 2)
    if return_scores:
        return out, test_s.assign(**score_cols)
    return out
