"""Gene text corpus: one text per gene symbol, from RefSeq summaries, GO-derived text or names.

:func:`gene_texts` combines the registered text sources (``biobft/text/sources.py``:
``"refseq+go"`` concatenates, ``"refseq|go|name"`` takes the first available), resolves old
symbols through the NCBI alias table (``biobft/text/symbols.py``) and reports coverage
(:class:`CoverageReport`); :func:`read_texts` reads a user's own gene text table.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field

import pandas as pd

from .sources import (
    TEXT_SOURCES,
    _geneagent_bodies,
    _name_bodies,
    _ncbi,
    _refseq_bodies,
    parse_source,
)
from .symbols import SymbolResolver, _keyed_by_official, _lookup, default_resolver

logger = logging.getLogger(__name__)

__all__ = ["CoverageReport", "clear_caches", "gene_texts", "read_texts"]

PREFIX = "Gene symbol {symbol}. "


def clear_caches() -> None:
    """Forget the loaded source texts and alias tables (e.g. after changing the data folder)."""
    for cached in (_ncbi, _refseq_bodies, _geneagent_bodies, _name_bodies, default_resolver):
        cached.cache_clear()


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
