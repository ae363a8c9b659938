"""Gene text sources: small loaders registered by name in :data:`TEXT_SOURCES`, each returning
a Series ``symbol -> text body``, and the source-spec grammar (``"refseq+go|name"``)."""

from __future__ import annotations

import functools
from collections.abc import Callable

import pandas as pd

__all__ = ["TEXT_SOURCES", "parse_source", "source_bodies"]


def _clean(series: pd.Series) -> pd.Series:
    series = series.dropna().astype(str).str.strip()
    series = series[series.str.len() > 0]
    series.index = series.index.astype(str)
    return series[~series.index.duplicated(keep="first")]


@functools.lru_cache(maxsize=1)
def _ncbi() -> pd.DataFrame:
    from .. import datasets

    return datasets.ncbi_genes()


@functools.cache
def _refseq_bodies() -> pd.Series:
    from .. import datasets

    frame = datasets.refseq_summaries()
    return _clean(pd.Series(frame["summary"].to_numpy(), index=frame["symbol"].to_numpy()))


@functools.cache
def _geneagent_bodies(kind: str) -> pd.Series:
    from .. import datasets

    return _clean(datasets.geneagent_texts(kind=kind))


@functools.cache
def _name_bodies() -> pd.Series:
    frame = _ncbi().sort_index()
    names = pd.Series(frame["name"].to_numpy(), index=frame["symbol"].astype(str).to_numpy())
    names = _clean(names)
    return names.map(lambda n: n if n.endswith(".") else n + ".")


TEXT_SOURCES: dict[str, Callable[[], pd.Series]] = {
    "refseq": _refseq_bodies,
    "go": functools.partial(_geneagent_bodies, "ontological"),
    "narrative": functools.partial(_geneagent_bodies, "narrative"),
    "name": _name_bodies,
}
"""``{name: loader}``; a loader returns a Series ``symbol -> text body`` (no symbol prefix)."""


def parse_source(source: str) -> list[list[str]]:
    """Parse a source spec into alternatives of combinations.

    ``"refseq+go|name"`` -> ``[["refseq", "go"], ["name"]]``: for each gene the first alternative
    with at least one available text is used; within an alternative the available texts are
    concatenated.

    Raises
    ------
    ValueError
        On an empty spec or an unknown source name.
    """
    if not isinstance(source, str) or not source.strip():
        raise ValueError(f"source must be a non-empty string like 'refseq'; got {source!r}")
    alternatives = []
    for alt in source.split("|"):
        names = [s.strip().lower() for s in alt.split("+")]
        unknown = [s for s in names if s not in TEXT_SOURCES]
        if unknown:
            raise ValueError(
                f"unknown text source {unknown[0]!r} in {source!r}; choose from "
                f"{sorted(TEXT_SOURCES)}, combined with '+' (concatenate) or '|' (first available)"
            )
        alternatives.append(names)
    return alternatives


def source_bodies(name: str) -> pd.Series:
    """The raw ``symbol -> body`` Series of one registered source."""
    parse_source(name)
    return TEXT_SOURCES[name.strip().lower()]()
