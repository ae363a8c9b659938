"""Gene text corpus: RefSeq summaries, GO-derived text and names, with alias resolution."""

from __future__ import annotations

from .corpus import CoverageReport, clear_caches, gene_texts, read_texts
from .sources import TEXT_SOURCES, parse_source, source_bodies
from .symbols import SymbolResolver, default_resolver

__all__ = [
    "TEXT_SOURCES",
    "CoverageReport",
    "SymbolResolver",
    "clear_caches",
    "default_resolver",
    "gene_texts",
    "parse_source",
    "read_texts",
    "source_bodies",
]
