"""biobft.train.confidence against naive per-sample loops over the valid tokens."""

from __future__ import annotations

import math

import pytest
import torch

from biobft.train.confidence import _local_group_mean, lowest_group_confidence
from biobft.train.logprobs import IGNORE_INDEX, target_log_probs


def _naive_lowest(lps: list[float], g: int) -> float:
    if not lps:
        return 0.0
    if len(lps) < g:
        return min(1.0, math.exp(sum(lps) / len(lps)))
    means = [sum(lps[i : i + g]) / g for i in range(len(lps) - g + 1)]
    return min(1.0, math.exp(min(means)))


@pytest.mark.parametrize("group_size", [1, 2, 3, 5, 50])
def test_lowest_group_confidence_matches_naive_windows(group_size):
    g = torch.Generator().manual_seed(group_size)
    logits = 3 * torch.randn(4, 10, 7, generator=g)
    labels = torch.randint(0, 7, (4, 10), generator=g)
    labels[0, 2:5] = IGNORE_INDEX  # a hole: windows run over valid tokens only
    labels[1, :] = IGNORE_INDEX  # no valid token
    labels[2, 7:] = IGNORE_INDEX
    got = lowest_group_confidence(logits, labels, group_size=group_size)
    logp, valid = target_log_probs(logits, labels)
    for b in range(4):
        lps = logp[b][valid[b]].double().tolist()
        assert got[b].item() == pytest.approx(_naive_lowest(lps, group_size), rel=1e-5, abs=1e-7)
    assert got[1].item() == 0.0


@pytest.mark.parametrize("group_size", [1, 2, 4])
def test_local_group_mean_matches_naive_window(group_size):
    g = torch.Generator().manual_seed(7)
    p = torch.rand(3, 8, generator=g)
    valid = torch.rand(3, 8, generator=g) > 0.3
    got = _local_group_mean(p, valid, group_size)
    for b in range(3):
        pos = valid[b].nonzero()[:, 0].tolist()
        vals = p[b, pos].double().tolist()
        for k, t in enumerate(pos):
            lo, hi = max(0, k - group_size // 2), min(len(vals) - 1, k + (group_size - 1) // 2)
            want = sum(vals[lo : hi + 1]) / (hi - lo + 1)
            assert got[b, t].item() == pytest.approx(want, rel=1e-6)
        assert (got[b][~valid[b]] == 0).all()


def test_group_size_is_checked():
    logits, labels = torch.zeros(1, 3, 4), torch.zeros(1, 3, dtype=torch.long)
    with pytest.raises(ValueError, match="group_size must be an integer >= 1"):
        lowest_group_confidence(logits, labels, group_size=0)


def test_default_group_size_is_256_and_chunking_does_not_change_it():
    g = torch.Generator().manual_seed(11)
    logits = 0.5 * torch.randn(2, 300, 5, generator=g)
    labels = torch.randint(0, 5, (2, 300), generator=g)
    labels[1, 200:] = IGNORE_INDEX  # fewer valid tokens than one group: the mean of all
    got = lowest_group_confidence(logits, labels)
    assert got.dtype == torch.float32
    logp, valid = target_log_probs(logits, labels)
    for b in range(2):
        want = _naive_lowest(logp[b][valid[b]].double().tolist(), 256)
        assert got[b].item() == pytest.approx(want, rel=1e-5)
    torch.testing.assert_close(lowest_group_confidence(logits, labels, chunk_size=7), got)


def test_group_size_and_gamma_errors_are_exact():
    from biobft.train.confidence import _check_gamma, _check_group_size

    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match=rf"^group_size must be an integer >= 1, got {bad!r}$"):
            _check_group_size(bad)
    assert _check_group_size(3.0) == 3 and isinstance(_check_group_size(3.0), int)
    assert _check_group_size(1) == 1
    for bad in (-0.5, float("nan"), float("inf")):
        with pytest.raises(
            ValueError, match=rf"^gamma \(conf_gamma\) must be a finite number >= 0, got {bad!r}$"
        ):
            _check_gamma(bad)
    assert _check_gamma(0) == 0.0 and isinstance(_check_gamma(2), float)
