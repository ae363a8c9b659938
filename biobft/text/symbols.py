"""Gene symbol resolution: current, old and alias symbols to the NCBI table's official symbols."""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Mapping, Sequence

import pandas as pd

from .sources import _ncbi

logger = logging.getLogger(__name__)

__all__ = ["SymbolResolver", "default_resolver"]


MISSING_MARKERS = frozenset({"NA", "N/A", "#N/A", "NaN", "NAN", "nan", "NULL", "null", "None", "-"})
"""Missing-value spellings that are never read as a gene alias (Gene2vec's train split names a
gene ``NA`` 209 times, an R missing value upstream; NCBI lists ``NA`` as an alias of ``XK``)."""


def _split_aliases(value) -> list[str]:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return []
    if isinstance(value, str):
        parts = re.split(r"[,|;]", value)
    else:
        parts = list(value)
    return [str(p).strip() for p in parts if str(p).strip() and str(p).strip() != "-"]


class SymbolResolver:
    """Map gene symbols (current or old) to official NCBI symbols.

    Parameters
    ----------
    symbols
        Official symbols.
    aliases
        One alias collection (list or ``"A, B"`` string) per official symbol.
    """

    def __init__(
        self,
        symbols: Sequence[str],
        aliases: Sequence,
        *,
        renamed: Mapping[str, str] | None = None,
    ) -> None:
        self.official: set[str] = {str(s) for s in symbols}
        alias_map: dict[str, set[str]] = {}
        for sym, als in zip(symbols, aliases):
            for alias in _split_aliases(als):
                if alias != sym and alias not in MISSING_MARKERS:
                    alias_map.setdefault(alias, set()).add(str(sym))
        self.alias_to_official = {k: sorted(v) for k, v in alias_map.items()}
        self.renamed: dict[str, str] = {
            str(k): str(v) for k, v in (renamed or {}).items() if str(v) in self.official
        }

    @classmethod
    def from_ncbi(
        cls, frame: pd.DataFrame, *, current: pd.DataFrame | None = None
    ) -> SymbolResolver:
        """Build from a ``datasets.ncbi_genes()``-style frame (index ``entrez_id``; columns
        ``symbol``, ``aliases``).

        ``current`` is an optional newer ``symbol, entrez_id`` table (e.g.
        ``datasets.string_nodes()``, STRING v12 / NCBI 2023): a current symbol whose Entrez ID
        the NCBI table knows under another symbol is mapped to that symbol by ID
        (``EFL1`` -> ``EFTUD1``), before any alias matching. Without it, a gene renamed after the
        bundled table was made is found only through aliases, and an alias can belong to another
        gene (``EFL1`` is also an old alias of ``EFNA1``).
        """
        renamed: dict[str, str] = {}
        if current is not None:
            by_id = frame["symbol"].astype(str)
            by_id = by_id[~by_id.index.duplicated(keep=False)]
            cur = current.loc[current["entrez_id"].isin(by_id.index), ["symbol", "entrez_id"]]
            for sym, eid in cur.itertuples(index=False):
                if str(sym) != by_id[eid]:
                    renamed.setdefault(str(sym), by_id[eid])
        return cls(frame["symbol"].astype(str).tolist(), frame["aliases"].tolist(), renamed=renamed)

    def candidates(self, symbol: str) -> list[str]:
        """Official symbols a symbol may stand for.

        The symbol's own entry when the newer table maps it by Entrez ID (``renamed``), else
        itself if official, else its alias targets. A missing-value spelling
        (:data:`MISSING_MARKERS`: ``NA``, ``N/A``, ``NaN``, ``null`` ...) is never an alias.
        """
        if symbol in self.renamed:
            return [self.renamed[symbol]]
        if symbol in self.official:
            return [symbol]
        return self.alias_to_official.get(symbol, [])

    def canonical(self, symbol: str) -> str | None:
        """The official symbol, or ``None`` when unknown or ambiguous."""
        cands = self.candidates(symbol)
        return cands[0] if len(cands) == 1 else None


@functools.lru_cache(maxsize=1)
def default_resolver() -> SymbolResolver:
    """The resolver built from goatools' bundled NCBI human gene table, with current symbols
    mapped by Entrez ID through STRING v12's node table (``datasets.string_nodes()``).

    When the STRING file is neither in the mirror, the cache nor downloadable, a warning is logged
    and only the NCBI table's symbols and aliases are used (a file that fails its sha256 check
    still raises).
    """
    from .. import datasets

    try:
        current = datasets.string_nodes()
    except FileNotFoundError as err:
        logger.warning(
            "STRING v12 node table unavailable (%s); renamed genes resolve through aliases only",
            err,
        )
        current = None
    return SymbolResolver.from_ncbi(_ncbi(), current=current)


def _keyed_by_official(texts: pd.Series, resolver: SymbolResolver) -> dict[str, str]:
    """``official symbol -> source key`` for source keys that are old symbols."""
    out: dict[str, str] = {}
    present = set(texts.index)
    for key in texts.index:
        if key in resolver.official:
            continue
        canon = resolver.canonical(key)
        if canon is not None and canon not in present:
            out.setdefault(canon, key)
    return out


def _lookup(
    gene: str, texts: pd.Series, by_official: dict[str, str], resolver: SymbolResolver
) -> str | None:
    """The source key whose text describes ``gene`` (itself, or an unambiguous alias match).

    Tried in order: the symbol itself, then its official symbol(s) via the alias table, then
    the same for the upper-cased symbol (``p53`` -> ``P53`` -> ``TP53``).
    """
    for query in dict.fromkeys((gene, gene.upper())):
        if query in texts.index:
            return query
        cands = resolver.candidates(query)
        hits = [c for c in cands if c in texts.index]
        if len(hits) == 1:
            return hits[0]
        if not hits:
            via = {by_official[c] for c in cands if c in by_official}
            if len(via) == 1:
                return via.pop()
    return None
