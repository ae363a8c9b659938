from __future__ import annotations

import numpy as np

from biobft.datasets import ncbi_genes


def test_ncbi_genes_table():
    from goatools.test_data.genes_NCBI_9606_All import GENEID2NT

    df = ncbi_genes()
    assert len(df) == len(GENEID2NT) == 59_542
    assert df.index.name == "entrez_id" and df.index.dtype == np.int64 and df.index.is_unique
    assert df.loc[7157, "symbol"] == "TP53"
    assert df.loc[7157, "name"] == "tumor protein p53"
    assert df.loc[7157, "aliases"] == ["BCC7", "LFS1", "P53", "TRP53"]
    assert df.loc[1, "symbol"] == "A1BG"
    assert all(isinstance(a, list) for a in df["aliases"])
    # every symbol agrees with goatools' own record
    for eid in df.index[::997]:
        assert df.loc[eid, "symbol"] == GENEID2NT[int(eid)].Symbol


def test_ncbi_genes_returns_a_copy():
    df = ncbi_genes()
    df.loc[7157, "aliases"].append("MUTATED")
    df.loc[7157, "symbol"] = "X"
    again = ncbi_genes()
    assert again.loc[7157, "symbol"] == "TP53"
    assert "MUTATED" not in again.loc[7157, "aliases"]
