"""The leakage audit of GenePT's GGI benchmark: do a pair's symbols co-occur in the embedded texts.

:func:`cooccurrence_mask` marks the pairs where one gene's symbol is written in the other gene's
embedded text; :func:`leakage_share` is their share. :func:`~biobft.ggi.evaluate_pairs` reports it
for the scored test pairs when texts are given.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np
import pandas as pd

from .splits import check_pairs

__all__ = ["cooccurrence_mask", "leakage_share"]

_BOUNDARY = "[A-Za-z0-9]"


def _mentions(text: str, symbol: str, cache: dict[str, re.Pattern]) -> bool:
    pat = cache.get(symbol)
    if pat is None:
        pat = cache[symbol] = re.compile(rf"(?<!{_BOUNDARY}){re.escape(symbol)}(?!{_BOUNDARY})")
    return pat.search(text) is not None


def cooccurrence_mask(pairs: pd.DataFrame, texts: Mapping[str, str] | pd.Series) -> np.ndarray:
    """Which pairs have one gene's symbol written in the other gene's embedded text.

    A symbol counts as mentioned when it occurs in the text as a whole token: case-sensitive,
    not preceded or followed by a letter or digit (``"TP53-mediated"`` mentions TP53,
    ``"TP531"`` does not). Genes without a text mention nothing.

    Parameters
    ----------
    pairs
        Frame with columns ``gene_a`` and ``gene_b``.
    texts
        Gene symbol -> the text that was embedded for it.

    Returns
    -------
    Boolean array of length ``len(pairs)``.
    """
    check_pairs(pairs, labels=False)
    if isinstance(texts, pd.Series):
        texts = texts.dropna().astype(str).to_dict()
    elif not isinstance(texts, Mapping):
        raise TypeError(
            f"texts must be a pandas Series or dict symbol -> text; got {type(texts).__name__}"
        )
    cache: dict[str, re.Pattern] = {}
    out = np.zeros(len(pairs), dtype=bool)
    for i, (a, b) in enumerate(zip(pairs["gene_a"].astype(str), pairs["gene_b"].astype(str))):
        ta, tb = texts.get(a), texts.get(b)
        out[i] = bool(ta and _mentions(ta, b, cache)) or bool(tb and _mentions(tb, a, cache))
    return out


def leakage_share(pairs: pd.DataFrame, texts: Mapping[str, str] | pd.Series) -> float:
    """Share of ``pairs`` whose two symbols co-occur in the embedded texts (GenePT's audit).

    See :func:`cooccurrence_mask` for the matching rule. Returns ``nan`` for no pairs.
    """
    mask = cooccurrence_mask(pairs, texts)
    return float(mask.mean()) if len(mask) else float("nan")
