from __future__ import annotations

import pytest

from biobft.text.sources import TEXT_SOURCES, parse_source, source_bodies


def test_parse_source_grammar():
    assert parse_source("refseq+go|name") == [["refseq", "go"], ["name"]]
    assert parse_source(" RefSeq + GO ") == [["refseq", "go"]]
    assert set(TEXT_SOURCES) == {"refseq", "go", "narrative", "name"}


@pytest.mark.parametrize(
    ("spec", "match"),
    [("", "non-empty string"), ("  ", "non-empty string"), (None, "non-empty string"),
     ("refseq|wiki", r"unknown text source 'wiki'.*choose from"),
     ("refseq+", "unknown text source ''")],
)  # fmt: skip
def test_parse_source_errors(spec, match):
    with pytest.raises(ValueError, match=match):
        parse_source(spec)


@pytest.mark.realdata
def test_source_bodies_are_clean(data_mirror):
    go = source_bodies("go")
    assert go.index.is_unique and go.index.map(type).unique().tolist() == [str]
    assert (go.str.len() > 0).all() and not go.str.startswith("Gene symbol").any()
    assert source_bodies("GO ").equals(go)  # the same spec rules as parse_source
