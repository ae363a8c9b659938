"""Fixtures of the train tests."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _hf_datasets(no_shadowed_hf_datasets):
    """See ``tests/conftest.py::no_shadowed_hf_datasets``."""
