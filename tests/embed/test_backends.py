from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from biobft.embed import backends
from biobft.embed.encoding import encode, resolve_encoder

pytestmark = pytest.mark.skipif(
    not backends.onnx_available(),
    reason="the onnx extra is not installed: pip install 'biobft[onnx]'",
)

TEXTS = ["Gene symbol TP53. A tumor suppressor.", "KLF1", "an erythroid transcription factor"]


@pytest.fixture(scope="module")
def minilm():
    return resolve_encoder("minilm", device="cpu")


def test_content_key_changes_with_weights_and_modules(minilm):
    key = backends.content_key(minilm.model)
    assert key == backends.content_key(minilm.model) and len(key) == 24
    other = copy.deepcopy(minilm.model)
    with torch.no_grad():
        next(other.parameters())[0, 0] += 1e-3
    assert backends.content_key(other) != key
    no_norm = copy.deepcopy(minilm.model)
    del no_norm[2]  # drop the Normalize module: another pipeline, another export
    assert backends.content_key(no_norm) != key


def test_onnx_export_is_cached_by_content(minilm, tmp_path, monkeypatch):
    monkeypatch.setenv("BIOBFT_CACHE_DIR", str(tmp_path))
    calls = []
    real = backends.export_onnx
    monkeypatch.setattr(backends, "export_onnx", lambda *a, **k: calls.append(1) or real(*a, **k))
    first = encode(TEXTS, model=minilm, backend="onnx")
    again = encode(TEXTS[:2], model=minilm, backend="onnx")
    files = list((tmp_path / "onnx").glob("*.onnx"))
    assert len(calls) == 1 and len(files) == 1  # exported once, then reused
    assert backends.content_key(minilm.model) in files[0].name
    assert not [p for p in (tmp_path / "onnx").iterdir() if p.name.startswith(".")]  # no temp
    np.testing.assert_allclose(again, first[:2], atol=1e-5)
    # the fused graph: one Attention op per transformer layer
    import onnx

    ops = [n.op_type for n in onnx.load(str(files[0])).graph.node]
    n_layers = minilm.model[0].auto_model.config.num_hidden_layers
    assert ops.count("Attention") == n_layers
    # the runner alone gives the pipeline's (normalised) sentence embedding
    runner = backends.OnnxEncoder(files[0], threads=1)
    enc = minilm.tokenizer(TEXTS, padding=True, return_tensors="np")
    ref = minilm.model.encode(TEXTS)
    np.testing.assert_allclose(runner(enc), ref, atol=1e-4)


def test_onnx_encoder_without_extra_says_how_to_install(minilm, monkeypatch):
    monkeypatch.setattr(backends, "onnx_available", lambda: False)
    with pytest.raises(ImportError, match=r"biobft\[onnx\]"):
        backends.onnx_encoder(minilm.model)
