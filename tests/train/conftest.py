"""Fixtures of the train tests."""

from __future__ import annotations

import sys

import pytest
import torch


@pytest.fixture(autouse=True)
def _no_shadowed_hf_datasets(monkeypatch):
    """``tests/datasets`` (no ``__init__.py``) on sys.path shadows the Hugging Face ``datasets``
    package as an empty namespace package, which transformers' Trainer then takes for the real
    one. Tell the Trainer that ``datasets`` is unavailable in that case (it is not a dependency).
    """
    import transformers.trainer as hf_trainer

    mod = sys.modules.get("datasets")
    if mod is None or not hasattr(mod, "Dataset"):
        monkeypatch.setattr(hf_trainer, "is_datasets_available", lambda: False)


WORDS = (
    "this gene encodes a tumor suppressor protein the protein binds dna and regulates "
    "transcription apoptosis cell cycle mutations in are associated with cancer anemia"
).split()


def _make_records(n=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    genes = ["TP53", "KLF1"]
    recs = []
    for i in range(n):
        k = int(torch.randint(3, 14, (1,), generator=g))
        words = [WORDS[int(j)] for j in torch.randint(0, len(WORDS), (k,), generator=g)]
        recs.append({"prompt": f"Tell me about gene {genes[i % 2]} .", "response": " ".join(words)})
    return recs


@pytest.fixture
def make_records():
    """``make_records(n, seed)``: ``n`` seeded prompt/response records over the tiny vocabulary."""
    return _make_records
