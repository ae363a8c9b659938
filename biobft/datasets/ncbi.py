"""NCBI human gene table bundled with goatools (Entrez ID, symbol, aliases, full name)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

__all__ = ["ncbi_genes"]


@lru_cache(maxsize=1)
def _ncbi_table() -> pd.DataFrame:
    try:
        from goatools.test_data.genes_NCBI_9606_All import GENEID2NT
    except ImportError as err:  # pragma: no cover - goatools is a hard dependency
        raise ImportError(
            "ncbi_genes() needs goatools' bundled NCBI tables: pip install 'goatools>=1.4'"
        ) from err
    ids = np.fromiter(GENEID2NT.keys(), dtype=np.int64, count=len(GENEID2NT))
    nts = list(GENEID2NT.values())

    def _aliases(raw: str) -> list[str]:
        return [a.strip() for a in str(raw).split(",") if a.strip()]

    df = pd.DataFrame(
        {
            "symbol": [str(nt.Symbol) for nt in nts],
            "aliases": [_aliases(nt.Aliases) for nt in nts],
            "name": [str(nt.description) for nt in nts],
            "chromosome": [str(nt.chromosome) for nt in nts],
            "map_location": [str(nt.map_location) for nt in nts],
        },
        index=pd.Index(ids, name="entrez_id"),
    )
    return df.sort_index()


def ncbi_genes() -> pd.DataFrame:
    """Human genes from the NCBI gene table bundled with goatools.

    Source: ``goatools/test_data/genes_NCBI_9606_All.py`` (the ``GENEID2NT`` dict, 59,542 live
    human Entrez IDs), shipped with the goatools package; no registry file is involved. The
    import takes well under a second, so nothing is cached on disk (a copy of an in-memory table
    is returned on each call).

    Returns
    -------
    DataFrame
        Index ``entrez_id`` (int64, sorted, unique). Columns:

        - ``symbol`` (str): official gene symbol (a few symbols occur for two IDs, e.g. ``HBD``);
        - ``aliases`` (list of str): previous symbols / synonyms, split on ``","``; an empty
          list when there are none (``df.explode("aliases")`` gives one alias per row);
        - ``name`` (str): official full name (NCBI ``description``), e.g. ``"tumor protein p53"``;
        - ``chromosome``, ``map_location`` (str).
    """
    df = _ncbi_table().copy()
    df["aliases"] = [list(a) for a in df["aliases"]]
    return df
