"""GeneAgent / SPINDOCTOR gene synopses (narrative and GO-derived "ontological" texts)."""

from __future__ import annotations

import logging
import re

import pandas as pd

from ._fetch import fetch

__all__ = ["GENEAGENT_KINDS", "geneagent_texts"]

logger = logging.getLogger(__name__)

GENEAGENT_KINDS = ("ontological", "narrative")
# an HGNC-style symbol: upper-case letters, digits, '-', '.', and the 'orf' of C1orf112-like names
_LINE = re.compile(r"^(?P<symbol>[A-Z0-9](?:[A-Z0-9.\-]|orf)*): (?P<text>.*\S)\s*$")


def parse_geneagent(text: str) -> tuple[pd.Series, dict[str, int]]:
    """Parse GeneAgent synopsis text into ``symbol -> text`` (see :func:`geneagent_texts`)."""
    best: dict[str, str] = {}
    n_entries = n_skipped = 0
    for line in text.splitlines():
        line = line.strip()
        if not line or line == "////":
            continue
        m = _LINE.match(line)
        if m is None:
            n_skipped += 1
            continue
        n_entries += 1
        sym, body = m.group("symbol"), " ".join(m.group("text").split())
        if len(body) > len(best.get(sym, "")):  # longest wins; ties keep the first occurrence
            best[sym] = body
    series = pd.Series(best, dtype=object, name="text").sort_index()
    series.index.name = "symbol"
    report = {"entries": n_entries, "genes": len(series), "skipped_lines": n_skipped}
    return series, report


def geneagent_texts(kind: str = "ontological") -> pd.Series:
    """GeneAgent gene synopses, one text per gene symbol.

    Upstream: ``ncbi-nlp/GeneAgent@88fd1ad``, ``gene_{kind}_synposis_spindoctor.txt`` (US
    Government work, NLM notice), texts from the SPINDOCTOR gene-set benchmark. Lines are
    ``SYMBOL: text``; gene sets are separated by ``////``; genes recur across sets, often with
    text truncated to different lengths (ending in ``...``).

    Deduplication: per symbol the longest text (after collapsing whitespace) is kept, ties keep
    the first occurrence in the file. Lines that are not ``SYMBOL: text`` with an HGNC-style
    symbol (upper case, digits, ``-``, ``.``, ``orf``) are skipped: the narrative file contains
    a block of LLM-prompt text (``Summary: ...``, ``Mechanism: ...``) that is not gene text.

    Parameters
    ----------
    kind
        ``"ontological"`` (GO-derived: "Enables ... Involved in ... Located in ...") or
        ``"narrative"`` (RefSeq-style summaries).

    Returns
    -------
    Series
        Index ``symbol`` (str, unique, sorted), values ``text`` (str); 4,037 genes.
        ``series.attrs["report"]`` has counts of entries, genes and skipped lines.
    """
    if kind not in GENEAGENT_KINDS:
        raise ValueError(f"unknown GeneAgent text kind {kind!r}; choose one of {GENEAGENT_KINDS}")
    path = fetch(f"geneagent_{kind}")
    series, report = parse_geneagent(path.read_text(encoding="utf-8"))
    series.attrs["report"] = report
    series.attrs["source"] = f"geneagent_{kind}"
    logger.debug("GeneAgent %s texts: %s", kind, report)
    return series
