from __future__ import annotations

import pytest
import torch

from biobft.train.callbacks import DIAGNOSTIC_KEYS, LossDiagnostics
from biobft.train.losses import LossTerms


def _terms(tw, sw, conf, valid) -> LossTerms:
    return LossTerms(
        loss=torch.tensor(0.0),
        token_weights=torch.tensor(tw),
        sample_weights=torch.tensor(sw),
        group_confidence=torch.tensor(conf),
        valid=torch.tensor(valid),
    )


def test_diagnostics_accumulate_over_calls_and_modes():
    diag = LossDiagnostics()
    # sample 2 has no valid token: it counts for neither sample weights nor confidence
    diag(_terms([[0.5, 0.1, 0.0], [0.0, 0.0, 0.0]], [0.2, 0.9], [0.8, 0.0],
                [[True, True, False], [False, False, False]]))  # fmt: skip
    diag(_terms([[0.3, 0.0, 0.0]], [0.6], [0.4], [[True, False, False]]))
    diag.mode = "eval"
    diag(_terms([[1.0, 1.0, 0.0]], [1.0], [0.0], [[True, True, False]]))
    logs = diag.pop("train")
    assert set(logs) == set(DIAGNOSTIC_KEYS)
    assert logs["mean_token_weight"] == pytest.approx((0.5 + 0.1 + 0.3) / 3)
    assert logs["mean_sample_weight"] == pytest.approx((0.2 + 0.6) / 2)
    assert logs["min_sample_weight"] == pytest.approx(0.2)
    assert logs["mean_min_group_conf"] == pytest.approx((0.8 + 0.4) / 2)
    assert diag.pop("train") == {}  # reset after pop
    assert diag.pop("eval")["mean_token_weight"] == pytest.approx(1.0)
