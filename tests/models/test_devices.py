from __future__ import annotations

import pytest
import torch

from biobft.models import devices


def test_device_check_has_one_implementation(monkeypatch):
    """embed's resolve_device is models' check_device plus the CPU-only backends (the layering
    keeps models below embed, so the check lives here and embed calls it)."""
    from biobft.embed import runtime

    assert devices.check_device(None) is None
    assert devices.check_device(" cpu ") == devices.check_device(torch.device("cpu")) == "cpu"
    with pytest.raises(ValueError, match=r"device='meta' is not supported"):
        devices.check_device("meta")
    seen = []
    real = devices.check_device
    monkeypatch.setattr(devices, "check_device", lambda d: seen.append(d) or real(d))
    assert runtime.resolve_device("cpu", backend="onnx") == "cpu"
    assert seen == ["cpu"]


def test_device_names_ignore_letter_case():
    """``"CPU"`` (as OpenVINO and many users write it) is the CPU, not an unknown device."""
    assert devices.parse_device("CPU") == devices.parse_device(" cpu") == torch.device("cpu")
    assert devices.parse_device("CUDA:1") == torch.device("cuda", 1)
    with pytest.raises(ValueError, match="unknown device 'GPU'"):
        devices.parse_device("GPU")
