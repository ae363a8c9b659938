"""Model arguments -> loaded encoders: :class:`EncoderHandle`, :func:`resolve_encoder`, ids.

A model argument of :func:`biobft.embed.encode` is a packaged name (``"minilm"``,
``"smollm2-135m"``), a local folder (sentence-transformers, transformers encoder or causal LM), a
loaded ``SentenceTransformer``, a ``(model, tokenizer)`` pair or a bare transformers model whose
folder holds its tokenizer. Nothing is downloaded. :func:`model_id` gives the stable id used in
embedding-cache keys. Re-exported by :mod:`biobft.embed.encoding` (the public import path).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["ST_POOLING", "EncoderHandle", "model_id", "resolve_encoder"]

ST_POOLING = "sentence-transformers"
"""Pooling name recorded for a sentence-transformers model's own pipeline."""


@dataclass
class EncoderHandle:
    """A loaded model ready for :func:`encode`.

    Attributes
    ----------
    kind
        ``"st"`` (sentence-transformers pipeline) or ``"hf"`` (transformers model + pooling).
    model
        The ``SentenceTransformer`` or ``transformers`` model.
    tokenizer
        Its tokenizer.
    model_id
        Stable identifier for cache keys (``None`` for in-memory objects).
    causal
        Decoder-only LM (position ids are derived from the attention mask).
    """

    kind: str
    model: Any
    tokenizer: Any
    model_id: str | None
    causal: bool = False

    @property
    def device(self):
        import torch

        try:
            return next(self.model.parameters()).device
        except StopIteration:  # pragma: no cover
            return torch.device("cpu")

    @property
    def default_pooling(self) -> str:
        return ST_POOLING if self.kind == "st" else "mean"


def _fingerprint(folder: Path) -> str:
    """Cheap fingerprint of a model folder: names, sizes and nanosecond mtimes of its files."""
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            st = path.stat()
            h.update(f"{path.relative_to(folder)}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()[:16]


def model_id(model: Any) -> str | None:
    """Stable id of a model argument for cache keys; ``None`` for in-memory objects."""
    if isinstance(model, EncoderHandle):
        return model.model_id
    if isinstance(model, (str, os.PathLike)):
        from ..models.loading import CAUSAL_LMS, ENCODERS

        key = str(model).lower()
        if key in ENCODERS:
            return f"packaged:{ENCODERS[key].pip_name}"
        if key in CAUSAL_LMS:
            return f"packaged:{CAUSAL_LMS[key].pip_name.split()[0]}"
        path = Path(model).expanduser().resolve()
        if path.is_dir():
            return f"path:{path}@{_fingerprint(path)}"
    return None


def _is_causal(model) -> bool:
    """Whether ``model`` attends causally (a decoder: left padding and last-token pooling apply).

    By class or architecture name (``*ForCausalLM``), by ``config.is_decoder``, or by model type:
    a type with a causal-LM head in transformers and no masked-LM head is decoder-only
    (``gpt2``'s ``GPT2LMHeadModel`` / ``GPT2Model``, which the name test misses); a type with
    both (``bert``) is causal only when ``config.is_decoder`` says so.
    """
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    cfg = model.config
    archs = getattr(cfg, "architectures", None) or []
    if type(model).__name__.endswith("ForCausalLM") or any("CausalLM" in a for a in archs):
        return True
    if getattr(cfg, "is_decoder", False):
        return True
    kind = getattr(cfg, "model_type", None)
    causal_lm, masked_lm = MODEL_FOR_CAUSAL_LM_MAPPING_NAMES, MODEL_FOR_MASKED_LM_MAPPING_NAMES
    return kind in causal_lm and kind not in masked_lm


def _hf_folder_kind(path: Path) -> str:
    import json

    if (path / "modules.json").is_file():
        return "st"
    cfg = path / "config.json"
    if not cfg.is_file():
        raise FileNotFoundError(
            f"model folder {str(path)!r} has neither modules.json (sentence-transformers) nor "
            "config.json (transformers); pass a model folder"
        )
    try:
        archs = json.loads(cfg.read_text()).get("architectures") or []
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as err:
        raise ValueError(
            f"model file {str(cfg)!r} is not a valid JSON object ({err}); restore it or pass "
            "another model folder"
        ) from None
    return "causal" if any("CausalLM" in a for a in archs) else "hf"


@functools.lru_cache(maxsize=2)
def _load_by_name(name: str, device: str | None, mid: str | None) -> EncoderHandle:
    """Load a named model; ``mid`` (:func:`model_id`, a folder's fingerprint) is part of the
    cache key, so a folder rewritten in the same session is loaded again, not served stale."""
    from ..models.loading import CAUSAL_LMS, ENCODERS, load_causal_lm, load_encoder

    key = name.lower()
    if key in ENCODERS:
        st = load_encoder(name, device=device)
        return EncoderHandle("st", st, st.tokenizer, mid)
    if key in CAUSAL_LMS:
        lm, tok = load_causal_lm(name, device=device)
        return EncoderHandle("hf", lm, tok, mid, causal=True)
    path = Path(name).expanduser()
    if not path.exists():
        raise FileNotFoundError(
            f"model {name!r} is neither a packaged name ({sorted({*ENCODERS, *CAUSAL_LMS})}) "
            "nor an existing folder; nothing is downloaded, so pass a local model folder"
        )
    kind = _hf_folder_kind(path)
    if kind == "st":
        st = load_encoder(path, device=device)
        return EncoderHandle("st", st, st.tokenizer, mid)
    if kind == "causal":
        lm, tok = load_causal_lm(path, device=device)
        return EncoderHandle("hf", lm, tok, mid, causal=True)
    from transformers import AutoModel, AutoTokenizer

    hf = AutoModel.from_pretrained(str(path), local_files_only=True).eval()
    if device:
        hf.to(device)
    tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    return EncoderHandle("hf", hf, tok, mid)


def resolve_encoder(model: Any = "minilm", *, device: str | None = None) -> EncoderHandle:
    """Turn a model argument into an :class:`EncoderHandle` (loaded models are cached by name
    and, for a folder, by its fingerprint: a rewritten folder is loaded again).

    Parameters
    ----------
    model
        A packaged name, a folder, a ``SentenceTransformer``, a ``(model, tokenizer)`` pair or an
        :class:`EncoderHandle`.
    device
        Where to load a named model (checked by :func:`biobft.embed.runtime.resolve_device`
        first; a loaded model stays where it is).

    Raises
    ------
    FileNotFoundError
        For a name that is neither packaged nor an existing folder.
    TypeError
        For anything else.
    ValueError
        A device that does not exist or that this torch cannot use.
    """
    from .runtime import resolve_device

    device = resolve_device(device)
    if isinstance(model, EncoderHandle):
        return model
    if isinstance(model, (str, os.PathLike)):
        return _load_by_name(str(model), device, model_id(model))
    from sentence_transformers import SentenceTransformer

    if isinstance(model, SentenceTransformer):
        return EncoderHandle("st", model, model.tokenizer, None)
    if isinstance(model, tuple) and len(model) == 2:
        lm, tok = model
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
            logger.info("tokenizer had no pad token; using %r", tok.pad_token)
        return EncoderHandle("hf", lm, tok, None, causal=_is_causal(lm))
    from transformers import PreTrainedModel

    if isinstance(model, PreTrainedModel):
        folder = Path(str(getattr(model, "name_or_path", "") or ""))
        if not (folder.is_dir() and any(folder.glob("tokenizer*"))):
            raise TypeError(
                f"a bare {type(model).__name__} has no tokenizer (its name_or_path "
                f"{str(folder)!r} is not a local folder with one); pass (model, tokenizer)"
            )
        from transformers import AutoTokenizer

        return resolve_encoder((model, AutoTokenizer.from_pretrained(str(folder))))
    raise TypeError(
        f"model must be a name, a folder path, a SentenceTransformer or a (model, tokenizer) "
        f"pair; got {type(model).__name__}"
    )
