from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from biobft.embed import backends, runtime
from biobft.embed import openvino_backend as ovb
from biobft.embed.encoding import _runner, encode, resolve_encoder

pytestmark = pytest.mark.skipif(
    not ovb.openvino_available(),
    reason="the openvino extra is not installed: pip install 'biobft[openvino]'",
)
needs_bf16 = pytest.mark.skipif(
    not (ovb.openvino_available() and ovb.openvino_supports_bf16()),
    reason="this CPU has no AMX / AVX-512 BF16 instructions: OpenVINO bf16 does not apply",
)

TEXTS = ["Gene symbol TP53. A tumor suppressor.", "KLF1", "an erythroid transcription factor"]


def _cos(a, b):
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


@pytest.fixture(scope="module")
def minilm():
    return resolve_encoder("minilm", device="cpu")


@pytest.fixture(scope="module")
def refseq(data_mirror):
    from biobft.text import gene_texts

    corpus = gene_texts(source="refseq")
    rng = np.random.default_rng(1)
    texts = corpus.iloc[np.sort(rng.choice(len(corpus), size=48, replace=False))].tolist()
    return [*texts, "KLF1", "x"]  # very short rows share a batch with long ones only after sorting


@pytest.mark.realdata
@pytest.mark.parametrize("precision", ["fp32", pytest.param("bf16", marks=needs_bf16)])
def test_matches_sentence_transformers_fp32_on_refseq(minilm, refseq, precision):
    ref = minilm.model.encode(refseq, batch_size=7)  # fp32 torch, its own batching
    got = encode(refseq, model=minilm, backend="openvino", precision=precision, batch_size=8)
    assert got.shape == ref.shape and got.dtype == np.float32
    assert _cos(got, ref).min() >= 0.999
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-3)  # the pipeline's
    # order semantics: a permutation of the input permutes the output
    rng = np.random.default_rng(2)
    perm = rng.permutation(len(refseq))
    again = encode(
        [refseq[i] for i in perm], model=minilm, backend="openvino", precision=precision,
        batch_size=3,
    )  # fmt: skip
    assert _cos(again, got[perm]).min() >= 0.99999


def test_bf16_support_needs_the_cpu_flags_and_the_plugin(monkeypatch):
    """Independent reference: the kernel's CPU flags and OpenVINO's own capability list."""
    import openvino as ov

    flags = set(Path("/proc/cpuinfo").read_text().split())
    caps = ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    runtime._cpu_has_fast_bf16.cache_clear()
    want = bool(flags & {"amx_bf16", "avx512_bf16"}) and "BF16" in caps
    assert ovb.openvino_supports_bf16() is want
    monkeypatch.setattr(runtime, "_cpu_has_fast_bf16", lambda: False)
    assert ovb.openvino_supports_bf16() is False  # never assumed from the plugin alone


@needs_bf16
def test_bf16_hint_is_what_runs(minilm):
    """The compiled model executes the precision asked for (not OpenVINO's default)."""
    f32 = _runner("openvino", minilm, "fp32")  # the cached runners encode() uses
    bf16 = _runner("openvino", minilm, "bf16")
    assert str(f32.compiled.get_property("INFERENCE_PRECISION_HINT")) == "<Type: 'float32'>"
    assert str(bf16.compiled.get_property("INFERENCE_PRECISION_HINT")) == "<Type: 'bfloat16'>"
    enc = minilm.tokenizer(TEXTS, padding=True, return_tensors="np")
    a, b = f32(enc), bf16(enc)
    assert np.abs(a - b).max() > 1e-4  # bf16 really ran ...
    assert _cos(a, b).min() >= 0.999  # ... and stays close


def test_truncation_and_normalize(minilm):
    long = "Gene symbol TP53. " + "tumor suppressor protein binding DNA " * 80
    ref = minilm.model.encode([long, "hello"])  # sentence-transformers truncates at 256 tokens
    got = encode([long, "hello"], model=minilm, backend="openvino", precision="fp32",
                 normalize=True)  # fmt: skip
    assert _cos(got, ref).min() >= 0.999
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-6)
    # max_length below the model's limit truncates the same way on both backends
    a = encode([long], model=minilm, backend="openvino", precision="fp32", max_length=16)
    b = encode([long], model=minilm, backend="torch", precision="fp32", max_length=16)
    assert _cos(a, b).min() >= 0.999 and _cos(a, ref[:1]).min() < 0.99


def test_converted_once_cached_by_content_atomically(minilm, tmp_path, monkeypatch):
    monkeypatch.setenv("BIOBFT_CACHE_DIR", str(tmp_path))
    ovb._compiled.cache_clear()
    calls = []
    real = ovb.convert_openvino
    monkeypatch.setattr(ovb, "convert_openvino", lambda *a, **k: calls.append(1) or real(*a, **k))
    first = encode(TEXTS, model=minilm, backend="openvino", precision="fp32")
    again = encode(TEXTS[:2], model=minilm, backend="openvino", precision="fp32", batch_size=1)
    folders = list((tmp_path / "openvino").iterdir())
    assert len(calls) == 1 and len(folders) == 1  # converted once, then reused
    assert not folders[0].name.startswith(".")  # no temporary folder left behind
    assert backends.cached_content_key(minilm.model, tools=ovb.TOOLS) in folders[0].name
    np.testing.assert_allclose(again, first[:2], atol=1e-5)
    # fp32 weights on disk (save_model's default would halve them to fp16)
    n_params = sum(p.numel() for p in minilm.model.parameters())
    assert (folders[0] / "model.bin").stat().st_size >= 4 * n_params * 0.95
    ovb._compiled.cache_clear()


def test_missing_extra_and_unsupported_precision_say_what_to_do(minilm, monkeypatch):
    monkeypatch.setattr(ovb, "openvino_available", lambda: False)
    with pytest.raises(ImportError, match=r"pip install 'biobft\[openvino\]'"):
        ovb.openvino_encoder(minilm.model)
    with pytest.raises(ImportError, match=r"biobft\[openvino\]"):
        encode(TEXTS, model=minilm, backend="openvino", precision="fp32")
    monkeypatch.undo()
    with pytest.raises(ValueError, match="'fp32' or 'bf16', not 'fp16'"):
        ovb.OpenVinoEncoder("unused.xml", precision="fp16")
    monkeypatch.setattr(runtime, "_cpu_has_fast_bf16", lambda: False)
    with pytest.raises(ValueError, match="needs a CPU with AMX or AVX-512 BF16"):
        ovb.OpenVinoEncoder("unused.xml", precision="bf16")


def test_throughput_queue_matches_one_batch_at_a_time(minilm):
    runner = _runner("openvino", minilm, "fp32")  # THROUGHPUT: several requests in flight
    one_at_a_time = ovb.OpenVinoEncoder(runner.path, precision="fp32", performance="LATENCY")
    batches = [
        (i, minilm.tokenizer([t] * (i + 1), return_tensors="np")) for i, t in enumerate(TEXTS)
    ]
    got: dict[int, np.ndarray] = {}
    runner.run_all(iter(batches), got.__setitem__)
    assert sorted(got) == [0, 1, 2]
    for key, enc in batches:
        assert got[key].shape == (key + 1, 384)
        np.testing.assert_allclose(got[key], one_at_a_time(enc), atol=1e-5)

    def broken_sink(key, vectors):
        raise RuntimeError(f"sink failed on batch {key}")

    with pytest.raises(RuntimeError, match="sink failed on batch"):
        runner.run_all(iter(batches), broken_sink)


@pytest.mark.realdata
def test_batches_respect_the_token_budget_and_keep_the_vectors(minilm, refseq, monkeypatch):
    """Every OpenVINO request holds at most MAX_BATCH_TOKENS padded tokens (a longer text runs
    alone), every text is run once, and the vectors equal batches of batch_size texts."""
    runner = _runner("openvino", minilm, "fp32")
    shapes: list[tuple[int, int]] = []
    real_run_all = type(runner).run_all

    def spy(self, batches, sink):
        def seen():
            for key, enc in batches:
                shapes.append(enc["input_ids"].shape)
                yield key, enc

        real_run_all(self, seen(), sink)

    monkeypatch.setattr(type(runner), "run_all", spy)
    got = encode(refseq, model=minilm, backend="openvino", precision="fp32", batch_size=32)
    assert sum(rows for rows, _ in shapes) == len(refseq)
    assert all(rows * cols <= ovb.MAX_BATCH_TOKENS or rows == 1 for rows, cols in shapes)
    assert max(rows for rows, _ in shapes) <= 32
    assert len(shapes) > -(-len(refseq) // 32)  # the long texts were cut into smaller batches
    monkeypatch.setattr(type(runner), "max_batch_tokens", None)  # plain batches of 32
    shapes.clear()
    plain = encode(refseq, model=minilm, backend="openvino", precision="fp32", batch_size=32)
    assert len(shapes) == -(-len(refseq) // 32)
    np.testing.assert_allclose(got, plain, atol=1e-5)
