"""RefSeq gene summaries (NCBI RefSeq "Summary" comments, via the GeneSummary R package)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from ._cache import cached_frame
from ._fetch import fetch, file_sha256

__all__ = ["REVIEW_STATUS_ORDER", "refseq_summaries"]

logger = logging.getLogger(__name__)

_NAME = "refseq_gene_summary"
_PARSER_VERSION = "2"  # 2: pyreadr (was rdata; same values)
HUMAN_TAXON = 9606
#: RefSeq review status, most trusted first (used to break ties among duplicates)
REVIEW_STATUS_ORDER = (
    "REVIEWED REFSEQ",
    "VALIDATED REFSEQ",
    "PROVISIONAL REFSEQ",
    "INFERRED REFSEQ",
    "PREDICTED REFSEQ",
)


def _read_rds() -> pd.DataFrame:
    """The GeneSummary ``.rds`` data.frame, parsed by pyreadr (librdata, C): 0.4 s against 8-15 s
    with the pure-Python ``rdata`` (same values: ``tests/datasets/test_refseq.py``)."""
    import pyreadr

    path = fetch(_NAME)
    try:
        df = pyreadr.read_r(str(path))[None]
    except (
        pyreadr.custom_errors.PyreadrError,
        pyreadr.custom_errors.LibrdataError,
        KeyError,
    ) as err:
        raise ValueError(f"{path}: not an R data.frame saved with saveRDS ({err})") from err
    expected = {"RefSeq_accession", "Taxon_ID", "Gene_ID", "Review_status", "Gene_summary"}
    if not isinstance(df, pd.DataFrame) or not expected <= set(df.columns):
        raise ValueError(f"{path}: expected an R data.frame with columns {sorted(expected)}")
    return df


def _build() -> pd.DataFrame:
    from .ncbi import ncbi_genes
    from .stringdb import string_nodes

    raw = _read_rds()
    human = raw.loc[raw["Taxon_ID"] == HUMAN_TAXON]
    n_rows = len(human)
    no_id = human["Gene_ID"].isna()
    human = human.loc[~no_id]
    df = pd.DataFrame(
        {
            "entrez_id": human["Gene_ID"].astype(np.int64).to_numpy(),
            "accession": human["RefSeq_accession"].astype(str).to_numpy(dtype=object),
            "review_status": human["Review_status"].astype(str).to_numpy(dtype=object),
            "summary": human["Gene_summary"].astype(str).str.strip().to_numpy(dtype=object),
        }
    )
    df = df.loc[df["summary"].str.len() > 0]
    rank = {s: i for i, s in enumerate(REVIEW_STATUS_ORDER)}
    df["_status_rank"] = df["review_status"].map(rank).fillna(len(rank)).astype(np.int64)
    df["_len"] = df["summary"].str.len()
    # one summary per Entrez ID: best review status, then longest text, then lowest accession
    df = df.sort_values(
        ["entrez_id", "_status_rank", "_len", "accession"], ascending=[True, True, False, True]
    ).drop_duplicates("entrez_id", keep="first")
    n_entrez = len(df)

    ncbi = ncbi_genes()["symbol"]
    string = string_nodes().set_index("entrez_id")["symbol"]
    via_ncbi = df["entrez_id"].map(ncbi)
    via_string = df["entrez_id"].map(string)
    df["symbol"] = via_ncbi.fillna(via_string)
    df["symbol_source"] = np.where(
        via_ncbi.notna(), "ncbi", np.where(via_string.notna(), "string", "unmapped")
    )
    unmapped = df.loc[df["symbol"].isna(), "entrez_id"]
    df = df.loc[df["symbol"].notna()].copy()
    df["_src_rank"] = (df["symbol_source"] != "ncbi").astype(np.int64)
    # one row per symbol: NCBI mapping over STRING fallback, best review status, longest text,
    # lowest Entrez ID
    df = df.sort_values(
        ["symbol", "_src_rank", "_status_rank", "_len", "entrez_id"],
        ascending=[True, True, True, False, True],
    )
    n_before = len(df)
    df = df.drop_duplicates("symbol", keep="first")
    out = df[["symbol", "entrez_id", "summary", "review_status", "accession", "symbol_source"]]
    out = out.reset_index(drop=True).astype({"entrez_id": np.int64})
    out.attrs["report"] = {
        "human_rows": int(n_rows),
        "rows_without_entrez_id": int(no_id.sum()),
        "entrez_ids": int(n_entrez),
        "mapped_via_ncbi": int((df["symbol_source"] == "ncbi").sum()),
        "mapped_via_string": int((df["symbol_source"] == "string").sum()),
        "unmapped_entrez_ids": len(unmapped),
        "unmapped_examples": [int(x) for x in unmapped.head(10)],
        "duplicate_symbol_rows_dropped": int(n_before - len(df)),
        "symbols": len(out),
    }
    return out


def refseq_summaries() -> pd.DataFrame:
    """Human RefSeq gene summaries, one row per gene symbol.

    Source: RefSeq "Summary" comments, release 220 (2023-09), as shipped by the GeneSummary R
    package (``jokergoo/GeneSummary@a86967a``, ``inst/extdata/refseq_gene_summary.rds``, MIT).
    The ``.rds`` is parsed with pyreadr once (< 1 s; the STRING file it also reads, with
    ``rdata``, takes a few seconds) and the result cached as parquet under
    ``$BIOBFT_CACHE_DIR/parsed`` keyed by the sha256 of the ``.rds``, of the STRING file and the
    goatools version; later loads read the parquet (< 1 s).

    Processing: human rows (Taxon_ID 9606) with an Entrez ID. Entrez ID -> symbol via goatools'
    bundled NCBI table (:func:`~biobft.datasets.ncbi_genes`), falling back to the STRING v12
    vertex symbols (:func:`~biobft.datasets.string_nodes`); IDs found in neither are dropped.
    Deterministic choice among duplicates:

    1. per Entrez ID (several RefSeq accessions): best review status (``REVIEWED`` >
       ``VALIDATED`` > ``PROVISIONAL`` > ``INFERRED`` > ``PREDICTED``), then the longest summary,
       then the lowest accession string;
    2. per symbol (several Entrez IDs): NCBI mapping over the STRING fallback, then best review
       status, then the longest summary, then the lowest Entrez ID.

    Returns
    -------
    DataFrame
        RangeIndex, sorted by symbol. Columns ``symbol`` (str, unique), ``entrez_id`` (int64),
        ``summary`` (str), plus provenance ``review_status``, ``accession`` and
        ``symbol_source`` (``"ncbi"`` or ``"string"``). ``df.attrs["report"]`` counts rows,
        Entrez IDs, how many were mapped via NCBI / STRING and how many could not be mapped
        (these counts are also logged at INFO level).
    """
    import goatools

    key = (
        file_sha256(fetch(_NAME)),
        file_sha256(fetch("string_network")),
        getattr(goatools, "__version__", "?"),
        _PARSER_VERSION,
    )
    df = cached_frame("refseq_summaries", key, _build)
    rep = df.attrs.get("report", {})
    logger.info(
        "RefSeq summaries: %s symbols from %s human Entrez IDs (%s via NCBI, %s via STRING); "
        "%s Entrez IDs could not be mapped to a symbol, %s rows had no Entrez ID",
        rep.get("symbols"),
        rep.get("entrez_ids"),
        rep.get("mapped_via_ncbi"),
        rep.get("mapped_via_string"),
        rep.get("unmapped_entrez_ids"),
        rep.get("rows_without_entrez_id"),
    )
    return df
