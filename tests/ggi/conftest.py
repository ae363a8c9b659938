"""Synthetic GGI data with planted structure (known best-possible AUC)."""

from __future__ import annotations

import pytest

from biobft.ggi._synthetic import planted


@pytest.fixture
def planted_data():
    return planted()
