"""Gene text corpus: RefSeq summaries, GO-derived text and names, with alias resolution."""

from __future__ import annotations

from .corpus import (
    TEXT_SOURCES,
    CoverageReport,
    SymbolResolver,
    clear_caches,
    default_resolver,
    gene_texts,
    parse_source,
    read_texts,
    source_bodies,
)

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
