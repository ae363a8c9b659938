from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from biobft.ggi.leakage import cooccurrence_mask, leakage_share


def test_leakage_matches_handmade_texts():
    texts = pd.Series(
        {
            "TP53": "Gene symbol TP53. Binds MDM2 and regulates the cell cycle.",
            "MDM2": "Gene symbol MDM2. E3 ligase.",
            "KRAS": "Gene symbol KRAS. A GTPase; EGFR-mediated signalling.",
            "EGFR": "Gene symbol EGFR. Receptor. Not TP531 nor xBRCA1.",
        }
    )
    pairs = pd.DataFrame(
        {
            "gene_a": ["MDM2", "EGFR", "EGFR", "BRCA1", "KRAS", "NOTEXT"],
            "gene_b": ["TP53", "KRAS", "TP53", "EGFR", "MDM2", "TP53"],
        }
    )
    # MDM2 in TP53's text (either direction counts); EGFR-mediated counts as a mention;
    # TP531 and xBRCA1 are other tokens; a gene without text mentions nothing
    want = [True, True, False, False, False, False]
    np.testing.assert_array_equal(cooccurrence_mask(pairs, texts), want)
    assert leakage_share(pairs, texts.to_dict()) == pytest.approx(2 / 6)
    with pytest.raises(TypeError, match="Series or dict"):
        cooccurrence_mask(pairs, ["text"])


def _naive_mentions(text: str | None, symbol: str) -> bool:
    # independent rule: split the text into maximal alphanumeric runs; a mention is a run that
    # equals the symbol (the symbols below are alphanumeric, so this is the documented rule)
    return text is not None and symbol in re.findall(r"[A-Za-z0-9]+", text)


def test_leakage_either_direction_matches_a_naive_token_loop():
    texts = {
        "AAA1": "Gene symbol AAA1. Partner of BBB2.",  # a's text names b only
        "BBB2": "Gene symbol BBB2.",
        "CCC3": "Gene symbol CCC3; binds AAA1, not BBB23 or xDDD4.",
        "DDD4": "Gene symbol DDD4 (DDD4-AAA1 complex).",
    }
    pairs = pd.DataFrame(
        {
            "gene_a": ["AAA1", "BBB2", "CCC3", "BBB2", "CCC3", "DDD4", "EEE5"],
            "gene_b": ["BBB2", "AAA1", "AAA1", "CCC3", "DDD4", "AAA1", "AAA1"],
        }
    )
    # the right answer; reading only gene_b's text would give [F, T, F, F, F, F, F]
    want = np.array([True, True, True, False, False, True, False])
    mask = cooccurrence_mask(pairs, texts)
    assert mask.dtype == bool  # a boolean mask that selects the leaky pairs
    np.testing.assert_array_equal(mask, want)
    assert pairs[mask].index.tolist() == [0, 1, 2, 5]
    assert leakage_share(pairs, pd.Series(texts)) == pytest.approx(4 / 7)

    # random texts against the naive loop: both directions, near-miss tokens, missing texts
    rng = np.random.default_rng(0)
    genes = [f"G{i}" for i in range(30)]
    words = genes + [g + "0" for g in genes] + ["x" + g for g in genes] + ["binds", "the"]
    seps = [" ", "-", ", ", "/", "; "]
    rand_texts = {
        g: "".join(str(rng.choice(words)) + str(rng.choice(seps)) for _ in range(6))
        for g in genes[:25]
    }
    a, b = rng.choice(genes, 400), rng.choice(genes, 400)
    rand_pairs = pd.DataFrame({"gene_a": a, "gene_b": b})
    ref = [
        _naive_mentions(rand_texts.get(x), y) or _naive_mentions(rand_texts.get(y), x)
        for x, y in zip(a, b)
    ]
    only_b = [_naive_mentions(rand_texts.get(y), x) for x, y in zip(a, b)]
    assert ref != only_b  # the data tell the two directions apart
    np.testing.assert_array_equal(cooccurrence_mask(rand_pairs, rand_texts), ref)
    assert leakage_share(rand_pairs, rand_texts) == pytest.approx(np.mean(ref))


def test_leakage_type_error_names_the_given_type():
    pairs = pd.DataFrame({"gene_a": ["A"], "gene_b": ["B"]})
    with pytest.raises(TypeError, match="got list"):
        cooccurrence_mask(pairs, ["text"])
    with pytest.raises(TypeError, match="got str"):
        cooccurrence_mask(pairs, "A binds B")
