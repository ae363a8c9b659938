"""Which numeric precision and which inference runtime an :func:`biobft.embed.encode` call uses.

- :func:`resolve_precision`: ``"auto"`` -> ``"bf16"`` where the device runs it fast (a CPU with
  AMX or AVX-512 BF16, detected from torch's CPU capability and ``/proc/cpuinfo``, never
  assumed, and not hidden by a oneDNN ISA cap; a CUDA GPU with bf16), else ``"fp32"``
  (``"fp16"`` on older GPUs).
- :func:`resolve_device`: the check of a ``device=`` argument (unknown names, CUDA / MPS
  that this torch cannot use, a GPU for the CPU-only backends), before any model loads.
- :func:`resolve_backend`: ``"auto"`` -> ``"openvino"`` (:mod:`biobft.embed.openvino_backend`),
  else ``"onnx"`` (:mod:`biobft.embed.backends`), else ``"torch"``, by what is installed, the
  model, the device and the precision.
- :func:`resolve_run`: the backend that runs a call and the precision it runs at, the pair that
  produced a vector (recorded in embedding tables and in their cache key).

Re-exported by :mod:`biobft.embed.encoding` (the public import path).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

from .encoders import ST_POOLING

__all__ = [
    "BACKENDS",
    "PRECISIONS",
    "check_backend",
    "cpu_has_fast_bf16",
    "resolve_backend",
    "resolve_device",
    "resolve_precision",
    "resolve_run",
]

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
BACKENDS = ("auto", "torch", "onnx", "openvino")


# oneDNN ISA caps (``ONEDNN_MAX_CPU_ISA`` / ``DNNL_MAX_CPU_ISA``) below AVX512_CORE_BF16: under one
# oneDNN, hence torch and OpenVINO's CPU plugin, has no bf16 kernels whatever the CPU's flags
# (OpenVINO then fails to compile a bf16 graph). Source: oneDNN's "CPU Dispatcher Control" guide.
_NO_BF16_ISA_CAPS = frozenset(
    {"SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_MIC", "AVX512_MIC_4OPS",
     "AVX512_CORE", "AVX512_CORE_VNNI"}
)  # fmt: skip


def onednn_isa_cap() -> str | None:
    """The oneDNN ISA cap set in the environment (upper case), or ``None``."""
    for var in ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"):
        value = os.environ.get(var, "").strip()
        if value:
            return value.upper()
    return None


@functools.lru_cache(maxsize=1)
def _cpu_has_fast_bf16() -> bool:
    import torch

    if onednn_isa_cap() in _NO_BF16_ISA_CAPS:
        return False
    cap = str(torch.backends.cpu.get_cpu_capability()).upper()
    if "AMX" in cap:
        return True
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:  # pragma: no cover - not Linux
        return False
    return " amx_bf16" in flags or " avx512_bf16" in flags


def cpu_has_fast_bf16() -> bool:
    """Whether this CPU runs bf16 matrix products fast: it has AMX or AVX-512 BF16 instructions
    and no ``ONEDNN_MAX_CPU_ISA`` / ``DNNL_MAX_CPU_ISA`` below ``AVX512_CORE_BF16`` hides them
    from oneDNN (torch's and OpenVINO's CPU kernels); detected once per process."""
    return _cpu_has_fast_bf16()


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
        return "bf16" if cpu_has_fast_bf16() else "fp32"
    return "fp32"


def resolve_device(device: Any, *, backend: str = "torch") -> str | None:
    """:func:`biobft.models.devices.check_device` (the one device check; its parameters, return
    value and errors) plus the CPU-only backends: ``backend="onnx"`` or ``"openvino"`` with a
    non-CPU device raises :class:`ValueError`.
    """
    from ..models.devices import check_device, parse_device

    dev = parse_device(device)
    if dev is not None and backend in ("onnx", "openvino") and dev.type != "cpu":
        raise ValueError(
            f"backend={backend!r} does not fit: backend {backend} runs on CPU; use "
            f"backend='torch' for device={str(device)!r}, or device='cpu'"
        )
    return check_device(device)


def _misfits(backend: str, handle: Any, pooling: str | None, prec: str) -> list[str]:
    """Why ``backend`` ("onnx" / "openvino") cannot run this call; empty when it can."""
    fits = []
    if handle.kind != "st":
        kind = "a causal LM" if handle.causal else f"a {handle.kind!r} model"
        fits.append(
            f"it runs only a sentence-transformers model's own pipeline, and this is {kind} "
            "(backend='torch' embeds it)"
        )
    elif pooling not in (None, ST_POOLING):
        fits.append(f"it runs the model's own pooling (pooling=None), not pooling={pooling!r}")
    if handle.device.type != "cpu":
        fits.append(f"it runs on CPU, the model is on {handle.device}")
    if backend == "onnx" and prec != "fp32":
        fits.append(
            f"it runs fp32 (precision='auto' or 'fp32'), not {prec!r} (backend='openvino' runs "
            "bf16 on CPUs with AMX or AVX-512 BF16)"
        )
    if backend == "openvino" and prec not in ("fp32", "bf16"):
        fits.append(f"it runs fp32 or bf16, not {prec!r}")
    if backend == "openvino" and prec == "bf16" and not _openvino_bf16():
        fits.append(
            "bf16 needs a CPU with AMX or AVX-512 BF16 (this one has neither, or a oneDNN ISA "
            "cap, ONEDNN_MAX_CPU_ISA / DNNL_MAX_CPU_ISA, hides them): use fp32"
        )
    return fits


def _openvino_bf16() -> bool:
    """bf16 instructions here, and (where openvino is installed) its CPU plugin runs BF16."""
    from . import openvino_backend

    if not cpu_has_fast_bf16():
        return False
    return not openvino_backend.openvino_available() or openvino_backend.openvino_supports_bf16()


def check_backend(backend: Any) -> str:
    """Return ``backend`` if it is a name in :data:`BACKENDS`, else raise (before any load).

    Raises
    ------
    ValueError
        Any other value (the message lists the names).
    """
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {list(BACKENDS)}")
    return backend


def resolve_backend(
    backend: str, handle: Any, *, pooling: str | None = None, precision: str = "auto"
) -> str:
    """Turn ``"auto"`` into ``"openvino"``, ``"onnx"`` or ``"torch"``; check an explicit choice.

    ``"auto"`` picks, for a sentence-transformers pipeline used with its own pooling on CPU:

    1. ``"openvino"`` when the ``openvino`` extra is installed and the precision resolves to
       fp32, or to bf16 on a CPU with AMX / AVX-512 BF16 (measured on a 2-core Xeon with AMX,
       400 RefSeq texts, against ``SentenceTransformer.encode`` fp32 in the same run: OpenVINO
       bf16 5.1x, OpenVINO fp32 1.8x (2.0x with torch and oneDNN limited to AVX2), ONNX Runtime
       fp32 1.3x, torch bf16 autocast 1.4x; ``benchmarks/results/encode.json``);
    2. else ``"onnx"`` when the ``onnx`` extra is installed and the precision resolves to fp32;
    3. else ``"torch"``, which also runs everything else (hidden-state pooling, GPUs, fp16).

    Parameters
    ----------
    backend
        A name in :data:`BACKENDS`.
    handle
        The :class:`~biobft.embed.encoding.EncoderHandle` of the model.
    pooling, precision
        As passed to :func:`~biobft.embed.encoding.encode` (precision before resolution).

    Raises
    ------
    ValueError
        An unknown name, or ``"onnx"`` / ``"openvino"`` for a model or setting it does not run
        (hidden-state pooling of other models, a GPU, fp16; bf16 for onnx; bf16 for openvino on
        a CPU without bf16 instructions).
    ImportError
        ``"onnx"`` / ``"openvino"`` without its extra installed (the message says how).
    """
    from . import backends, openvino_backend

    check_backend(backend)
    if backend == "torch":
        return "torch"
    prec = resolve_precision(precision, handle.device.type)
    available = {
        "onnx": (backends.onnx_available, backends.INSTALL_HINT),
        "openvino": (openvino_backend.openvino_available, openvino_backend.INSTALL_HINT),
    }
    if backend == "auto":
        for name in ("openvino", "onnx"):
            if not _misfits(name, handle, pooling, prec) and available[name][0]():
                return name
        return "torch"
    # an explicit "onnx" runs fp32 whatever precision="auto" would pick for torch
    explicit = "fp32" if backend == "onnx" and precision == "auto" else prec
    misfits = _misfits(backend, handle, pooling, explicit)
    if misfits:
        raise ValueError(
            f"backend={backend!r} does not fit: {'; '.join(misfits)}; use backend='torch'"
        )
    is_installed, hint = available[backend]
    if not is_installed():
        raise ImportError(f"backend={backend!r} needs the {backend} extra: {hint}")
    return backend


def resolve_run(
    backend: str, handle: Any, *, pooling: str | None = None, precision: str = "auto"
) -> tuple[str, str]:
    """The backend that runs an :func:`~biobft.embed.encoding.encode` call and its precision.

    The backend is :func:`resolve_backend`'s; the precision is the one that backend runs:
    ``"fp32"`` for ONNX Runtime (whatever ``"auto"`` picks for torch), else
    :func:`resolve_precision` on the model's device. Together they say what produced a vector,
    so :func:`biobft.embed.embed_genes` keys its cache and records its table by them: torch-bf16
    vectors are never served to an OpenVINO-bf16 or an fp32 request, nor the reverse.

    Parameters
    ----------
    backend, handle, pooling, precision
        As for :func:`resolve_backend` (precision before resolution).

    Returns
    -------
    (backend, precision)
        E.g. ``("openvino", "bf16")``, ``("onnx", "fp32")``, ``("torch", "fp32")``.

    Raises
    ------
    ValueError, ImportError
        As :func:`resolve_backend` and :func:`resolve_precision`.
    """
    which = resolve_backend(backend, handle, pooling=pooling, precision=precision)
    if which == "onnx":
        return which, "fp32"
    return which, resolve_precision(precision, handle.device.type)
