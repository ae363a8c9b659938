from __future__ import annotations

import pytest

from biobft.datasets import geneagent_texts
from biobft.datasets.geneagent import parse_geneagent

TOY = """AAA1: first short...
BBB2: only   text
////
AAA1: first short but longer...
C1orf5: orf gene.
Summary: not a gene line
CCC: tie one
////
CCC: tie two
EMPTY:
"""


def test_parse_toy():
    s, report = parse_geneagent(TOY)
    assert s.to_dict() == {
        "AAA1": "first short but longer...",  # longest occurrence wins
        "BBB2": "only text",  # whitespace collapsed
        "C1orf5": "orf gene.",
        "CCC": "tie one",  # equal length: first occurrence wins
    }
    assert list(s.index) == sorted(s.index) and s.index.name == "symbol"
    assert report == {"entries": 6, "genes": 4, "skipped_lines": 2}


@pytest.mark.parametrize(("kind", "n"), [("ontological", 4036), ("narrative", 4037)])
def test_real(data_mirror, kind, n):
    s = geneagent_texts(kind)
    assert len(s) == n and s.index.is_unique
    assert "Summary" not in s.index and "Mechanism" not in s.index
    assert s.map(type).eq(str).all() and (s.str.len() > 0).all()
    assert s.attrs["report"]["genes"] == n
    if kind == "ontological":
        assert s["WRN"].startswith("Enables several functions, including DNA binding activity")
    else:
        assert s["CDKN1A"].startswith(
            "This gene encodes a potent cyclin-dependent kinase inhibitor"
        )
        assert s["CDKN1A"].endswith("[provided by RefSeq, Sep 2015]")  # the full, longest copy


def test_unknown_kind():
    with pytest.raises(ValueError, match="unknown GeneAgent text kind 'go'"):
        geneagent_texts("go")
