"""OpenVINO backend for :func:`biobft.embed.encode`: sentence-transformers pipelines on CPUs.

The whole sentence-transformers pipeline (transformer with SDPA attention + its own pooling and
normalisation modules) is converted once with ``openvino.convert_model`` (dynamic batch and
sequence dimensions, fp32 weights) and cached as OpenVINO IR under
``cache_dir("openvino")/<name>-<sha256 of weights, modules, torch / openvino / transformers
versions>/model.xml`` (+ ``model.bin``), written into a temporary folder that is renamed into
place. Inference compiles it for the CPU with an explicit ``INFERENCE_PRECISION_HINT``: ``bf16``
only when asked for and the CPU has AMX or AVX-512 BF16 instructions (detected, never assumed;
OpenVINO's own CPU capabilities must list ``BF16`` too), else ``f32``.

Why it is fast (measured, ``benchmarks/results/encode.json``): SDPA converts to
OpenVINO's fused attention op, and the CPU plugin runs the whole graph on oneDNN kernels, in bf16
on AMX where the hint allows (torch bf16 autocast on the same CPU gains far less; eager
attention converted the same way is slower). Worst cosine to ``SentenceTransformer.encode`` fp32
on RefSeq texts: 0.99997 (bf16), 0.9999999 (fp32).

Install with ``pip install 'biobft[openvino]'`` (openvino; no torch, transformers or CUDA of its
own).
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from .backends import cache_path, traceable
from .runtime import cpu_has_fast_bf16

logger = logging.getLogger(__name__)

__all__ = [
    "MAX_BATCH_TOKENS",
    "OpenVinoEncoder",
    "convert_openvino",
    "openvino_available",
    "openvino_encoder",
    "openvino_supports_bf16",
]

INSTALL_HINT = "pip install 'biobft[openvino]'  (openvino; no torch of its own)"
PERFORMANCE = "THROUGHPUT"  # measured against LATENCY: benchmarks/results/encode_settings.json
# Padded tokens per inference request (rows x longest text), at most. Measured on an AMD EPYC on
# 400 RefSeq and 2,000 name texts (benchmarks/results/encode_settings_epyc*.json): 1,024 beat
# batches of 32 texts by 1.3x on RefSeq texts in fp32 and bf16 (also with oneDNN capped at AVX2)
# and matched them on names; on the Intel Xeon (encode_settings.json) batches of 16 beat 32 too.
# The gain is less padding in small calls of mixed lengths: on the sorted 15,015-text corpus the
# batches of 32 are nearly equal in length and both run at the same speed (make_run.md).
MAX_BATCH_TOKENS = 1024
TOOLS = ("torch", "openvino", "transformers")
_HINTS = {"fp32": "f32", "bf16": "bf16"}


def openvino_available() -> bool:
    """Whether the ``openvino`` extra is installed."""
    return importlib.util.find_spec("openvino") is not None


@functools.lru_cache(maxsize=1)
def _core():
    import openvino as ov

    return ov.Core()


def _plugin_lists_bf16() -> bool:
    return "BF16" in _core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def openvino_supports_bf16() -> bool:
    """Whether bf16 inference is fast here: the CPU has AMX or AVX-512 BF16 instructions
    (:func:`biobft.embed.runtime.cpu_has_fast_bf16`) and OpenVINO's CPU plugin lists ``BF16``."""
    return cpu_has_fast_bf16() and _plugin_lists_bf16()


def convert_openvino(st_model, folder: str | os.PathLike) -> Path:
    """Convert a sentence-transformers pipeline to OpenVINO IR in ``folder``, atomically.

    Parameters
    ----------
    st_model
        A ``SentenceTransformer`` on CPU.
    folder
        Target folder (must not exist yet); receives ``model.xml`` and ``model.bin`` (fp32).

    Returns
    -------
    The path of ``model.xml``. Inputs are the tokenizer's tensors (``input_ids``,
    ``attention_mask``, ``token_type_ids`` where the tokenizer makes them; int64, dynamic batch
    and sequence dimensions); the output is the ``(batch, dim)`` float32 sentence embedding.
    """
    import openvino as ov

    folder = Path(folder)
    # SDPA converts to OpenVINO's fused ScaledDotProductAttention (eager: ~1.5x slower)
    with traceable(st_model, attention="sdpa") as (module, names, sample):
        model = ov.convert_model(
            module,
            example_input=sample,
            input=[(ov.PartialShape([-1, -1]), ov.Type.i64) for _ in names],
        )
    for port, name in zip(model.inputs, names):
        port.get_tensor().set_names({name})
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.", suffix=".tmp"))
    try:
        ov.save_model(model, tmp / "model.xml", compress_to_fp16=False)
        try:
            os.replace(tmp, folder)
        except OSError:  # another process wrote the same key first: keep theirs
            if not (folder / "model.xml").is_file():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return folder / "model.xml"


class OpenVinoEncoder:
    """A compiled OpenVINO model over a converted sentence-transformers pipeline.

    Parameters
    ----------
    path
        ``model.xml`` written by :func:`convert_openvino`.
    precision
        ``"fp32"`` or ``"bf16"`` (OpenVINO's ``INFERENCE_PRECISION_HINT``; bf16 needs
        :func:`openvino_supports_bf16`).
    threads
        Inference threads (default: ``torch.get_num_threads()``, as for the other backends).
    performance
        OpenVINO's ``PERFORMANCE_HINT``: ``"THROUGHPUT"`` (default; :meth:`run_all` keeps
        several batches in flight on parallel CPU streams while the next ones are tokenised) or
        ``"LATENCY"`` (one batch at a time on all threads).

    Attributes
    ----------
    max_batch_tokens
        :data:`MAX_BATCH_TOKENS`: :func:`biobft.embed.encode` cuts its batches to at most this
        many padded tokens for this runner.

    Raises
    ------
    ValueError
        Another precision, or bf16 on a CPU without bf16 instructions.
    """

    max_batch_tokens: int = MAX_BATCH_TOKENS

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        precision: str = "fp32",
        threads: int | None = None,
        performance: str = PERFORMANCE,
    ) -> None:
        if precision not in _HINTS:
            raise ValueError(f"OpenVINO runs precision 'fp32' or 'bf16', not {precision!r}")
        if precision == "bf16" and not openvino_supports_bf16():
            raise ValueError(
                "precision='bf16' needs a CPU with AMX or AVX-512 BF16 instructions (this one "
                "has neither, OpenVINO does not list BF16, or ONEDNN_MAX_CPU_ISA / "
                "DNNL_MAX_CPU_ISA caps oneDNN below AVX512_CORE_BF16): use precision='fp32'"
            )
        if threads is None:
            import torch

            threads = torch.get_num_threads()
        self.path = Path(path)
        self.precision = precision
        self.compiled = _core().compile_model(
            str(path),
            "CPU",
            {
                "INFERENCE_PRECISION_HINT": _HINTS[precision],
                "PERFORMANCE_HINT": performance,
                "INFERENCE_NUM_THREADS": int(threads),
            },
        )
        self._local = threading.local()  # one infer request per thread (they are not shareable)
        self.input_names = [port.get_any_name() for port in self.compiled.inputs]
        self.performance = performance
        self.n_requests = int(self.compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))

    def _feeds(self, encoded: dict[str, Any]) -> dict[str, np.ndarray]:
        return {k: np.asarray(encoded[k], dtype=np.int64) for k in self.input_names}

    def __call__(self, encoded: dict[str, Any]) -> np.ndarray:
        """Run one tokenised batch (``return_tensors="np"``); returns ``(batch, dim)`` float32."""
        feeds = self._feeds(encoded)
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self.compiled.create_infer_request()
        out = request.infer(feeds)[self.compiled.output(0)]
        return np.array(out, dtype=np.float32)  # a copy: the request reuses its buffer

    def run_all(
        self,
        batches: Iterable[tuple[Any, dict[str, Any]]],
        sink: Callable[[Any, np.ndarray], None],
    ) -> None:
        """Run ``(key, tokenised batch)`` pairs, up to :attr:`n_requests` at once.

        ``sink(key, vectors)`` receives each batch's ``(batch, dim)`` float32 output (in
        completion order, from OpenVINO's threads, one call at a time); an error in it is
        raised here after the queue drains.
        """
        import openvino as ov

        if self.n_requests < 2:
            for key, encoded in batches:
                sink(key, self(encoded))
            return
        lock, errors = threading.Lock(), []

        def done(request, key) -> None:
            try:
                with lock:
                    sink(key, np.array(request.get_output_tensor(0).data, dtype=np.float32))
            except Exception as err:  # re-raised below, in the caller's thread
                errors.append(err)

        queue = ov.AsyncInferQueue(self.compiled, self.n_requests)
        queue.set_callback(done)
        for key, encoded in batches:
            queue.start_async(self._feeds(encoded), key)
        queue.wait_all()
        if errors:
            raise errors[0]


@functools.lru_cache(maxsize=4)
def _compiled(path: str, precision: str, threads: int) -> OpenVinoEncoder:
    return OpenVinoEncoder(path, precision=precision, threads=threads)


def openvino_encoder(
    st_model, *, precision: str = "fp32", name: str = "encoder"
) -> OpenVinoEncoder:
    """The cached OpenVINO encoder of a sentence-transformers model (converted on first use).

    Parameters
    ----------
    st_model
        A ``SentenceTransformer`` (its weights are hashed for the cache key).
    precision
        ``"fp32"`` or ``"bf16"`` (see :class:`OpenVinoEncoder`).
    name
        Readable prefix of the cached folder name.

    Raises
    ------
    ImportError
        When the ``openvino`` extra is not installed (the message says how to install it).
    ValueError
        As :class:`OpenVinoEncoder`.
    """
    if not openvino_available():
        raise ImportError(f"backend='openvino' needs openvino: {INSTALL_HINT}")
    import torch

    folder = cache_path(st_model, kind="openvino", name=name, tools=TOOLS)
    xml = folder / "model.xml"
    if not xml.is_file():
        logger.info("converting the encoder to OpenVINO once: %s (about 10 s)", folder)
        xml = convert_openvino(st_model, folder)
    return _compiled(str(xml), precision, torch.get_num_threads())
