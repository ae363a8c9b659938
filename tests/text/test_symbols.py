from __future__ import annotations

import pandas as pd
import pytest

from biobft.text import symbols
from biobft.text.symbols import SymbolResolver


def test_candidates_and_canonical():
    r = SymbolResolver(
        ["TP53", "PCLAF", "ABC1", "ABC2"], [["P53"], "KIAA0101, PAF15 | x; -", ["DUP"], ["DUP"]]
    )
    assert r.candidates("TP53") == ["TP53"]
    assert r.candidates("PAF15") == ["PCLAF"] and r.candidates("x") == ["PCLAF"]
    assert r.candidates("-") == []  # NCBI's "no alias" marker is not an alias
    assert r.candidates("DUP") == ["ABC1", "ABC2"]
    assert r.canonical("DUP") is None  # ambiguous: not guessed
    assert r.canonical("NOPE") is None
    assert r.canonical("P53") == "TP53"


@pytest.mark.parametrize("marker", sorted(symbols.MISSING_MARKERS))
def test_missing_value_spellings_are_never_aliases(marker):
    # NCBI lists "NA" as an alias of XK; Gene2vec's "NA" genes are missing values, not XK
    r = SymbolResolver(["XK", "TP53"], [[marker, "KX"], ["P53"]])
    assert r.candidates(marker) == [] and r.canonical(marker) is None
    assert r.candidates("KX") == ["XK"]  # the gene's real aliases still resolve


@pytest.mark.realdata
def test_gene2vec_na_gets_no_text(data_mirror):
    from biobft.text import gene_texts

    texts = gene_texts(["NA", "XK"], source="refseq")
    assert "XK" in texts.index and "NA" not in texts.index


def test_renamed_symbol_maps_by_entrez_id_before_aliases():
    # EFL1 is the current symbol of Entrez 79631 (EFTUD1 in the older table) and also an old
    # alias of EFNA1: matching by alias alone gives the wrong gene's text.
    ncbi = pd.DataFrame(
        {"symbol": ["EFTUD1", "EFNA1", "TP53"], "aliases": [[], ["EFL1", "LERK1"], ["P53"]]},
        index=pd.Index([79631, 1942, 7157], name="entrez_id"),
    )
    old = SymbolResolver.from_ncbi(ncbi)
    assert old.candidates("EFL1") == ["EFNA1"]
    current = pd.DataFrame({"symbol": ["EFL1", "EFNA1", "TP53"], "entrez_id": [79631, 1942, 7157]})
    new = SymbolResolver.from_ncbi(ncbi, current=current)
    assert new.candidates("EFL1") == ["EFTUD1"]
    assert new.candidates("LERK1") == ["EFNA1"]  # aliases still work
    assert new.candidates("TP53") == ["TP53"]
    assert new.canonical("EFL1") == "EFTUD1"


@pytest.mark.realdata
def test_default_resolver_uses_current_symbols():
    pytest.importorskip("rdata")
    from biobft.datasets import ncbi_genes, string_nodes

    try:
        nodes = string_nodes()
    except FileNotFoundError:
        pytest.skip("STRING v12 file not in the data mirror")
    resolver = symbols.default_resolver()
    ncbi = ncbi_genes()
    ids = ncbi["symbol"][~ncbi.index.duplicated(keep=False)]
    joined = nodes[nodes["entrez_id"].isin(ids.index)]
    # every STRING v12 gene resolves to the NCBI-table symbol of its own Entrez ID
    wrong = [
        (sym, resolver.candidates(sym), ids[eid])
        for sym, eid in joined.itertuples(index=False)
        if resolver.candidates(sym) != [ids[eid]]
    ]
    assert not wrong, wrong[:10]
    assert resolver.candidates("EFL1") == ["EFTUD1"]
