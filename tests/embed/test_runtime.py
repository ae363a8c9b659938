from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from biobft.embed import backends, encoding, openvino_backend, runtime
from biobft.embed.encoding import encode, resolve_backend, resolve_encoder, resolve_precision


@pytest.fixture(scope="module")
def minilm():
    return resolve_encoder("minilm", device="cpu")


def _cpu(monkeypatch, *, bf16: bool) -> None:
    """Mock the CPU feature detection (AMX / AVX-512 BF16 present or not)."""
    monkeypatch.setattr(runtime, "_cpu_has_fast_bf16", lambda: bf16)
    monkeypatch.setattr(openvino_backend, "_plugin_lists_bf16", lambda: bf16)


def _installed(monkeypatch, *, onnx: bool, openvino: bool) -> None:
    monkeypatch.setattr(backends, "onnx_available", lambda: onnx)
    monkeypatch.setattr(openvino_backend, "openvino_available", lambda: openvino)


def test_public_import_path_is_kept():
    assert encoding.resolve_precision is runtime.resolve_precision
    assert encoding.resolve_backend is runtime.resolve_backend
    assert encoding.PRECISIONS == runtime.PRECISIONS
    assert backends.BACKENDS == runtime.BACKENDS


def test_resolve_precision(monkeypatch):
    _cpu(monkeypatch, bf16=True)
    assert resolve_precision("auto", "cpu") == "bf16"
    _cpu(monkeypatch, bf16=False)
    assert resolve_precision("auto", "cpu") == "fp32"
    assert resolve_precision("fp16", "cpu") == "fp16"
    with pytest.raises(ValueError, match=r"unknown precision 'int3'"):
        resolve_precision("int3", "cpu")


def _this_cpu_has_bf16() -> bool:
    """Independent reference: the kernel's own CPU flags."""
    flags = Path("/proc/cpuinfo").read_text().split()
    return "amx_bf16" in flags or "avx512_bf16" in flags


def test_cpu_feature_detection_reads_this_cpu(monkeypatch):
    for var in ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"):
        monkeypatch.delenv(var, raising=False)
    runtime._cpu_has_fast_bf16.cache_clear()
    try:
        assert runtime.cpu_has_fast_bf16() is _this_cpu_has_bf16()
    finally:
        runtime._cpu_has_fast_bf16.cache_clear()


@pytest.mark.parametrize(
    ("var", "cap", "hides_bf16"),
    [
        ("ONEDNN_MAX_CPU_ISA", "AVX2", True),
        ("ONEDNN_MAX_CPU_ISA", "avx512_core_vnni", True),  # oneDNN reads it in any case
        ("DNNL_MAX_CPU_ISA", "AVX512_CORE", True),  # the older name
        ("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_BF16", False),
        ("ONEDNN_MAX_CPU_ISA", "ALL", False),
        ("ONEDNN_MAX_CPU_ISA", "", False),
    ],
)
def test_a_onednn_isa_cap_below_bf16_hides_it(monkeypatch, var, cap, hides_bf16):
    """torch's and OpenVINO's oneDNN have no bf16 kernels under such a cap, whatever the flags."""
    for name in ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(var, cap)
    runtime._cpu_has_fast_bf16.cache_clear()
    try:
        assert runtime.cpu_has_fast_bf16() is (_this_cpu_has_bf16() and not hides_bf16)
        want = "bf16" if _this_cpu_has_bf16() and not hides_bf16 else "fp32"
        assert resolve_precision("auto", "cpu") == want
    finally:
        runtime._cpu_has_fast_bf16.cache_clear()


@pytest.mark.skipif(not openvino_backend.openvino_available(), reason="needs biobft[openvino]")
def test_auto_encodes_under_an_avx2_isa_cap(tmp_path):
    """A real process with ONEDNN_MAX_CPU_ISA=AVX2: precision 'auto' must not pick bf16 (on a CPU
    with bf16 flags OpenVINO then failed to compile the graph: 'Supported primitive descriptors
    list is empty for node: Softmax'). The vectors equal sentence-transformers' fp32 ones."""
    code = (
        "import numpy as np; from biobft.embed.encoding import encode, resolve_encoder, "
        "resolve_run;"
        "h = resolve_encoder('minilm', device='cpu');"
        "texts = ['TP53 is a tumour suppressor.', 'BRCA1 repairs DNA double-strand breaks.'];"
        "v = encode(texts, model=h);"
        "ref = h.model.encode(texts, normalize_embeddings=True);"
        "print(*resolve_run('auto', h), float((v * ref).sum(1).min()))"
    )
    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2", "BIOBFT_CACHE_DIR": str(tmp_path)}
    env.pop("DNNL_MAX_CPU_ISA", None)
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    backend, precision, cosine = out.stdout.split("\n")[-2].split()
    assert (backend, precision) == ("openvino", "fp32")
    assert float(cosine) > 0.9999


@pytest.mark.parametrize("bf16", [True, False], ids=["cpu-with-bf16", "cpu-without-bf16"])
def test_auto_picks_openvino_when_installed_at_the_cpus_precision(minilm, monkeypatch, bf16):
    _cpu(monkeypatch, bf16=bf16)
    _installed(monkeypatch, onnx=True, openvino=True)
    assert resolve_precision("auto", "cpu") == ("bf16" if bf16 else "fp32")
    assert resolve_backend("auto", minilm) == "openvino"
    assert resolve_backend("auto", minilm, precision="fp32") == "openvino"
    # explicit bf16: OpenVINO only where the CPU has the instructions, else torch autocast
    assert resolve_backend("auto", minilm, precision="bf16") == ("openvino" if bf16 else "torch")
    assert resolve_backend("auto", minilm, precision="fp16") == "torch"
    if not bf16:
        with pytest.raises(ValueError, match=r"bf16 needs a CPU with AMX or AVX-512 BF16"):
            resolve_backend("openvino", minilm, precision="bf16")


@pytest.mark.parametrize("bf16", [True, False], ids=["cpu-with-bf16", "cpu-without-bf16"])
def test_auto_without_openvino_falls_back_to_onnx_then_torch(minilm, monkeypatch, bf16):
    _cpu(monkeypatch, bf16=bf16)
    _installed(monkeypatch, onnx=True, openvino=False)
    # ONNX Runtime runs fp32 only: with bf16 fast, precision="auto" stays on torch bf16
    assert resolve_backend("auto", minilm) == ("torch" if bf16 else "onnx")
    assert resolve_backend("auto", minilm, precision="fp32") == "onnx"
    with pytest.raises(ImportError, match=r"pip install 'biobft\[openvino\]'"):
        resolve_backend("openvino", minilm, precision="fp32")
    _installed(monkeypatch, onnx=False, openvino=False)
    assert resolve_backend("auto", minilm) == "torch"
    assert resolve_backend("auto", minilm, precision="fp32") == "torch"
    with pytest.raises(ImportError, match=r"biobft\[onnx\]"):
        resolve_backend("onnx", minilm, precision="fp32")


def test_explicit_backends_refuse_what_they_do_not_run(minilm, tiny_lm, monkeypatch):
    _installed(monkeypatch, onnx=True, openvino=True)
    lm = resolve_encoder(tiny_lm)
    assert resolve_backend("torch", minilm) == "torch"
    assert resolve_backend("auto", lm) == "torch"  # hidden-state pooling of a causal LM
    assert resolve_backend("auto", minilm, pooling="mean") == "torch"
    assert resolve_backend("onnx", minilm) == "onnx"  # explicit onnx: fp32 whatever "auto" is
    for name in ("onnx", "openvino"):
        # the reason given is the real one: a causal LM, or a pooling other than the model's own
        with pytest.raises(ValueError, match=r"this is a causal LM \(backend='torch' embeds it"):
            resolve_backend(name, lm)
        with pytest.raises(ValueError, match=r"own pooling \(pooling=None\), not pooling='mean'"):
            resolve_backend(name, minilm, pooling="mean")
        with pytest.raises(ValueError, match="fp16"):
            resolve_backend(name, minilm, precision="fp16")
    with pytest.raises(ValueError, match="bf16"):
        resolve_backend("onnx", minilm, precision="bf16")
    with pytest.raises(ValueError, match="unknown backend"):
        encode(["a"], model=minilm, backend="tensorrt")


@pytest.mark.parametrize(
    ("bf16", "onnx", "openvino", "backend", "precision", "expected"),
    [
        # explicit onnx runs fp32 even where "auto" picks bf16 for torch: recorded as fp32
        (True, True, True, "onnx", "auto", ("onnx", "fp32")),
        (True, True, False, "auto", "auto", ("torch", "bf16")),  # onnx does not run bf16
        (True, True, True, "auto", "auto", ("openvino", "bf16")),
        (False, True, True, "auto", "auto", ("openvino", "fp32")),
        (False, True, False, "auto", "auto", ("onnx", "fp32")),
        (True, False, False, "auto", "fp32", ("torch", "fp32")),
        (True, True, True, "torch", "fp16", ("torch", "fp16")),
        (True, True, True, "openvino", "fp32", ("openvino", "fp32")),
    ],
)  # fmt: skip
def test_resolve_run_names_what_produces_the_vectors(
    minilm, monkeypatch, bf16, onnx, openvino, backend, precision, expected
):
    _cpu(monkeypatch, bf16=bf16)
    _installed(monkeypatch, onnx=onnx, openvino=openvino)
    assert runtime.resolve_run(backend, minilm, precision=precision) == expected
    assert encoding.resolve_run is runtime.resolve_run


@pytest.mark.parametrize("bad", ["gpu", "", None, 1, "Torch"])
def test_unknown_backend_is_refused_before_any_model_loads(monkeypatch, bad):
    from biobft.embed import encoders

    monkeypatch.setattr(encoders, "_load_by_name", lambda *a: pytest.fail("loaded"))
    msg = f"unknown backend {bad!r}; choose one of ['auto', 'torch', 'onnx', 'openvino']"
    with pytest.raises(ValueError, match="^" + re.escape(msg) + "$"):
        encode(["TP53"], model="minilm", backend=bad)
    with pytest.raises(ValueError, match="^" + re.escape(msg) + "$"):
        runtime.check_backend(bad)


# --------------------------------------------------------------------------- resolve_device
def _cuda(monkeypatch, *, available: bool, count: int = 0, build: str | None = None) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: available)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
    monkeypatch.setattr(torch.version, "cuda", build)


def test_resolve_device_accepts_what_runs(monkeypatch):
    import torch

    assert runtime.resolve_device(None) is None
    assert runtime.resolve_device("cpu") == runtime.resolve_device(torch.device("cpu")) == "cpu"
    assert runtime.resolve_device(" cpu ", backend="onnx") == "cpu"
    _cuda(monkeypatch, available=True, count=2, build="12.8")
    assert runtime.resolve_device("cuda") == "cuda"
    assert runtime.resolve_device("cuda:1", backend="auto") == "cuda:1"
    assert encoding.resolve_device is runtime.resolve_device


@pytest.mark.parametrize(
    ("device", "backend", "cuda", "match"),
    [
        # the trial's case: a CPU-only torch said only "AssertionError: Torch not compiled ..."
        ("cuda", "torch", (False, 0, None), r"device='cuda' cannot be used: this torch build has "
         r"no CUDA support.*pass device='cpu' or None"),
        ("cuda:0", "auto", (False, 0, "12.8"), r"no CUDA GPU is visible"),
        ("cuda:2", "torch", (True, 2, "12.8"), r"device='cuda:2' does not exist: 2 CUDA device"),
        ("gpu", "torch", (False, 0, None), r"unknown device 'gpu'; use 'cpu', 'cuda'"),
        ("cuda:x", "torch", (False, 0, None), r"unknown device 'cuda:x'"),
        ("meta", "torch", (False, 0, None), r"device='meta' is not supported"),
        (3, "torch", (False, 0, None), r"device must be a name such as 'cpu'"),
        # CPU-only backends: "does not fit", whatever this machine has
        ("cuda", "onnx", (True, 1, "12.8"), r"backend='onnx' does not fit: backend onnx runs on "
         r"CPU; use backend='torch' for device='cuda'"),
        ("cuda", "openvino", (False, 0, None), r"backend='openvino' does not fit: backend "
         r"openvino runs on CPU; use backend='torch' for device='cuda'"),
    ],
)  # fmt: skip
def test_resolve_device_one_clear_error(monkeypatch, device, backend, cuda, match):
    _cuda(monkeypatch, available=cuda[0], count=cuda[1], build=cuda[2])
    with pytest.raises(ValueError, match=match):
        runtime.resolve_device(device, backend=backend)


def test_mps_unavailable_is_named(monkeypatch):
    import torch

    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(ValueError, match=r"device='mps' cannot be used: MPS"):
        runtime.resolve_device("mps")


@pytest.mark.parametrize("backend", ["auto", "torch", "onnx", "openvino"])
def test_encode_checks_the_device_before_loading_any_model(monkeypatch, backend):
    """Every backend refused device='cuda' on a CPU-only torch with a bare AssertionError from
    deep inside model loading; now one ValueError comes before any model loads."""
    _cuda(monkeypatch, available=False, build=None)
    loads = []
    from biobft.embed import encoders

    monkeypatch.setattr(encoders, "_load_by_name", lambda *a: loads.append(a))
    match = "does not fit" if backend in ("onnx", "openvino") else "cannot be used"
    with pytest.raises(ValueError, match=match):
        encode(["TP53"], model="minilm", device="cuda", backend=backend)
    with pytest.raises(ValueError, match="cannot be used"):  # every loader of a named model
        resolve_encoder("minilm", device="cuda")
    assert loads == []
