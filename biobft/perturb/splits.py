"""Train/test splits over perturbation conditions, saved as plain JSON.

A :class:`Split` is a list of folds; each fold names the training and test row ids of a
:class:`~biobft.perturb.pseudobulk.Pseudobulk` (the condition label, or ``cell_type::condition``
when a cell-type key is used) and the group of every test condition (``single``,
``double_seen0/1/2``, ...). The JSON file is the whole split, so results reproduce across versions.

Builders (one registry, :data:`SPLITS`): ``loo`` (leave-one-perturbation-out over singles and
seen-single doubles), ``kfold`` (leave-perturbation-out K-fold), ``simulation`` (GEARS: unseen
singles; doubles with 0/1/2 genes seen), ``cross_cell_type`` (a perturbation held out in one cell
type while seen in the others).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._paths import atomic_path
from .pseudobulk import Pseudobulk

FORMAT = "biobft.perturb.split"
VERSION = 1


@dataclass
class Split:
    """Folds of training / test row ids.

    Attributes
    ----------
    folds
        Each fold is ``{"train": [...], "test": [...], "groups": {test_id: group}}``.
    kind
        Builder name.
    params
        Builder parameters (seed, fractions, ...).
    """

    folds: list[dict[str, Any]]
    kind: str = "custom"
    params: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.folds)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "kind": self.kind,
            "params": self.params,
            "folds": self.folds,
        }

    def save(self, path: str | os.PathLike) -> Path:
        """Write the split as JSON (atomically)."""
        path = Path(path)
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(self.to_dict(), indent=1))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Split:
        """Read a split written by :meth:`save`."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(
                f"split file {str(path)!r} does not exist; write one with "
                "biobft.perturb.splits.make_split(...).save(path)"
            )
        data = json.loads(path.read_text())
        if data.get("format") != FORMAT or "folds" not in data:
            raise ValueError(f"{path} is not a biobft split file (expected format {FORMAT!r})")
        return cls(folds=data["folds"], kind=data.get("kind", "custom"), params=data["params"])

    def validate(self, pb: Pseudobulk) -> Split:
        """Check the folds against ``pb``; return ``self``.

        Every id must exist in ``pb``, no control may be used, no fold may be empty, and no fold
        may train on a row it tests (a leak that would silently inflate every score). Every entry
        point (a builder, a saved JSON split, ``resolve_split``, the CLI) goes through here.

        Raises
        ------
        ValueError
            Naming the unknown conditions (with the known ones), the misplaced control, the empty
            folds, or the folds whose train and test overlap with the overlapping ids.
        """
        known = set(pb.ids)
        used = {i for f in self.folds for part in ("train", "test") for i in f[part]}
        unknown = sorted(used - known)
        if unknown:
            raise ValueError(
                f"split references {len(unknown)} unknown condition(s) {unknown[:10]}; rebuild "
                "the split on this data (make_split(pb, ...)) or drop them "
                f"(known: {sorted(known)[:20]})"
            )
        controls = sorted(used & set(pb.obs.index[pb.obs["is_control"]]))
        if controls:
            raise ValueError(
                f"split uses control group(s) {controls} as perturbations; remove them"
            )
        empty = [k for k, f in enumerate(self.folds) if not f["test"] or not f["train"]]
        if empty:
            raise ValueError(f"split fold(s) {empty[:10]} have an empty train or test set")
        leaks = {
            k: sorted(set(f["train"]) & set(f["test"]))
            for k, f in enumerate(self.folds)
            if set(f["train"]) & set(f["test"])
        }
        if leaks:
            shown = "; ".join(f"fold {k}: {ids[:10]}" for k, ids in list(leaks.items())[:5])
            raise ValueError(
                f"split {self.kind!r} leaks: {len(leaks)} fold(s) train on the condition(s) they "
                f"test ({shown}); remove the test ids from each fold's train list or rebuild the "
                "split with make_split(pb, ...)"
            )
        return self


def condition_group(genes: Sequence[str], seen_genes: set[str], *, seen: bool = False) -> str:
    """Group of a test condition given the genes perturbed singly in training.

    ``single`` (gene unseen), ``single_seen`` (the same perturbation seen in another context),
    ``double_seen0``/``1``/``2`` (number of its genes seen as training singles), ``multi``.
    """
    if len(genes) == 1:
        return "single_seen" if seen else "single"
    if len(genes) == 2:
        return f"double_seen{sum(g in seen_genes for g in genes)}"
    return "multi"


def _groups(pb: Pseudobulk, train: list[str], test: list[str]) -> dict[str, str]:
    obs = pb.obs
    tr = obs.loc[train]
    seen_single = {g[0] for g in tr.loc[tr["kind"] == "single", "genes"]}
    seen_cond = set(tr["condition"])
    return {
        t: condition_group(
            obs.at[t, "genes"], seen_single, seen=obs.at[t, "condition"] in seen_cond
        )
        for t in test
    }


def _fold(pb: Pseudobulk, train: list[str], test: list[str]) -> dict[str, Any]:
    return {"train": list(train), "test": list(test), "groups": _groups(pb, train, test)}


def leave_one_out(pb: Pseudobulk, *, doubles: bool = True) -> Split:
    """Leave-one-perturbation-out within each cell type.

    A held-out single ``A`` is trained on every other perturbation of its cell type that does not
    involve gene ``A`` (so ``A`` is truly unseen). A double ``A+B`` is held out only when both
    singles exist (``double_seen2``) and trained on all other perturbations of its cell type.
    """
    folds = []
    for _ct, obs in pb.obs[~pb.obs["is_control"]].groupby("cell_type", sort=True):
        singles = set(obs.loc[obs["kind"] == "single", "genes"].map(lambda g: g[0]))
        for rid, genes in obs["genes"].items():
            if len(genes) == 1:
                train = [i for i, g in obs["genes"].items() if genes[0] not in g]
            elif len(genes) == 2 and doubles and all(g in singles for g in genes):
                train = [i for i in obs.index if i != rid]
            else:
                continue
            if train:
                folds.append(_fold(pb, train, [rid]))
    return Split(folds, kind="loo", params={"doubles": doubles})


def kfold(pb: Pseudobulk, *, n_splits: int = 5, seed: int = 0) -> Split:
    """Leave-perturbation-out K-fold over all perturbations (pooled across cell types)."""
    ids = np.array(pb.perturbations())
    if n_splits < 2 or n_splits > len(ids):
        raise ValueError(f"n_splits must be in [2, {len(ids)}]; got {n_splits}")
    order = np.random.default_rng(seed).permutation(len(ids))
    folds = []
    for part in np.array_split(order, n_splits):
        test = set(ids[part])
        folds.append(_fold(pb, [i for i in ids if i not in test], sorted(test)))
    return Split(folds, kind="kfold", params={"n_splits": n_splits, "seed": seed})


def simulation(
    pb: Pseudobulk, *, seed: int = 1, train_gene_frac: float = 0.75, seen2_test_frac: float = 0.5
) -> Split:
    """GEARS ``simulation`` split: unseen singles; doubles with 0, 1 or 2 genes seen.

    A random ``1 - train_gene_frac`` of the singly-perturbed genes is unseen: their singles and
    every double involving them are test (``double_seen0``/``1``); of the doubles whose genes are
    all seen, a random ``seen2_test_frac`` is test (``double_seen2``). Everything else trains.
    """
    if not 0 < train_gene_frac < 1 or not 0 <= seen2_test_frac <= 1:
        raise ValueError("train_gene_frac must be in (0, 1) and seen2_test_frac in [0, 1]")
    rng = np.random.default_rng(seed)
    obs = pb.obs[~pb.obs["is_control"]]
    genes = sorted({g for gs in obs["genes"] for g in gs})
    n_unseen = max(1, round(len(genes) * (1 - train_gene_frac)))
    unseen = set(rng.choice(genes, size=n_unseen, replace=False).tolist())
    test: list[str] = []
    seen2 = []
    for rid, gs in obs["genes"].items():
        if any(g in unseen for g in gs):
            test.append(rid)
        elif len(gs) >= 2:
            seen2.append(rid)
    pick = rng.permutation(len(seen2))[: round(len(seen2) * seen2_test_frac)]
    test += [seen2[i] for i in sorted(pick)]
    test_set = set(test)
    train = [i for i in obs.index if i not in test_set]
    params = {"seed": seed, "train_gene_frac": train_gene_frac, "seen2_test_frac": seen2_test_frac}
    return Split([_fold(pb, train, sorted(test))], kind="simulation", params=params)


def cross_cell_type(pb: Pseudobulk) -> Split:
    """Hold out each perturbation in one cell type; train on everything else (incl. other types)."""
    ids = pb.perturbations()
    folds = [_fold(pb, [i for i in ids if i != t], [t]) for t in ids]
    return Split([f for f in folds if f["train"]], kind="cross_cell_type", params={})


#: builder name -> function(pb, **params) -> Split
SPLITS: dict[str, Callable[..., Split]] = {
    "loo": leave_one_out,
    "kfold": kfold,
    "simulation": simulation,
    "cross_cell_type": cross_cell_type,
}


def make_split(pb: Pseudobulk, kind: str = "loo", **params: Any) -> Split:
    """Build a split by name (see :data:`SPLITS`), validated against ``pb``."""
    if kind not in SPLITS:
        raise ValueError(f"unknown split {kind!r}; choose from {list(SPLITS)} or pass a Split/path")
    return SPLITS[kind](pb, **params).validate(pb)


def resolve_split(split: Split | str | os.PathLike | None, pb: Pseudobulk) -> Split:
    """A :class:`Split` from a Split, a builder name, or a JSON path; validated against ``pb``."""
    if split is None:
        split = "loo"
    if isinstance(split, str) and split in SPLITS:
        split = make_split(pb, split)
    elif isinstance(split, (str, os.PathLike)):
        text = str(split)
        if (
            isinstance(split, str)
            and not os.path.exists(text)
            and not text.endswith(".json")
            and (os.sep not in text)
        ):
            import difflib

            near = difflib.get_close_matches(text, list(SPLITS), n=1)
            hint = f"did you mean {near[0]!r}? " if near else ""
            raise ValueError(
                f"unknown split {text!r}; {hint}choose one of {list(SPLITS)} or pass the path of "
                "a split .json written by Split.save"
            )
        split = Split.load(split)
    elif not isinstance(split, Split):
        raise TypeError(
            f"split must be a Split, a name in {list(SPLITS)} or a JSON path; got "
            f"{type(split).__name__}"
        )
    if not split.folds:
        raise ValueError(
            f"split {split.kind!r} has no folds on this data (too few perturbations?); "
            f"pass another of {list(SPLITS)} (with several cell types and one perturbation, "
            "'cross_cell_type')"
        )
    return split.validate(pb)


def split_table(split: Split) -> pd.DataFrame:
    """One row per (fold, test id) with the test group: handy for inspection."""
    return pd.DataFrame(
        [
            {"fold": k, "id": t, "group": f["groups"].get(t, ""), "n_train": len(f["train"])}
            for k, f in enumerate(split.folds)
            for t in f["test"]
        ]
    )
