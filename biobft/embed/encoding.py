"""Text -> vector: sentence-transformers encoders and LMs through hidden-state pooling.

:func:`encode` is the single entry point. It accepts a model name (``"minilm"``,
``"smollm2-135m"``), a folder, a loaded ``SentenceTransformer`` or a ``(model, tokenizer)`` pair,
sorts texts by token length, runs length-homogeneous batches under ``torch.inference_mode()``
(and bf16 autocast where the hardware runs it fast), moves each batch to CPU at once and restores
the input order.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .pooling import POOLINGS, get_pooling

logger = logging.getLogger(__name__)

__all__ = [
    "PRECISIONS",
    "EncoderHandle",
    "encode",
    "model_id",
    "resolve_backend",
    "resolve_encoder",
    "resolve_precision",
]

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
ST_POOLING = "sentence-transformers"
"""Pooling name recorded for a sentence-transformers model's own pipeline."""


# --------------------------------------------------------------------------- precision
@functools.lru_cache(maxsize=1)
def _cpu_has_fast_bf16() -> bool:
    import torch

    cap = str(torch.backends.cpu.get_cpu_capability()).upper()
    if "AMX" in cap:
        return True
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:  # pragma: no cover - not Linux
        return False
    return " amx_bf16" in flags or " avx512_bf16" in flags


def resolve_precision(precision: str, device: str) -> str:
    """Turn ``"auto"`` into ``"bf16"`` where the device runs bf16 fast, else ``"fp32"``.

    CPU: bf16 when it has AMX or AVX-512 BF16 instructions; CUDA: when
    ``torch.cuda.is_bf16_supported()``.

    Raises
    ------
    ValueError
        For a name outside :data:`PRECISIONS`.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {list(PRECISIONS)}")
    if precision != "auto":
        return precision
    import torch

    if str(device).startswith("cuda"):
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if str(device) == "cpu":
        return "bf16" if _cpu_has_fast_bf16() else "fp32"
    return "fp32"


# --------------------------------------------------------------------------- models
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
    """Cheap content fingerprint of a model folder (names, sizes, mtimes of its files)."""
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            st = path.stat()
            h.update(f"{path.relative_to(folder)}:{st.st_size}:{int(st.st_mtime)};".encode())
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
    archs = getattr(model.config, "architectures", None) or []
    return type(model).__name__.endswith("ForCausalLM") or any("CausalLM" in a for a in archs)


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
def _load_by_name(name: str, device: str | None) -> EncoderHandle:
    from ..models.loading import CAUSAL_LMS, ENCODERS, load_causal_lm, load_encoder

    key = name.lower()
    mid = model_id(name)
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
    """Turn a model argument into an :class:`EncoderHandle` (loaded models are cached by name).

    Parameters
    ----------
    model
        A packaged name, a folder, a ``SentenceTransformer``, a ``(model, tokenizer)`` pair or an
        :class:`EncoderHandle`.
    device
        Where to load a named model.

    Raises
    ------
    FileNotFoundError
        For a name that is neither packaged nor an existing folder.
    TypeError
        For anything else.
    """
    if isinstance(model, EncoderHandle):
        return model
    if isinstance(model, (str, os.PathLike)):
        return _load_by_name(str(model), device)
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


# --------------------------------------------------------------------------- backend
def resolve_backend(
    backend: str, handle: EncoderHandle, *, pooling: str | None = None, precision: str = "auto"
) -> str:
    """Turn ``"auto"`` into ``"onnx"`` or ``"torch"``; check an explicit choice.

    ``"auto"`` picks ``"onnx"`` (:mod:`biobft.embed.backends`) when the ``onnx`` extra is
    installed, the model is a sentence-transformers pipeline used with its own pooling, it runs
    on CPU and the precision resolves to fp32 (where bf16 is fast, ``precision="auto"`` keeps
    torch's bf16 path); everything else runs on torch. An explicit ``"onnx"`` always runs fp32.

    Raises
    ------
    ValueError
        An unknown name, or ``"onnx"`` for a model or setting it does not run (hidden-state
        pooling of other models, a GPU, bf16/fp16).
    ImportError
        ``"onnx"`` without the extra installed.
    """
    from .backends import BACKENDS, INSTALL_HINT, onnx_available

    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {list(BACKENDS)}")
    if backend == "torch":
        return "torch"
    fits = []
    if handle.kind != "st" or pooling not in (None, ST_POOLING):
        fits.append("it runs only a sentence-transformers model's own pipeline (pooling=None)")
    if handle.device.type != "cpu":
        fits.append(f"it runs on CPU, the model is on {handle.device}")
    if backend == "auto":
        fp32 = resolve_precision(precision, handle.device.type) == "fp32"
        return "onnx" if fp32 and not fits and onnx_available() else "torch"
    if precision not in ("auto", "fp32"):
        fits.append(f"it runs fp32 (precision='auto' or 'fp32'), not {precision!r}")
    if fits:
        raise ValueError(f"backend='onnx' does not fit: {'; '.join(fits)}; use backend='torch'")
    if not onnx_available():
        raise ImportError(f"backend='onnx' needs the onnx extra: {INSTALL_HINT}")
    return "onnx"


# --------------------------------------------------------------------------- encode
def _check_texts(texts: Iterable[str] | str) -> list[str]:
    if isinstance(texts, str):
        texts = [texts]
    try:
        items = list(texts.tolist() if hasattr(texts, "tolist") else texts)
    except TypeError:
        raise TypeError(f"texts must be a list of strings; got {type(texts).__name__}") from None
    if not items:
        raise ValueError("texts is empty; pass at least one string to encode")
    bad = [i for i, t in enumerate(items) if t is None or (isinstance(t, float) and np.isnan(t))]
    if bad:
        raise ValueError(
            f"texts contains {len(bad)} None/NaN value(s) at position(s) {bad[:10]}; "
            "drop them (e.g. series.dropna()) before encoding"
        )
    wrong = [i for i, t in enumerate(items) if not isinstance(t, str)]
    if wrong:
        raise TypeError(
            f"texts must be strings; position {wrong[0]} is {type(items[wrong[0]]).__name__}"
        )
    return items


# input checks of issue 12 (one block: options and degenerate texts, before any model loads)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _check_options(*, max_length: Any, layer: Any, batch_size: Any) -> None:
    """Refuse bad encoder options before the model loads."""
    for name, value in (("max_length", max_length), ("batch_size", batch_size)):
        if value is None and name == "max_length":
            continue
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{name} must be a positive integer (tokens); got {value!r}")
    if isinstance(layer, bool) or not isinstance(layer, int | np.integer):
        raise ValueError(f"layer must be an integer (-1: last hidden layer); got {layer!r}")


def _check_layer(handle: EncoderHandle, layer: int) -> None:
    """Refuse a hidden layer the loaded model does not have (before any forward pass)."""
    net = handle.model[0].auto_model if handle.kind == "st" else handle.model
    n = getattr(getattr(net, "config", None), "num_hidden_layers", None)
    if n is not None and not -(n + 1) <= int(layer) <= n:
        raise ValueError(
            f"layer={layer} does not exist: the model has {n} hidden layers, so layer must lie "
            f"in [{-(n + 1)}, {n}] (0: embeddings, -1: last layer)"
        )


def _check_degenerate(
    items: list[str], handle: EncoderHandle, *, names: list[str] | None = None
) -> None:
    """Empty, whitespace-only, control-character and zero-token texts: one error naming them.

    ``names`` (e.g. gene symbols) are used in the message instead of positions.
    """
    problems = {
        "empty or whitespace-only": [i for i, t in enumerate(items) if not t.strip()],
        "with control characters": [i for i, t in enumerate(items) if _CONTROL.search(t)],
    }
    if items and not any(problems.values()):
        ids = handle.tokenizer(items, add_special_tokens=False)["input_ids"]
        problems["that tokenize to zero tokens"] = [i for i, x in enumerate(ids) if not len(x)]
    found = {k: v for k, v in problems.items() if v}
    if found:
        where = "for gene(s)" if names is not None else "at position(s)"
        what = "; ".join(
            f"{len(v)} text(s) {k} {where} {[names[i] for i in v[:10]] if names else v[:10]}"
            for k, v in found.items()
        )
        raise ValueError(
            f"{what}: such a text has no content to embed (its vector would be padding only); "
            "drop or fix them first (e.g. texts = [t for t in texts if t.strip()], and strip "
            "control characters with re.sub(r'[\\x00-\\x1f\\x7f]', ' ', t))"
        )


def _max_len(handle: EncoderHandle, max_length: int | None) -> int | None:
    limits = []
    if max_length:
        limits.append(int(max_length))
    if handle.kind == "st" and getattr(handle.model, "max_seq_length", None):
        limits.append(int(handle.model.max_seq_length))
    tok_max = getattr(handle.tokenizer, "model_max_length", None)
    if tok_max and tok_max < 1_000_000:
        limits.append(int(tok_max))
    return min(limits) if limits else None


def _forward_batch(handle, batch, pool_fn, layer, max_len, device):

    enc = handle.tokenizer(
        batch,
        padding=True,
        truncation=max_len is not None,
        max_length=max_len,
        return_tensors="pt",
    )
    enc = {k: v.to(device) for k, v in enc.items()}
    if handle.kind == "st" and pool_fn is None:
        return handle.model(enc)["sentence_embedding"]
    net = handle.model[0].auto_model if handle.kind == "st" else handle.model
    base = getattr(net, "base_model", net)
    kwargs = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}
    if "token_type_ids" in enc:
        kwargs["token_type_ids"] = enc["token_type_ids"]
    if handle.causal:
        # position ids from the mask: left- and right-padded rows see the same positions
        kwargs["position_ids"] = (enc["attention_mask"].cumsum(-1) - 1).clamp(min=0)
        kwargs["use_cache"] = False
    want_all = layer not in (-1, None)
    out = base(**kwargs, output_hidden_states=want_all)
    hidden = out.hidden_states[layer] if want_all else out.last_hidden_state
    return pool_fn(hidden, enc["attention_mask"].to(hidden.device))


def _encode_onnx(items, handle, order, batch_size, normalize, max_len, show) -> np.ndarray:
    """The ONNX Runtime loop: same sorting, batches, truncation and order as the torch one."""
    from tqdm.auto import tqdm

    from .backends import onnx_encoder

    runner = onnx_encoder(handle.model, name=(handle.model_id or "encoder").split(":")[-1])
    out: np.ndarray | None = None
    n_batches = (len(items) + batch_size - 1) // batch_size
    for b in tqdm(range(n_batches), desc="encode (onnx)", disable=not show, leave=False):
        idx = order[b * batch_size : (b + 1) * batch_size]
        enc = handle.tokenizer(
            [items[i] for i in idx],
            padding=True,
            truncation=max_len is not None,
            max_length=max_len,
            return_tensors="np",
        )
        vecs = runner(enc)
        if normalize:
            vecs = vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
        if out is None:
            out = np.empty((len(items), vecs.shape[1]), dtype=np.float32)
        out[idx] = vecs
    assert out is not None
    return out


def encode(
    texts: Iterable[str] | str,
    *,
    model: Any = "minilm",
    batch_size: int = 32,
    pooling: str | None = None,
    normalize: bool = False,
    precision: str = "auto",
    show_progress_bar: bool | None = None,
    max_length: int | None = 256,
    layer: int = -1,
    device: str | None = None,
    backend: str = "auto",
) -> np.ndarray:
    """Encode texts into a ``(n_texts, dim)`` float32 array.

    Parameters
    ----------
    texts
        Strings (a list, tuple, Series or a single string).
    model
        ``"minilm"`` (packaged sentence encoder), ``"smollm2-135m"`` (packaged causal LM), a
        model folder, a loaded ``SentenceTransformer`` or a ``(model, tokenizer)`` pair.
    batch_size
        Texts per forward pass (batches are formed after sorting by token length).
    pooling
        ``None``: the model's default (a sentence-transformers model's own pipeline; ``"mean"``
        for other models), else a name in :data:`biobft.embed.pooling.POOLINGS` applied to the
        hidden states of ``layer``.
    normalize
        L2-normalise each vector.
    precision
        ``"fp32"``, ``"bf16"``/``"fp16"`` (autocast) or ``"auto"`` (bf16 where the CPU/GPU runs
        it fast, else fp32).
    show_progress_bar
        tqdm bar over batches; ``None``: only for more than 50 batches.
    max_length
        Truncate texts to this many tokens (also capped by the model's own limit).
    layer
        Hidden layer to pool (``-1``: last; ``0``: embeddings); ignored by the
        sentence-transformers pipeline (``pooling=None``).
    device
        Device for a model loaded by name; a loaded model stays where it is.
    backend
        ``"torch"`` (the model itself), ``"onnx"`` (ONNX Runtime over the exported
        sentence-transformers pipeline, fp32 CPU; needs ``biobft[onnx]``; exported once and
        cached, see :mod:`biobft.embed.backends`) or ``"auto"``: see :func:`resolve_backend`.
        Both give the same vectors to cosine >= 0.999 (measured: 0.9999999).

    Returns
    -------
    numpy.ndarray
        float32, one row per input text, in input order.

    Raises
    ------
    ValueError
        Empty ``texts``, None/NaN texts; empty, whitespace-only, control-character or zero-token
        texts (positions named); ``max_length``/``batch_size`` < 1, a ``layer`` the model does
        not have; a corrupt ``config.json`` (file named); an unknown pooling, precision or backend.
        Over-long texts are truncated to ``max_length`` tokens and counted in the log.
    FileNotFoundError
        A model path that does not exist.
    ImportError
        ``backend="onnx"`` without the extra installed.
    """
    import torch
    from tqdm.auto import tqdm

    items = _check_texts(texts)
    _check_options(max_length=max_length, layer=layer, batch_size=batch_size)
    if pooling is not None:
        get_pooling(pooling)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1; got {batch_size}")
    handle = resolve_encoder(model, device=device)
    _check_layer(handle, layer)
    _check_degenerate(items, handle)
    pool_fn = None
    if pooling is not None and not (handle.kind == "st" and pooling == ST_POOLING):
        pool_fn = POOLINGS[pooling]
    elif handle.kind == "hf":
        pool_fn = POOLINGS["mean"]
    dev = handle.device
    prec = resolve_precision(precision, dev.type)
    max_len = _max_len(handle, max_length)

    lengths = [
        len(ids)
        for ids in handle.tokenizer(
            items, truncation=max_len is not None, max_length=max_len, add_special_tokens=True
        )["input_ids"]
    ]
    if max_len is not None and (n_cut := sum(n >= max_len for n in lengths)):
        logger.info(
            "%d of %d text(s) reach max_length=%d tokens (truncated)", n_cut, len(items), max_len
        )
    order = np.argsort(-np.asarray(lengths), kind="stable")
    n_batches = (len(items) + batch_size - 1) // batch_size
    show = n_batches > 50 if show_progress_bar is None else bool(show_progress_bar)
    if resolve_backend(backend, handle, pooling=pooling, precision=precision) == "onnx":
        return _encode_onnx(items, handle, order, batch_size, normalize, max_len, show)

    out: np.ndarray | None = None
    was_training = handle.model.training
    handle.model.eval()
    autocast_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(prec)
    try:
        with (
            torch.inference_mode(),
            torch.autocast(
                device_type=dev.type,
                dtype=autocast_dtype or torch.bfloat16,
                enabled=bool(autocast_dtype),
            ),
        ):
            for b in tqdm(range(n_batches), desc="encode", disable=not show, leave=False):
                idx = order[b * batch_size : (b + 1) * batch_size]
                vecs = _forward_batch(handle, [items[i] for i in idx], pool_fn, layer, max_len, dev)
                vecs = vecs.float()
                if normalize:
                    vecs = torch.nn.functional.normalize(vecs, p=2, dim=1)
                vecs = vecs.cpu().numpy()
                if out is None:
                    out = np.empty((len(items), vecs.shape[1]), dtype=np.float32)
                out[idx] = vecs
    finally:
        if was_training:
            handle.model.train()
    assert out is not None
    return out
