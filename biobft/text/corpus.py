"""Gene text corpus: one text per gene symbol, from RefSeq summaries, GO-derived text or names.

Sources are small loaders registered by name in :data:`TEXT_SOURCES`; each returns a Series
``symbol -> body``. :func:`gene_texts` combines them (``"refseq+go"`` concatenates,
``"refseq|go|name"`` takes the first available), resolves old symbols through the NCBI alias
table (:class:`SymbolResolver`) and reports coverage (:class:`CoverageReport`).
"""

from __future__ import annotations

import functools
import logging
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

logger = logging.getLogger(__name__)

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

PREFIX = "Gene symbol {symbol}. "


# --------------------------------------------------------------------------- sources
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


def clear_caches() -> None:
    """Forget the loaded source texts and alias tables (e.g. after changing the data folder)."""
    _ncbi.cache_clear()
    _refseq_bodies.cache_clear()
    _geneagent_bodies.cache_clear()
    _name_bodies.cache_clear()
    default_resolver.cache_clear()


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


# --------------------------------------------------------------------------- aliases
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
                if alias != sym:
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
        itself if official, else its alias targets.
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


# --------------------------------------------------------------------------- report
@dataclass
class CoverageReport:
    """Which requested genes got a text, and how.

    Attributes
    ----------
    source
        The source spec.
    found
        Genes whose own symbol has a text.
    via_alias
        ``requested -> symbol whose text was used`` (old symbols, aliases, case).
    missing
        Genes without any text.
    """

    source: str
    found: list[str] = field(default_factory=list)
    via_alias: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)

    @property
    def n_requested(self) -> int:
        return len(self.found) + len(self.via_alias) + len(self.missing)

    @property
    def n_covered(self) -> int:
        return len(self.found) + len(self.via_alias)

    @property
    def coverage(self) -> float:
        """Fraction of requested genes with a text."""
        return self.n_covered / self.n_requested if self.n_requested else 0.0

    def to_dict(self, max_listed: int | None = None) -> dict:
        """JSON-serialisable summary (lists cut to ``max_listed`` entries when given)."""
        cut = slice(None) if max_listed is None else slice(max_listed)
        return {
            "source": self.source,
            "n_requested": self.n_requested,
            "n_found": len(self.found),
            "n_via_alias": len(self.via_alias),
            "n_missing": len(self.missing),
            "coverage": round(self.coverage, 6),
            "via_alias": dict(list(self.via_alias.items())[cut]),
            "missing": self.missing[cut],
        }

    def __str__(self) -> str:
        text = (
            f"text source {self.source!r}: {self.n_requested} genes requested, "
            f"{len(self.found)} found, {len(self.via_alias)} via alias, "
            f"{len(self.missing)} missing ({100 * self.coverage:.1f}% covered)"
        )
        if self.via_alias:
            ex = ", ".join(f"{k}->{v}" for k, v in list(self.via_alias.items())[:5])
            text += f"\n  via alias, e.g. {ex}"
        if self.missing:
            text += f"\n  missing, e.g. {', '.join(self.missing[:10])}"
        return text


# --------------------------------------------------------------------------- main API
def _as_gene_list(genes: Iterable[str]) -> list[str]:
    if isinstance(genes, str):
        genes = [genes]
    out, seen = [], set()
    for g in genes:
        if g is None or (isinstance(g, float) and pd.isna(g)):
            raise ValueError("genes contains None/NaN; pass gene symbols as strings")
        g = str(g).strip()
        if g and g not in seen:
            seen.add(g)
            out.append(g)
    if not out:
        raise ValueError("genes is empty; pass at least one gene symbol (or genes=None for all)")
    return out


def gene_texts(
    genes: Iterable[str] | None = None,
    *,
    source: str = "refseq",
    resolver: SymbolResolver | None = None,
    return_report: bool = False,
) -> pd.Series | tuple[pd.Series, CoverageReport]:
    """One text per gene, GenePT style: ``"Gene symbol TP53. <text>"``.

    Parameters
    ----------
    genes
        Gene symbols (duplicates dropped, order kept); ``None``: every gene of the source(s).
    source
        A registered source (``"refseq"``: RefSeq summary; ``"go"``: GeneAgent GO-derived text;
        ``"narrative"``: GeneAgent narrative; ``"name"``: the official full name, the name-only
        ablation) or a combination: ``"refseq+go"`` concatenates the available texts,
        ``"refseq|go|name"`` takes the first available one per gene.
    resolver
        Alias table; default: goatools' NCBI human genes. Old symbols and aliases resolve to the
        text of their official symbol when that is unambiguous.
    return_report
        Also return the :class:`CoverageReport`.

    Returns
    -------
    pandas.Series
        Indexed by the *requested* symbol (genes without text left out), named ``"text"``; the
        coverage report is also in ``series.attrs["report"]``.

    Raises
    ------
    ValueError
        For an unknown source, empty or NaN genes, or when no requested gene has a text.
    """
    alternatives = parse_source(source)
    names = sorted({n for alt in alternatives for n in alt})
    bodies = {n: TEXT_SOURCES[n]() for n in names}
    if genes is None:
        order = []
        seen: set[str] = set()
        for alt in alternatives:
            for n in alt:
                for g in bodies[n].index:
                    if g not in seen:
                        seen.add(g)
                        order.append(g)
        requested = order
    else:
        requested = _as_gene_list(genes)

    need_resolver = genes is not None and any(
        g not in bodies[n].index for g in requested for n in names
    )
    if need_resolver and resolver is None:
        try:
            resolver = default_resolver()
        except Exception as err:  # pragma: no cover - depends on the data install
            logger.warning("alias table unavailable (%s); matching exact symbols only", err)
            resolver = SymbolResolver([], [])
    resolver = resolver or SymbolResolver([], [])
    by_official = (
        {n: _keyed_by_official(bodies[n], resolver) for n in names} if need_resolver else {}
    )

    report = CoverageReport(source=source)
    out: dict[str, str] = {}
    for gene in requested:
        text, used = None, None
        for alt in alternatives:
            parts, keys = [], []
            for n in alt:
                if gene in bodies[n].index:
                    key = gene
                elif need_resolver:
                    key = _lookup(gene, bodies[n], by_official[n], resolver)
                else:
                    key = None
                if key is not None:
                    parts.append(bodies[n][key])
                    keys.append(key)
            if parts:
                used = keys[0]
                text = PREFIX.format(symbol=used) + " ".join(parts)
                break
        if text is None:
            report.missing.append(gene)
            continue
        out[gene] = text
        if used == gene:
            report.found.append(gene)
        else:
            report.via_alias[gene] = used
    if not out:
        ex = ", ".join(report.missing[:10])
        raise ValueError(
            f"none of the {len(report.missing)} requested genes has a text in source {source!r} "
            f"(e.g. {ex}); check the symbols are human gene symbols, or try a broader source "
            "such as 'refseq|go|name'"
        )
    if report.missing:
        logger.info("%s", report)
    series = pd.Series(out, name="text", dtype=object)
    series.index.name = "gene"
    series.attrs["report"] = report
    return (series, report) if return_report else series


# --------------------------------------------------------------------------- user tables
TEXT_TABLE_SUFFIXES = (".parquet", ".csv", ".tsv")


def read_texts(table: pd.DataFrame | str | os.PathLike, *, column: str | None = None) -> pd.Series:
    """A ``symbol -> text`` Series from a gene text table, e.g. ``biobft describe`` profiles.

    Parameters
    ----------
    table
        A DataFrame, or a ``.parquet`` / ``.csv`` / ``.tsv`` file, with the gene symbols in a
        ``gene`` column or in the index, and the texts in one string column.
    column
        The text column; default: the only remaining column, else ``"profile"`` or ``"text"``.

    Returns
    -------
    pandas.Series
        Indexed by gene symbol (named ``"gene"``), named after the text column.

    Raises
    ------
    FileNotFoundError
        A file that does not exist.
    ValueError
        An unsupported suffix, no text column, an ambiguous text column, duplicate symbols.
    """
    where = "the table"
    if not isinstance(table, pd.DataFrame):
        path = os.fspath(table)
        where = repr(path)
        suffix = os.path.splitext(path)[1].lower()
        if suffix not in TEXT_TABLE_SUFFIXES:
            raise ValueError(f"gene text file {where} must end in {', '.join(TEXT_TABLE_SUFFIXES)}")
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"gene text file {where} does not exist; write one with `biobft describe "
                "--out FILE` or pass a text source name such as 'refseq'"
            )
        if suffix == ".parquet":
            table = pd.read_parquet(path)
        else:
            table = pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",", dtype=str,
                                keep_default_na=False)  # fmt: skip
    frame = table.set_index("gene") if "gene" in table.columns else table
    if column is None:
        candidates = [c for c in frame.columns if c != "gene"]
        if len(candidates) != 1:
            candidates = [c for c in ("profile", "text") if c in frame.columns]
        if len(candidates) != 1:
            raise ValueError(
                f"cannot tell the text column of {where} (columns {list(frame.columns)}); "
                "name it 'profile' or 'text', or pass column=..."
            )
        column = candidates[0]
    elif column not in frame.columns:
        raise ValueError(f"{where} has no column {column!r}; columns: {list(frame.columns)}")
    texts = frame[column]
    texts.index = texts.index.astype(str).rename("gene")
    if texts.index.duplicated().any():
        dup = list(texts.index[texts.index.duplicated()].unique()[:5])
        raise ValueError(f"{where} has duplicate gene symbols, e.g. {dup}; keep one text per gene")
    return texts.rename(str(column))
