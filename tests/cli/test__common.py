"""The shared CLI helpers (biobft/cli/_common.py)."""

from __future__ import annotations

import argparse

import pytest
from hypothesis import given
from hypothesis import strategies as st

from biobft.cli._common import comma_list

NAME = st.text(st.characters(blacklist_characters=",", blacklist_categories=("Cs",)), min_size=1)


@given(st.lists(NAME.filter(lambda s: s.strip() == s and s), min_size=1, max_size=6),
       st.lists(st.sampled_from(["", " ", "  ", "\t"]), min_size=2, max_size=2))  # fmt: skip
def test_comma_list_strips_every_item(names, pad):
    text = ",".join(f"{pad[0]}{n}{pad[1]}" for n in names)
    assert comma_list(text) == names


@pytest.mark.parametrize("text", ["", " ", ",", "a,", ",a", "a,,b", "a, ,b"])
def test_comma_list_refuses_empty_items(text):
    with pytest.raises(argparse.ArgumentTypeError, match=r"empty item|comma-separated names"):
        comma_list(text)
