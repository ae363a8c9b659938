"""Gene2vec gene-gene interaction benchmark (Du et al. 2019, BMC Genomics)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ._fetch import fetch

__all__ = ["GENE2VEC_SPLITS", "gene2vec_pairs"]

GENE2VEC_SPLITS = ("train", "valid", "test")


def _read_lines(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    return text.splitlines()


def gene2vec_pairs(split: str = "train") -> pd.DataFrame:
    """Gene pairs and interaction labels of one Gene2vec benchmark split, in file order.

    The benchmark of Du et al. (2019), also used by GenePT: ``<split>_text.txt`` has one pair of
    gene symbols per line (``"GPNMB BAP1"``), ``<split>_label.txt`` a 0/1 label per line.
    Upstream: ``jingcheng-du/Gene2vec@6236e0b``, ``predictionData/`` (MIT).

    Rows are returned raw, exactly as in the files: duplicate pairs, self-pairs and pairs that
    occur with both labels are kept (deduplication is the caller's choice, e.g. in
    :mod:`biobft.ggi`). The three splits share no genes.

    Parameters
    ----------
    split
        ``"train"`` (263,016 pairs), ``"valid"`` (5,568) or ``"test"`` (21,448).

    Returns
    -------
    DataFrame
        RangeIndex; columns ``gene_a`` (str), ``gene_b`` (str), ``label`` (int8, 0/1).

    Raises
    ------
    ValueError
        Unknown ``split``; text and label files of different lengths; a malformed line.
    """
    if split not in GENE2VEC_SPLITS:
        raise ValueError(f"unknown Gene2vec split {split!r}; choose one of {GENE2VEC_SPLITS}")
    text_path = fetch(f"gene2vec_{split}_text")
    label_path = fetch(f"gene2vec_{split}_label")
    pairs = _read_lines(text_path)
    labels = _read_lines(label_path)
    if len(pairs) != len(labels):
        raise ValueError(
            f"Gene2vec {split}: {text_path.name} has {len(pairs)} lines but {label_path.name} "
            f"has {len(labels)}; the files must be line-aligned (check BIOBFT_DATA_DIR)"
        )
    split_pairs = [line.split() for line in pairs]
    bad = [i for i, p in enumerate(split_pairs) if len(p) != 2]
    if bad:
        i = bad[0]
        raise ValueError(
            f"Gene2vec {split}: {len(bad)} line(s) of {text_path.name} are not 'GENE_A GENE_B'; "
            f"first at line {i + 1}: {pairs[i]!r}"
        )
    lab = pd.Series(labels).str.strip()
    bad_lab = ~lab.isin(["0", "1"])
    if bad_lab.any():
        i = int(np.flatnonzero(bad_lab.to_numpy())[0])
        raise ValueError(
            f"Gene2vec {split}: {int(bad_lab.sum())} label(s) of {label_path.name} are not 0/1; "
            f"first at line {i + 1}: {labels[i]!r}"
        )
    gene_a, gene_b = zip(*split_pairs) if split_pairs else ((), ())
    return pd.DataFrame(
        {
            "gene_a": pd.Series(gene_a, dtype=object),
            "gene_b": pd.Series(gene_b, dtype=object),
            "label": lab.astype(np.int8).to_numpy(),
        }
    )
