from __future__ import annotations

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
