"""Fixtures of the train tests."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _hf_datasets(no_shadowed_hf_datasets):
    """See ``tests/conftest.py::no_shadowed_hf_datasets``."""


def _random_case(seed=0, bsz=4, seq=12, vocab=11, scale=3.0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(bsz, seq, vocab, generator=g) * scale
    labels = torch.randint(0, vocab, (bsz, seq), generator=g)
    labels[0, :4] = -100  # a prompt
    labels[1, :7] = -100
    labels[1, 9] = -100  # a hole inside the response
    labels[2, -3:] = -100  # right padding
    if bsz > 3:
        labels[3, :] = -100  # a sample without any valid token
        labels[3, 0] = 5  # ... position 0 is never a target
    return logits, labels


@pytest.fixture
def random_case():
    """``make(seed=0, bsz=4, seq=12, vocab=11, scale=3.0) -> (logits, labels)``: random logits
    and labels with a prompt, a hole, right padding and (``bsz > 3``) a sample without a target."""
    return _random_case
