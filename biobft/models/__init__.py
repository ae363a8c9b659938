"""Offline model loading: packaged encoders and causal LMs, or local folders."""

from __future__ import annotations

from .devices import check_device
from .loading import (
    CAUSAL_LMS,
    ENCODERS,
    PackagedModel,
    convert_gguf,
    load_causal_lm,
    load_encoder,
    resolve_model_path,
    save_dequantized,
)

__all__ = [
    "CAUSAL_LMS",
    "ENCODERS",
    "PackagedModel",
    "check_device",
    "convert_gguf",
    "load_causal_lm",
    "load_encoder",
    "resolve_model_path",
    "save_dequantized",
]
