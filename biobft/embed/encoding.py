"""Text -> vector: sentence-transformers encoders and LMs through hidden-state pooling.

:func:`encode` is the single entry point. It accepts a model name (``"minilm"``,
``"smollm2-135m"``), a folder, a loaded ``SentenceTransformer`` or a ``(model, tokenizer)`` pair,
sorts texts by token length, runs length-homogeneous batches under ``torch.inference_mode()``
(and bf16 autocast where the hardware runs it fast), moves each batch to CPU at once and restores
the input order. A sentence-transformers pipeline on CPU runs on OpenVINO
(:mod:`biobft.embed.openvino_backend`) or ONNX Runtime (:mod:`biobft.embed.backends`) when their
extra is installed (``backend="auto"``, :func:`resolve_backend`), with the same sorting (OpenVINO
cuts the batches smaller, to a token budget).

Split for size: model loading lives in :mod:`biobft.embed.encoders`, precision and backend
resolution in :mod:`biobft.embed.runtime`; both are re-exported here (the public import path).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from .encoders import ST_POOLING, EncoderHandle, model_id, resolve_encoder
from .pooling import POOLINGS, get_pooling
from .runtime import (
    PRECISIONS,
    check_backend,
    resolve_backend,
    resolve_device,
    resolve_precision,
    resolve_run,
)

logger = logging.getLogger(__name__)

__all__ = [
    "PRECISIONS",
    "EncoderHandle",
    "encode",
    "model_id",
    "release_encoders",
    "resolve_backend",
    "resolve_device",
    "resolve_encoder",
    "resolve_precision",
    "resolve_run",
]


def release_encoders() -> None:
    """Drop every cached encoder and inference session and hand freed heap memory back to the OS.

    :func:`encode` keeps the last models it loaded (and their OpenVINO / ONNX Runtime sessions)
    so that repeated calls are fast; a long job that has finished encoding calls this before its
    memory-heavy steps (``biobft benchmark`` does, before the GGI fits). The next :func:`encode`
    loads again. On glibc, ``malloc_trim(0)`` returns the freed arenas; elsewhere only
    ``gc.collect()`` runs.
    """
    import ctypes
    import gc
    import sys

    for module, cached in (
        ("encoders", "_load_by_name"),
        ("backends", "_session"),
        ("openvino_backend", "_compiled"),
    ):
        mod = sys.modules.get(f"{__package__}.{module}")
        if mod is not None:
            getattr(mod, cached).cache_clear()
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


# --------------------------------------------------------------------------- encode
def _check_texts(texts: Iterable[str] | str) -> list[str]:
    kind = type(texts).__name__
    if isinstance(texts, Mapping):  # iterating would embed the keys (e.g. gene symbols)
        raise TypeError(
            f"texts is a {kind}: encode would embed its keys, not its values; pass "
            "list(d.values()) (and keep list(d) for the names), or a pandas Series"
        )
    if hasattr(texts, "tolist"):  # numpy array / pandas Series; a 0-d array gives one string
        texts = texts.tolist()
    if isinstance(texts, str):
        texts = [texts]
    try:
        items = list(texts)
    except TypeError:
        raise TypeError(f"texts must be a list of strings; got {kind}") from None
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
    for name, value, unit in (
        ("max_length", max_length, "tokens"),
        ("batch_size", batch_size, "texts"),
    ):
        if value is None and name == "max_length":
            continue
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{name} must be a positive integer ({unit}); got {value!r}")
    if isinstance(layer, bool) or not isinstance(layer, int | np.integer):
        raise ValueError(f"layer must be an integer (-1: last hidden layer); got {layer!r}")


def _check_layer(handle: EncoderHandle, layer: int, *, pooling: str | None = None) -> None:
    """Refuse a hidden layer the model does not have, or one its pooling would not use.

    A sentence-transformers model with its own pipeline (``pooling=None`` or
    ``"sentence-transformers"``) always pools the last layer, so another ``layer`` would be
    silently ignored: refused, with the fix. Runs before any forward pass.
    """
    net = handle.model[0].auto_model if handle.kind == "st" else handle.model
    n = getattr(getattr(net, "config", None), "num_hidden_layers", None)
    if n is not None and not -(n + 1) <= int(layer) <= n:
        raise ValueError(
            f"layer={layer} does not exist: the model has {n} hidden layers, so layer must lie "
            f"in [{-(n + 1)}, {n}] (0: embeddings, -1: last layer)"
        )
    last = int(layer) == -1 or (n is not None and int(layer) == n)
    if handle.kind == "st" and pooling in (None, ST_POOLING) and not last:
        raise ValueError(
            f"layer={layer} does not apply: the sentence-transformers pipeline (pooling="
            f"{pooling!r}) pools the last layer only; pass pooling='mean' (or another of "
            f"{sorted(POOLINGS)}) to pool layer {layer}, or leave layer=-1"
        )


def _check_degenerate(
    items: list[str], handle: EncoderHandle, *, names: list[str] | None = None
) -> None:
    """Empty, whitespace-only, control-character and zero-token texts: one error naming them.

    ``names`` (e.g. gene symbols) are used in the message instead of positions. Texts without
    content (empty, whitespace, zero tokens) and texts with control characters (content, but
    bytes a tokenizer may drop or mangle silently) get their own reasons and fixes.
    """
    where = "for gene(s)" if names is not None else "at position(s)"

    def who(idx: list[int]) -> list:
        return [names[i] for i in idx[:10]] if names is not None else idx[:10]

    empty = [i for i, t in enumerate(items) if not t.strip()]
    control = [i for i, t in enumerate(items) if _CONTROL.search(t)]
    zero: list[int] = []
    if items and not empty and not control:
        # truncated to the tokenizer's limit where it has one: whether a text has any token is
        # unchanged, and transformers' "... will result in indexing errors" warning is not printed
        cut = _tokenizer_limit(handle.tokenizer) is not None
        ids = handle.tokenizer(items, add_special_tokens=False, truncation=cut)["input_ids"]
        zero = [i for i, x in enumerate(ids) if not len(x)]
    parts = []
    if empty or zero:
        what = "; ".join(
            f"{len(v)} text(s) {k} {where} {who(v)}"
            for k, v in (
                ("empty or whitespace-only", empty),
                ("that tokenize to zero tokens", zero),
            )
            if v
        )
        parts.append(
            f"{what}: such a text has no content to embed (its vector would be padding only); "
            "drop or fix them first (whitespace-only: texts = [t for t in texts if t.strip()]; "
            "invisible characters such as zero-width spaces are not whitespace to str.strip())"
        )
    if control:
        first = items[control[0]]
        pos = _CONTROL.search(first).start()
        chars = sorted({c for i in control for c in _CONTROL.findall(items[i])})
        shown = ", ".join(f"{c!r} (U+{ord(c):04X})" for c in chars[:5])
        at = f"gene {names[control[0]]!r}" if names is not None else f"position {control[0]}"
        parts.append(
            f"{len(control)} text(s) with control characters {where} {who(control)}: {shown} "
            f"(the first in the text at {at}, character {pos}); a tokenizer drops or mangles "
            "them silently. Clean "
            "them first, e.g. texts = [re.sub(r'[\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f]', ' ', t) "
            "for t in texts]"
        )
    if parts:
        raise ValueError("; and ".join(parts))


def _tokenizer_limit(tokenizer) -> int | None:
    """The tokenizer's own ``model_max_length``; ``None`` when unset (transformers stores a huge
    placeholder then)."""
    tok_max = getattr(tokenizer, "model_max_length", None)
    return int(tok_max) if tok_max and tok_max < 1_000_000 else None


def _max_len(handle: EncoderHandle, max_length: int | None) -> int | None:
    limits = []
    if max_length:
        limits.append(int(max_length))
    if handle.kind == "st" and getattr(handle.model, "max_seq_length", None):
        limits.append(int(handle.model.max_seq_length))
    tok_max = _tokenizer_limit(handle.tokenizer)
    if tok_max is not None:
        limits.append(tok_max)
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


def _runner(backend: str, handle: EncoderHandle, precision: str):
    """The cached ONNX Runtime / OpenVINO runner of a sentence-transformers model."""
    name = (handle.model_id or "encoder").split(":")[-1]
    if backend == "onnx":
        from .backends import onnx_encoder

        return onnx_encoder(handle.model, name=name)
    from .openvino_backend import openvino_encoder

    return openvino_encoder(handle.model, precision=precision, name=name)


def _batches(
    order: np.ndarray, lengths: Sequence[int], batch_size: int, max_tokens: int | None = None
) -> list[np.ndarray]:
    """Cut ``order`` (text indices, longest first) into the batches of one forward pass each.

    Each batch holds at most ``batch_size`` texts and, with ``max_tokens``, at most that many
    padded tokens: rows x the token length of its first (longest) text; a text longer than
    ``max_tokens`` runs alone. Concatenated, the batches are ``order``.
    """
    out, start = [], 0
    while start < len(order):
        rows = batch_size
        if max_tokens is not None:
            rows = max(1, min(batch_size, max_tokens // max(1, lengths[order[start]])))
        out.append(order[start : start + rows])
        start += rows
    return out


def _encode_exported(encoded, handle, batches, normalize, show, runner, desc) -> np.ndarray:
    """The loop of the exported backends: same sorting, batches, truncation and order as torch.

    ``encoded`` is the tokenizer's output for every text (truncated, unpadded): each batch is
    padded from it (``tokenizer.pad``), not tokenised again (the second pass competed with the
    inference threads for the cores). A runner with ``run_all`` (OpenVINO) keeps several batches
    in flight; rows land by index.
    """
    from tqdm.auto import tqdm

    out: list[np.ndarray] = []
    n_items = len(encoded["input_ids"])

    def tokenised():
        for idx in tqdm(batches, desc=desc, disable=not show, leave=False):
            rows = {key: [encoded[key][i] for i in idx] for key in encoded}
            yield idx, handle.tokenizer.pad(rows, padding=True, return_tensors="np")

    def sink(idx, vecs: np.ndarray) -> None:
        if normalize:
            vecs = vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
        if not out:
            out.append(np.empty((n_items, vecs.shape[1]), dtype=np.float32))
        out[0][idx] = vecs

    if hasattr(runner, "run_all"):
        runner.run_all(tokenised(), sink)
    else:
        for idx, enc in tokenised():
            sink(idx, runner(enc))
    return out[0]


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
        Texts per forward pass, at most (batches are formed after sorting by token length;
        the OpenVINO backend also caps a batch at
        :data:`~biobft.embed.openvino_backend.MAX_BATCH_TOKENS` padded tokens: less padding
        in calls of a few hundred texts of mixed lengths, the same speed on a whole corpus,
        ``benchmarks/results/encode_settings*.json``).
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
        Hidden layer to pool (``-1``: last; ``0``: embeddings). The sentence-transformers
        pipeline (``pooling=None`` on such a model) pools the last layer only, so another layer
        is refused there: pass ``pooling="mean"`` to pool it.
    device
        Device for a model loaded by name (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``;
        ``None``: the loader's default); a loaded model stays where it is. Checked before any
        model loads by :func:`~biobft.embed.runtime.resolve_device`: a device this torch cannot
        use, or a GPU with ``backend="onnx"`` / ``"openvino"`` (CPU only), is a ValueError.
    backend
        ``"torch"`` (the model itself), ``"openvino"`` (OpenVINO over the converted
        sentence-transformers pipeline, CPU, fp32 or bf16 by ``precision``; needs
        ``biobft[openvino]``; converted once and cached, see
        :mod:`biobft.embed.openvino_backend`), ``"onnx"`` (ONNX Runtime, fp32 CPU; needs
        ``biobft[onnx]``; see :mod:`biobft.embed.backends`) or ``"auto"``: the fastest one
        installed that runs the call, see :func:`resolve_backend`. All give the same vectors to
        cosine >= 0.999 of ``SentenceTransformer.encode`` fp32 (measured on RefSeq texts:
        0.9999999 in fp32, 0.99997 in bf16).

    Returns
    -------
    numpy.ndarray
        float32, one row per input text, in input order.

    Raises
    ------
    ValueError
        Empty ``texts``, None/NaN texts; empty, whitespace-only, control-character or zero-token
        texts (positions named); ``max_length``/``batch_size`` < 1, a ``layer`` the model does
        not have or its pooling does not use; a bad ``device`` (see above); a corrupt
        ``config.json`` (file named); an unknown pooling, precision or backend.
        Over-long texts are truncated to ``max_length`` tokens and counted in the log.
    FileNotFoundError
        A model path that does not exist.
    ImportError
        ``backend="onnx"`` / ``"openvino"`` without its extra installed.
    """
    import torch
    from tqdm.auto import tqdm

    items = _check_texts(texts)
    _check_options(max_length=max_length, layer=layer, batch_size=batch_size)
    if pooling is not None:
        get_pooling(pooling)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1; got {batch_size}")
    check_backend(backend)
    handle = resolve_encoder(model, device=resolve_device(device, backend=backend))
    _check_layer(handle, layer, pooling=pooling)
    _check_degenerate(items, handle)
    pool_fn = None
    if pooling is not None and not (handle.kind == "st" and pooling == ST_POOLING):
        pool_fn = POOLINGS[pooling]
    elif handle.kind == "hf":
        pool_fn = POOLINGS["mean"]
    dev = handle.device
    which, prec = resolve_run(backend, handle, pooling=pooling, precision=precision)
    max_len = _max_len(handle, max_length)

    encoded = handle.tokenizer(
        items, truncation=max_len is not None, max_length=max_len, add_special_tokens=True
    )
    lengths = [len(ids) for ids in encoded["input_ids"]]
    if max_len is not None and (n_cut := sum(n >= max_len for n in lengths)):
        logger.info(
            "%d of %d text(s) reach max_length=%d tokens (truncated)", n_cut, len(items), max_len
        )
    order = np.argsort(-np.asarray(lengths), kind="stable")
    runner = None if which == "torch" else _runner(which, handle, prec)
    # the OpenVINO runner also caps the padded tokens per batch (faster: encode_settings*.json)
    batches = _batches(order, lengths, batch_size, getattr(runner, "max_batch_tokens", None))
    show = len(batches) > 50 if show_progress_bar is None else bool(show_progress_bar)
    if runner is not None:
        desc = f"encode ({which} {prec})"
        return _encode_exported(encoded, handle, batches, normalize, show, runner, desc)

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
            for idx in tqdm(batches, desc="encode", disable=not show, leave=False):
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
