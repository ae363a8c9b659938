"""Inference backends for :func:`biobft.embed.encode`: ONNX Runtime for sentence-transformers.

The ``onnx`` backend exports a sentence-transformers pipeline (transformer + its own pooling +
normalisation modules) once with ``torch.onnx.export`` (the dynamo exporter), fuses it for ONNX
Runtime with onnxscript's ``ort_fusions`` (one ``Attention`` op per layer with the padding mask,
``SkipLayerNormalization``, ``BiasGelu``) and caches the file under
``cache_dir("onnx")/<name>-<sha256 of weights, modules and exporter versions>.onnx``, written to a
temporary file and renamed. Inference runs on ONNX Runtime's CPU execution provider, fp32, with
all graph optimisations, so nothing depends on bf16 or AMX instructions.

Install with ``pip install 'biobft[onnx]'`` (onnxruntime, onnx, onnxscript; no other torch).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import logging
import os
import re
import tempfile
import warnings
import weakref
from pathlib import Path
from typing import Any

import numpy as np

from .._paths import cache_dir
from .runtime import BACKENDS

logger = logging.getLogger(__name__)

__all__ = ["BACKENDS", "OnnxEncoder", "export_onnx", "onnx_available", "onnx_encoder"]

_ONNX_PACKAGES = ("onnxruntime", "onnx", "onnxscript")
INSTALL_HINT = "pip install 'biobft[onnx]'  (onnxruntime, onnx, onnxscript)"


def onnx_available() -> bool:
    """Whether the ``onnx`` extra (onnxruntime, onnx, onnxscript) is installed."""
    return all(importlib.util.find_spec(p) is not None for p in _ONNX_PACKAGES)


def _versions(tools: tuple[str, ...]) -> str:
    from importlib.metadata import PackageNotFoundError, version

    def one(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "none"

    return ";".join(f"{p}={one(p)}" for p in tools)


ONNX_TOOLS = ("torch", "onnxscript", "transformers")


def content_key(st_model, *, tools: tuple[str, ...] = ONNX_TOOLS) -> str:
    """sha256 (24 hex) of a sentence-transformers model's weights, module layout and the exporter.

    Any change of a weight, of the pipeline's modules (e.g. pooling mode) or of the versions of
    ``tools`` (the packages that trace and convert it) gives a new key, so a stale export is
    never reused.
    """
    h = hashlib.sha256()
    h.update(repr(st_model).encode())
    h.update(_versions(tools).encode())
    for name, tensor in st_model.state_dict().items():
        h.update(name.encode())
        h.update(str(tuple(tensor.shape)).encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:24]


class _Pipeline:
    """``(input_ids, attention_mask[, token_type_ids]) -> sentence_embedding`` as one module."""

    @staticmethod
    def build(st_model, input_names: list[str]):
        import torch

        class Pipeline(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.st = st_model

            def forward(self, *tensors):
                return self.st(dict(zip(input_names, tensors)))["sentence_embedding"]

        return Pipeline().eval()


@contextlib.contextmanager
def traceable(st_model, *, attention: str):
    """The pipeline as one module, ready to trace with ``attention`` (restored afterwards).

    Yields ``(module, input_names, sample_inputs)``: the module maps the tokenizer's tensors
    (``input_names``, in order) to the sentence embedding; tracer warnings are silenced.
    """
    import torch

    sample = st_model.tokenizer(
        ["Gene symbol TP53. A tumor suppressor.", "KLF1", "an erythroid transcription factor"],
        padding=True,
        return_tensors="pt",
    )
    names = list(sample.keys())
    net = st_model[0].auto_model
    previous = getattr(net.config, "_attn_implementation", None)
    try:
        if hasattr(net, "set_attn_implementation"):
            net.set_attn_implementation(attention)
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")
            yield _Pipeline.build(st_model, names), names, tuple(sample[k] for k in names)
    finally:
        if previous is not None and hasattr(net, "set_attn_implementation"):
            net.set_attn_implementation(previous)


def export_onnx(st_model, path: str | os.PathLike, *, fuse: bool = True) -> Path:
    """Export a sentence-transformers pipeline to an ONNX file, atomically.

    Parameters
    ----------
    st_model
        A ``SentenceTransformer`` on CPU.
    path
        Target ``.onnx`` file (single file, weights inside).
    fuse
        Rewrite the graph for ONNX Runtime (fused attention, skip-layer-norm, bias-gelu) with
        ``onnxscript.rewriter.ort_fusions``.

    Returns
    -------
    The written path. Inputs are the tokenizer's tensors (``input_ids``, ``attention_mask``,
    ``token_type_ids`` where the tokenizer makes them; int64, dynamic batch and sequence
    dimensions); the output ``sentence_embedding`` is ``(batch, dim)`` float32.
    """
    import torch

    path = Path(path)
    batch, seq = torch.export.Dim("batch"), torch.export.Dim("seq")
    # eager attention traces into the MatMul/Softmax pattern that fuses to one Attention op
    # (SDPA does not fuse); the numbers are the same
    with traceable(st_model, attention="eager") as (module, names, sample):
        program = torch.onnx.export(
            module,
            sample,
            input_names=names,
            output_names=["sentence_embedding"],
            dynamic_shapes=(tuple({0: batch, 1: seq} for _ in names),),
            dynamo=True,
            external_data=False,
            verbose=False,
        )
    model = program.model
    if fuse:
        from onnxscript.rewriter import ort_fusions

        model, stats = ort_fusions.optimize_for_ort(model)
        logger.info("ONNX Runtime fusions: %s", {k: v for k, v in stats.items() if v})
    import onnx_ir

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        onnx_ir.save(model, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


class OnnxEncoder:
    """An ONNX Runtime session over an exported sentence-transformers pipeline.

    Parameters
    ----------
    path
        The ``.onnx`` file written by :func:`export_onnx`.
    threads
        Intra-op threads (default: ``torch.get_num_threads()``, so ``torch.set_num_threads``
        and ``OMP_NUM_THREADS`` apply to both backends alike).
    """

    def __init__(self, path: str | os.PathLike, *, threads: int | None = None) -> None:
        import onnxruntime as ort

        if threads is None:
            import torch

            threads = torch.get_num_threads()
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.intra_op_num_threads = int(threads)
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        self.path = Path(path)
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]

    def __call__(self, encoded: dict[str, Any]) -> np.ndarray:
        """Run one tokenised batch (``return_tensors="np"``); returns ``(batch, dim)`` float32."""
        feeds = {k: np.asarray(encoded[k], dtype=np.int64) for k in self.input_names}
        return np.asarray(self.session.run(None, feeds)[0], dtype=np.float32)


_KEYS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> {tools: key}


def cached_content_key(st_model, *, tools: tuple[str, ...]) -> str:
    """:func:`content_key`, computed once per model object and tool set (hashing takes ~0.3 s)."""
    keys = _KEYS.setdefault(st_model, {})
    if tools not in keys:
        keys[tools] = content_key(st_model, tools=tools)
    return keys[tools]


def cache_path(st_model, *, kind: str, name: str, tools: tuple[str, ...], suffix: str = "") -> Path:
    """``cache_dir(kind)/<name>-<content key><suffix>``: where an export of ``st_model`` lives."""
    slug = re.sub(r"[^A-Za-z0-9_.=-]+", "-", name).strip("-")[-60:] or "encoder"
    return cache_dir(kind) / f"{slug}-{cached_content_key(st_model, tools=tools)}{suffix}"


@functools.lru_cache(maxsize=4)
def _session(path: str, threads: int) -> OnnxEncoder:
    return OnnxEncoder(path, threads=threads)


def onnx_encoder(st_model, *, name: str = "encoder") -> OnnxEncoder:
    """The cached ONNX Runtime encoder of a sentence-transformers model (exported on first use).

    Parameters
    ----------
    st_model
        A ``SentenceTransformer`` (its weights are hashed for the cache key).
    name
        Readable prefix of the cached file name.

    Raises
    ------
    ImportError
        When the ``onnx`` extra is not installed (the message says how to install it).
    """
    if not onnx_available():
        raise ImportError(f"backend='onnx' needs onnxruntime, onnx and onnxscript: {INSTALL_HINT}")
    import torch

    path = cache_path(st_model, kind="onnx", name=name, tools=ONNX_TOOLS, suffix=".onnx")
    if not path.is_file():
        logger.info("exporting the encoder to ONNX once: %s (about 30 s)", path)
        export_onnx(st_model, path)
    return _session(str(path), torch.get_num_threads())
