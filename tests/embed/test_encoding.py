from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from biobft.embed import encoding as encode_mod
from biobft.embed.encoding import encode, resolve_encoder, resolve_precision

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
    got = encode(TEXTS, model=minilm, precision="fp32", batch_size=2, backend="torch")
    assert got.dtype == np.float32 and got.shape == (4, 384)
    assert _cos(got, ref).min() > 0.9999


def test_bf16_close_to_fp32_and_normalize(minilm):
    fp32 = encode(TEXTS, model=minilm, precision="fp32", backend="torch")
    bf16 = encode(TEXTS, model=minilm, precision="bf16", normalize=True, backend="torch")
    assert _cos(bf16, fp32).min() >= 0.999
    np.testing.assert_allclose(np.linalg.norm(bf16, axis=1), 1.0, atol=1e-5)


def test_explicit_pooling_on_encoder_matches_default_pipeline(minilm):
    # all-MiniLM-L6-v2 = mean pooling + normalise: pooling="mean" + normalize gives the same
    ref = encode(TEXTS, model=minilm, precision="fp32", backend="torch")
    got = encode(TEXTS, model=minilm, precision="fp32", pooling="mean", normalize=True)
    np.testing.assert_allclose(got, ref, atol=1e-5)
    cls = encode(TEXTS, model=minilm, precision="fp32", pooling="cls")
    assert _cos(cls, ref).max() < 0.999  # really a different pooling


def test_order_restored_independent_of_batching(minilm):
    one = encode(TEXTS, model=minilm, precision="fp32", batch_size=1, backend="torch")
    rev = encode(TEXTS[::-1], model=minilm, precision="fp32", batch_size=3, backend="torch")
    np.testing.assert_allclose(one, rev[::-1], atol=1e-5)


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


@pytest.mark.parametrize(
    ("texts", "match"),
    [
        (["a gene", "", "b"], r"1 text\(s\) empty or whitespace-only at position\(s\) \[1\]"),
        (["a", " \t\n", "  "], r"2 text\(s\) empty or whitespace-only at position\(s\) \[1, 2\]"),
        (["a", "b\x00c"], r"1 text\(s\) with control characters at position\(s\) \[1\]"),
        # the advice names what str.strip() cannot remove
        (["a", "\u200b"], r"zero tokens at position\(s\) \[1\].*zero-width spaces are not "),
    ],
)
def test_degenerate_texts_named_on_every_path(minilm, tiny_lm, texts, match):
    """Issue 12: the sentence-transformers and causal-LM paths refuse the same texts alike."""
    with pytest.raises(ValueError, match=match):
        encode(texts, model=minilm)
    if "zero tokens" not in match:  # the tiny word-level LM maps any word to <unk>
        with pytest.raises(ValueError, match=match):
            encode(texts, model=tiny_lm, pooling="mean")


def test_encoder_options_checked_before_loading(minilm, tiny_lm, monkeypatch):
    """Issue 12 case 13: max_length / layer errors say what is allowed; no model is loaded."""
    calls = []
    monkeypatch.setattr(encode_mod, "resolve_encoder", lambda *a, **k: calls.append(1))
    for bad in (-5, 0, 2.5, True):
        with pytest.raises(ValueError, match=r"max_length must be a positive integer"):
            encode(["a"], model="minilm", max_length=bad)
    with pytest.raises(ValueError, match="layer must be an integer"):
        encode(["a"], model="minilm", layer="last")
    assert calls == []
    monkeypatch.undo()
    n = tiny_lm[0].config.num_hidden_layers
    with pytest.raises(ValueError, match=rf"layer=99 does not exist: the model has {n} hidden"):
        encode(["a"], model=tiny_lm, layer=99, pooling="mean")
    with pytest.raises(ValueError, match=r"layer=-4 does not exist"):
        encode(["a"], model=tiny_lm, layer=-(n + 2), pooling="mean")
    assert encode(["a"], model=tiny_lm, layer=-(n + 1), pooling="mean").shape[0] == 1


def test_long_texts_truncation_is_logged(minilm, caplog):
    import logging

    with caplog.at_level(logging.INFO, logger="biobft.embed.encoding"):
        encode(["gene " * 50, "short"], model=minilm, max_length=8)
    assert "1 of 2 text(s) reach max_length=8 tokens (truncated)" in caplog.text


def test_degenerate_texts_masked_lm_path(tiny_lm):
    """The masked-LM ("hf") path refuses the same degenerate texts as the other paths."""
    from transformers import BertConfig, BertModel

    _, tok = tiny_lm
    cfg = BertConfig(vocab_size=len(tok), hidden_size=16, num_hidden_layers=1,
                     num_attention_heads=2, intermediate_size=32)  # fmt: skip
    torch.manual_seed(0)
    bert = BertModel(cfg).eval()
    assert encode(["gene", "protein"], model=(bert, tok)).shape == (2, 16)
    with pytest.raises(ValueError, match=r"empty or whitespace-only at position\(s\) \[1\]"):
        encode(["gene", " "], model=(bert, tok))
    with pytest.raises(ValueError, match=r"control characters at position\(s\) \[0\]"):
        encode(["ge\x1bne"], model=(bert, tok))
    with pytest.raises(ValueError, match="layer=5 does not exist: the model has 1 hidden"):
        encode(["gene"], model=(bert, tok), layer=5)


@pytest.mark.gpu
def test_cuda_auto_precision_and_fp32_encode_match_cpu(minilm):
    want = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    assert resolve_precision("auto", "cuda") == resolve_precision("auto", "cuda:0") == want
    cpu = encode(TEXTS, model="minilm", precision="fp32", device="cpu", backend="torch")
    gpu = encode(TEXTS, model="minilm", precision="fp32", device="cuda")
    np.testing.assert_allclose(gpu, cpu, atol=1e-4)
    half = encode(TEXTS, model="minilm", precision="auto", device="cuda")
    assert (_cos(half, cpu) > 0.99).all()


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


def test_release_encoders_drops_the_cached_models_and_encode_reloads(minilm):
    from biobft.embed import encoders
    from biobft.embed.encoding import release_encoders

    texts = ["Gene symbol TP53. tumor suppressor", "Gene symbol KLF1. erythroid"]
    first = encode(texts, model="minilm", precision="fp32", backend="torch")
    assert encoders._load_by_name.cache_info().currsize >= 1
    release_encoders()
    assert encoders._load_by_name.cache_info().currsize == 0
    again = encode(texts, model="minilm", precision="fp32", backend="torch")
    np.testing.assert_allclose(again, first, rtol=1e-6, atol=1e-7)


def test_layer_the_st_pipeline_would_ignore_is_refused(minilm, monkeypatch):
    """Trial bug 4: layer=3 with the sentence-transformers pipeline returned the last layer
    without a word. Now it is an error naming pooling='mean'; the last layer stays accepted."""
    n = minilm.model[0].auto_model.config.num_hidden_layers
    for layer in (3, 0, -2):
        match = rf"layer={layer} does not apply: .*pass pooling='mean'.* to pool layer {layer}"
        with pytest.raises(ValueError, match=match):
            encode(["TP53"], model=minilm, layer=layer)
    last = encode(["TP53 tumour suppressor"], model=minilm, precision="fp32")
    same = encode(["TP53 tumour suppressor"], model=minilm, precision="fp32", layer=n)
    np.testing.assert_array_equal(last, same)  # layer n is the last layer: it applies
    # with pooling='mean' layer 3 is used: the mean of hidden state 3 over the tokens
    net = minilm.model[0].auto_model
    enc = minilm.tokenizer(["TP53 tumour suppressor"], return_tensors="pt")
    with torch.inference_mode():
        hidden = net(**enc, output_hidden_states=True).hidden_states[3][0]
    got = encode(["TP53 tumour suppressor"], model=minilm, precision="fp32", layer=3,
                 pooling="mean")  # fmt: skip
    np.testing.assert_allclose(got[0], hidden.mean(0).numpy(), rtol=1e-5, atol=1e-6)


def test_control_character_message_names_text_character_and_fix(minilm):
    """Trial bug 5: a text with a control character was said to have 'no content to embed'."""
    with pytest.raises(ValueError) as err:
        encode(["fine", "a\x00b", "c\x1bd"], model=minilm)
    msg = str(err.value)
    assert "2 text(s) with control characters at position(s) [1, 2]" in msg
    assert "'\\x00' (U+0000), '\\x1b' (U+001B)" in msg
    assert "the first in the text at position 1, character 1" in msg
    assert "re.sub(" in msg and "no content" not in msg
    import re

    fixed = [re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", " ", t) for t in ["a\x00b", "c\x1bd"]]
    assert encode(fixed, model=minilm).shape[0] == 2  # the advised fix works
    match = r"whitespace-only at position\(s\) \[1\]: such a text has no content.*; and 1 text"
    with pytest.raises(ValueError, match=match):
        encode(["a", " ", "b\x07"], model=minilm)


# ---------------------------------------------------------------------- issue 15 (mutation run)
@pytest.mark.parametrize(
    ("module", "cached"),
    [("encoders", "_load_by_name"), ("backends", "_session"), ("openvino_backend", "_compiled")],
)
def test_release_encoders_clears_every_cached_session(module, cached, monkeypatch):
    """Each of the three caches (models, ONNX Runtime sessions, OpenVINO models) is emptied."""
    import functools
    import importlib

    from biobft.embed.encoding import release_encoders

    mod = importlib.import_module(f"biobft.embed.{module}")
    fake = functools.lru_cache(maxsize=None)(lambda key: object())
    monkeypatch.setattr(mod, cached, fake)
    fake("a")
    assert fake.cache_info().currsize == 1
    release_encoders()
    assert fake.cache_info().currsize == 0


def test_release_encoders_trims_the_glibc_heap(monkeypatch):
    """On glibc the freed arenas are handed back: ``malloc_trim(0)`` of libc runs once."""
    import ctypes

    from biobft.embed.encoding import release_encoders

    calls = []

    class _Libc:
        def __init__(self, name):
            calls.append(("load", name))

        def malloc_trim(self, pad):
            calls.append(("trim", pad))

    monkeypatch.setattr(ctypes, "CDLL", _Libc)
    release_encoders()
    assert calls == [("load", "libc.so.6"), ("trim", 0)]


class _EmbedOnly(torch.nn.Module):
    """A plain (not transformers) module: hidden states = token embeddings; no ``base_model``."""

    def __init__(self, vocab: int, dim: int = 8):
        super().__init__()
        from types import SimpleNamespace

        self.config = SimpleNamespace(num_hidden_layers=0, architectures=[])
        self.emb = torch.nn.Embedding(vocab, dim)

    def forward(self, input_ids, attention_mask, token_type_ids=None, output_hidden_states=False):
        from types import SimpleNamespace

        h = self.emb(input_ids)
        return SimpleNamespace(last_hidden_state=h, hidden_states=(h,))


def test_plain_module_pair_is_mean_pooled_by_hand(tiny_lm):
    """A ``(module, tokenizer)`` pair without ``base_model`` runs the module itself; the vector is
    the mean of its token embeddings (torch by hand, one text at a time)."""
    _, tok = tiny_lm
    torch.manual_seed(0)
    net = _EmbedOnly(len(tok)).eval()
    got = encode(LM_TEXTS, model=(net, tok), precision="fp32", batch_size=3)
    for text, row in zip(LM_TEXTS, got, strict=True):
        ids = tok(text, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            ref = net.emb(ids)[0].mean(0)
        np.testing.assert_allclose(row, ref.numpy(), rtol=1e-5, atol=1e-6)


def test_absolute_position_lm_left_padding_matches_unpadded_forward(tiny_lm):
    """A causal LM with learned absolute positions (GPT-Neo): a left-padded batch gets the same
    positions as each text alone (rotary models are blind to a uniform shift, GPT-Neo is not)."""
    from transformers import GPTNeoConfig, GPTNeoForCausalLM

    _, tok = tiny_lm
    cfg = GPTNeoConfig(vocab_size=len(tok), hidden_size=16, num_layers=1, num_heads=2,
                       attention_types=[[["global"], 1]], max_position_embeddings=64,
                       bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                       pad_token_id=tok.pad_token_id)  # fmt: skip
    torch.manual_seed(0)
    neo = GPTNeoForCausalLM(cfg).eval()
    tok.padding_side = "left"
    got = encode(LM_TEXTS, model=(neo, tok), pooling="mean", precision="fp32", batch_size=4)
    for text, row in zip(LM_TEXTS, got, strict=True):
        ids = tok(text, return_tensors="pt")
        with torch.no_grad():
            ref = neo.transformer(**ids).last_hidden_state[0].mean(0)  # positions 0..n-1
        np.testing.assert_allclose(row, ref.numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("layer", [1, -2])
def test_lm_intermediate_layer_matches_manual_forward(tiny_lm, layer):
    model, tok = tiny_lm
    text = LM_TEXTS[2]
    with torch.no_grad():
        hidden = model(**tok(text, return_tensors="pt"), output_hidden_states=True).hidden_states
    got = encode([text], model=(model, tok), pooling="mean", layer=layer, precision="fp32")
    np.testing.assert_allclose(got[0], hidden[layer][0].mean(0).numpy(), rtol=1e-5, atol=1e-6)
    assert not np.allclose(got[0], hidden[-1][0].mean(0).numpy(), atol=1e-3)  # not the last


def _fake_vectors(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Padding-invariant float64 'embeddings' of tokenised rows, of norm well below 1."""
    vecs = np.stack([(ids * mask).sum(1), mask.sum(1), (ids * mask).max(1)], 1)
    return vecs.astype(np.float64) * 1e-6


class _FakeRunner:
    def __init__(self):
        self.batches: list[int] = []

    def __call__(self, enc):
        assert isinstance(enc["input_ids"], np.ndarray)  # return_tensors="np"
        self.batches.append(len(enc["input_ids"]))
        return _fake_vectors(enc["input_ids"], enc["attention_mask"])


class _FakeRunAll:
    """A runner with ``run_all`` only (not callable): delivers the batches in reverse order."""

    def run_all(self, batches, sink):
        done = [(idx, _fake_vectors(e["input_ids"], e["attention_mask"])) for idx, e in batches]
        for idx, vecs in reversed(done):
            sink(idx, vecs)


@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("runner", [_FakeRunner, _FakeRunAll])
def test_exported_backend_loop_matches_a_naive_loop(minilm, monkeypatch, runner, normalize):
    """The exported-backend loop (sorting, batches, truncation, normalisation, order) against one
    text at a time, with a stand-in runner whose vectors do not depend on padding."""
    fake = runner()
    monkeypatch.setattr(encode_mod, "_runner", lambda *a, **k: fake)
    texts = [*TEXTS, "KLF1", "x"]  # 6 texts, batch_size 3: two full batches
    got = encode(texts, model=minilm, backend="onnx", batch_size=3, max_length=8,
                 normalize=normalize)  # fmt: skip
    assert got.dtype == np.float32 and got.shape == (6, 3)
    for text, row in zip(texts, got, strict=True):
        enc = minilm.tokenizer([text], truncation=True, max_length=8, return_tensors="np")
        ref = _fake_vectors(enc["input_ids"], enc["attention_mask"])[0]
        if normalize:
            ref = ref / np.linalg.norm(ref)
        np.testing.assert_allclose(row, ref, rtol=1e-6)
    if runner is _FakeRunner:
        assert fake.batches == [3, 3]


def test_exported_backend_progress_bar_follows_show_progress_bar(minilm, monkeypatch, capsys):
    monkeypatch.setattr(encode_mod, "_runner", lambda *a, **k: _FakeRunner())
    encode(["a gene", "b"], model=minilm, backend="onnx", show_progress_bar=False)
    assert "encode (onnx" not in capsys.readouterr().err
    encode(["a gene", "b"], model=minilm, backend="onnx", show_progress_bar=True)
    assert "encode (onnx fp32)" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("backend", "model_id", "name"),
    [("onnx", "a:b:c", "c"), ("openvino", "pkg:mini", "mini"), ("onnx", None, "encoder")],
)
def test_runner_passes_model_name_and_precision(monkeypatch, backend, model_id, name):
    """The exported runner gets the model's short name (its cache file) and the precision."""
    from types import SimpleNamespace

    from biobft.embed import backends, openvino_backend

    calls = []
    monkeypatch.setattr(backends, "onnx_encoder", lambda m, **k: calls.append(("onnx", m, k)))
    monkeypatch.setattr(
        openvino_backend, "openvino_encoder", lambda m, **k: calls.append(("openvino", m, k))
    )
    handle = SimpleNamespace(model_id=model_id, model="the-model")
    encode_mod._runner(backend, handle, "bf16")
    want = {"name": name} if backend == "onnx" else {"precision": "bf16", "name": name}
    assert calls == [(backend, "the-model", want)]


def test_max_length_none_truncates_at_the_pipeline_limit(minilm):
    """``max_length=None`` still truncates at the sentence-transformers pipeline's own limit
    (``max_seq_length``, here set below the tokenizer's), like ``SentenceTransformer.encode``."""
    long = "Gene symbol TP53. " + "tumor suppressor binding DNA " * 30
    long += "erythroid heme globin " * 60
    assert len(minilm.tokenizer(long)["input_ids"]) > 200
    limit = minilm.model.max_seq_length
    try:
        minilm.model.max_seq_length = 64
        ref = minilm.model.encode([long])
        got = encode([long], model=minilm, max_length=None, precision="fp32", backend="torch")
    finally:
        minilm.model.max_seq_length = limit
    assert _cos(got, ref).min() > 0.9999
    assert _cos(minilm.model.encode([long]), ref).min() < 0.99  # the limit changes the vector


# ------------------------------------------------- issue 15 (mutation run: the input checks)
def test_single_string_array_and_series_encode_like_a_list(minilm):
    """A string, a 0-d / 1-d numpy array and a pandas Series are the same texts as a list (a 0-d
    array of one string was split into its characters before issue 15's run)."""
    import pandas as pd

    texts = ["Gene symbol KLF1. erythroid", "Gene symbol TP53. tumor suppressor"]
    ref = encode(texts, model=minilm, precision="fp32", backend="torch")
    one = encode(texts[0], model=minilm, precision="fp32", backend="torch")
    assert one.shape == (1, 384)
    np.testing.assert_allclose(one[0], ref[0], atol=1e-6)
    zero_d = encode(np.array(texts[0]), model=minilm, precision="fp32", backend="torch")
    np.testing.assert_allclose(zero_d, ref[:1], atol=1e-6)
    for arr in (np.array(texts), np.array(texts, dtype=object), pd.Series(texts, index=[7, 3])):
        got = encode(arr, model=minilm, precision="fp32", backend="torch")
        np.testing.assert_allclose(got, ref, atol=1e-6)


def test_texts_errors_say_what_and_where(minilm):
    """Not a sequence, empty, None/NaN (positions: the first 10) and non-strings: one message each
    that names the type or the positions and the fix."""
    with pytest.raises(TypeError, match=r"^texts must be a list of strings; got int$"):
        encode(5, model=minilm)
    with pytest.raises(ValueError, match=r"^texts is empty; pass at least one string to encode$"):
        encode([], model=minilm)
    texts = ["a"] + [None] * 6 + [float("nan")] * 6  # 12 missing values at positions 1..12
    with pytest.raises(ValueError) as err:
        encode(texts, model=minilm)
    first10 = list(range(1, 11))
    assert str(err.value) == (
        f"texts contains 12 None/NaN value(s) at position(s) {first10}; "
        "drop them (e.g. series.dropna()) before encoding"
    )
    with pytest.raises(TypeError, match=r"^texts must be strings; position 2 is int$"):
        encode(["a", "b", 3], model=minilm)


class _Loaded(Exception):
    """Raised by a stand-in loader: the option checks passed and the model would load now."""


def test_batch_size_checked_whatever_max_length(monkeypatch):
    """``batch_size`` is checked (before loading) also when ``max_length=None`` is skipped."""

    def load(*a, **k):
        raise _Loaded

    monkeypatch.setattr(encode_mod, "resolve_encoder", load)
    for max_length in (None, 16):
        for bad in (0, -1, 2.5, True, None, "8"):
            with pytest.raises(ValueError, match=r"^batch_size must be a positive integer .*got "):
                encode(["a"], model="minilm", batch_size=bad, max_length=max_length)
        with pytest.raises(_Loaded):  # max_length=None and a good batch_size pass the checks
            encode(["a"], model="minilm", batch_size=np.int64(3), max_length=max_length)


def test_layer_out_of_range_message_gives_the_valid_range(tiny_lm):
    n = tiny_lm[0].config.num_hidden_layers
    with pytest.raises(ValueError, match=rf"layer must lie in \[{-(n + 1)}, {n}\] \(0: embed"):
        encode(["gene"], model=tiny_lm, layer=n + 1, pooling="mean")


def test_model_whose_config_has_no_depth_is_encoded(tiny_lm):
    """A pair whose config does not give ``num_hidden_layers`` skips the layer range check."""
    from types import SimpleNamespace

    _, tok = tiny_lm
    torch.manual_seed(0)
    net = _EmbedOnly(len(tok)).eval()
    net.config = SimpleNamespace(architectures=[])
    got = encode(LM_TEXTS[:2], model=(net, tok), precision="fp32")
    for text, row in zip(LM_TEXTS[:2], got, strict=True):
        with torch.no_grad():
            ref = net.emb(tok(text, return_tensors="pt")["input_ids"])[0].mean(0)
        np.testing.assert_allclose(row, ref.numpy(), rtol=1e-5, atol=1e-6)


def _advice(msg: str, start: str, end: str) -> str:
    """The ``texts = [...]`` fix a message gives: from ``start`` to the first ``end`` after it."""
    i = msg.index(start)
    return msg[i : msg.index(end, i) + len(end)]


def test_empty_texts_message_positions_names_and_advice(minilm):
    """The first 10 positions (or names) of empty texts; the advised fix drops exactly them."""
    texts = ["ok gene"] + [" \t"] * 6 + [""] * 6 + ["fine"]  # 12 without content: 1..12
    with pytest.raises(ValueError) as err:
        encode(texts, model=minilm)
    msg = str(err.value)
    assert msg.startswith(
        f"12 text(s) empty or whitespace-only at position(s) {list(range(1, 11))}: such a text "
        "has no content to embed (its vector would be padding only); drop or fix them first "
        "(whitespace-only: "
    )
    assert "zero tokens" not in msg and "; and " not in msg  # one reason, not two
    # what str.strip() cannot see is named too (e.g. a zero-width space: zero tokens)
    assert msg.endswith(
        "; invisible characters such as zero-width spaces are not whitespace to str.strip())"
    )
    scope: dict = {"texts": list(texts)}
    exec(_advice(msg, "texts = [t for t in", "()]"), scope)  # the advice runs
    assert scope["texts"] == ["ok gene", "fine"]
    names = [f"G{i}" for i in range(len(texts))]
    with pytest.raises(ValueError) as err:
        encode_mod._check_degenerate(texts, minilm, names=names)
    assert str(err.value).startswith(
        f"12 text(s) empty or whitespace-only for gene(s) {names[1:11]}: such a text"
    )


def test_control_characters_message_names_genes_first_five_and_a_working_fix(minilm):
    """Names instead of positions, the first 5 distinct characters, and a fix that runs."""
    import re

    texts = ["ok", "x\x01\x02\x03", "y", "\x04\x05z\x06"]  # 6 distinct control characters
    names = ["OK1", "BAD1", "Y1", "BAD2"]
    with pytest.raises(ValueError) as err:
        encode_mod._check_degenerate(texts, minilm, names=names)
    msg = str(err.value)
    shown = ", ".join(f"'\\x0{i}' (U+000{i})" for i in range(1, 6))
    assert msg.startswith(
        f"2 text(s) with control characters for gene(s) ['BAD1', 'BAD2']: {shown} (the first "
        "in the text at gene 'BAD1', character 1); a tokenizer drops or mangles them silently. "
        "Clean them first, e.g. texts = [re.sub("
    )
    assert "U+0006" not in msg  # only the first five characters are shown
    scope: dict = {"texts": list(texts), "re": re}
    exec(_advice(msg, "texts = [re.sub(", " for t in texts]"), scope)  # the advice runs
    assert scope["texts"] == ["ok", "x   ", "y", "  z "]
    assert encode(scope["texts"], model=minilm, backend="torch").shape == (4, 384)
    with pytest.raises(ValueError) as err:
        encode(texts, model=minilm)
    assert "at position(s) [1, 3]:" in str(err.value)
    assert "(the first in the text at position 1, character 1)" in str(err.value)


def _lm_hidden_mean(model, ids: list[int]) -> np.ndarray:
    with torch.no_grad():
        out = model(input_ids=torch.tensor([ids]), output_hidden_states=True)
    return out.hidden_states[-1][0].mean(0).numpy()


def test_lm_truncates_at_the_tokenizers_model_max_length(tiny_lm):
    """A (model, tokenizer) pair: the tokenizer's own ``model_max_length`` caps ``max_length``;
    the 'no limit' sentinel of transformers (1e30) is no limit (``max_length=None``)."""
    model, tok = tiny_lm
    text = LM_TEXTS[2]  # 15 word-level tokens, no special tokens added
    ids = tok(text)["input_ids"]
    assert len(ids) > 8 and tok.model_max_length > 1e6  # transformers' 'no limit' value
    full = encode([text], model=(model, tok), pooling="mean", precision="fp32", max_length=None)
    np.testing.assert_allclose(full[0], _lm_hidden_mean(model, ids), rtol=1e-5, atol=1e-6)
    tok.model_max_length = 6
    for max_length in (None, 256):
        got = encode([text], model=(model, tok), pooling="mean", precision="fp32",
                     max_length=max_length)  # fmt: skip
        np.testing.assert_allclose(got[0], _lm_hidden_mean(model, ids[:6]), rtol=1e-5, atol=1e-6)


# ------------------------------------------------------ issue 15 (mutation run: encode itself)
def test_model_and_device_reach_the_loader(minilm, monkeypatch):
    """The default model is the packaged ``"minilm"``; ``device`` reaches the loader (checked
    first: a GPU with a CPU-only backend is refused before any load)."""
    calls = []

    def load(model, *, device=None):
        calls.append((model, device))
        return minilm

    monkeypatch.setattr(encode_mod, "resolve_encoder", load)
    encode(["a gene"], backend="torch")
    encode(["a gene"], model="minilm", device="CPU", backend="torch")
    assert calls == [("minilm", None), ("minilm", "cpu")]
    with pytest.raises(ValueError, match=r"backend='onnx' does not fit: backend onnx runs on CPU"):
        encode(["a gene"], device="cuda", backend="onnx")
    assert len(calls) == 2


def _spy_batches(monkeypatch) -> list[list[str]]:
    """Record the texts of every torch forward batch (the real forward still runs)."""
    seen: list[list[str]] = []
    forward = encode_mod._forward_batch

    def spy(handle, batch, *args):
        seen.append(list(batch))
        return forward(handle, batch, *args)

    monkeypatch.setattr(encode_mod, "_forward_batch", spy)
    return seen


def test_batches_are_batch_size_texts_of_similar_length(minilm, monkeypatch):
    """Default ``batch_size`` 32; batches hold texts of equal token length after sorting, each
    text exactly once, and the rows come back in input order."""
    seen = _spy_batches(monkeypatch)
    texts = [f"gene {i}" for i in range(40)]
    encode(texts, model=minilm, backend="torch", precision="fp32")
    assert [len(b) for b in seen] == [32, 8]
    seen.clear()
    short, long = ["KLF1", "TP53", "a", "b"], ["TP53 is a tumor suppressor gene"] * 2
    long.append("KLF1 is an erythroid transcription factor")
    texts = [short[0], long[0], short[1], long[1], short[2], long[2], short[3]]
    got = encode(texts, model=minilm, backend="torch", precision="fp32", batch_size=3)
    assert sorted(t for b in seen for t in b) == sorted(texts)
    assert [len(b) for b in seen] == [3, 3, 1]
    n_tok = {t: len(minilm.tokenizer(t)["input_ids"]) for t in texts}
    for b in seen[:2]:  # the three long texts, then three short ones
        assert len({n_tok[t] > 5 for t in b}) == 1
    ref = minilm.model.encode(texts)
    assert _cos(got, ref).min() > 0.9999


def test_truncation_log_counts_texts_that_reach_max_length(minilm, caplog):
    """A text that fills ``max_length`` tokens with its special tokens is counted; the message is
    the documented 'n of N text(s) reach max_length=L tokens (truncated)'."""
    import logging

    full = "a b c d e f"  # 6 words + [CLS] + [SEP] = 8 tokens
    assert len(minilm.tokenizer(full)["input_ids"]) == 8
    with caplog.at_level(logging.INFO, logger="biobft.embed.encoding"):
        encode([full, "a b c", "a b c d e f g h"], model=minilm, max_length=8, backend="torch")
    msgs = [r.getMessage() for r in caplog.records if r.name == "biobft.embed.encoding"]
    assert msgs == ["2 of 3 text(s) reach max_length=8 tokens (truncated)"]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="biobft.embed.encoding"):
        encode([full, "a b c"], model=minilm, max_length=9, backend="torch")
    assert not [r for r in caplog.records if r.name == "biobft.embed.encoding"]


def test_default_max_length_is_256_tokens(tiny_lm):
    """A model without a limit of its own is cut at the default ``max_length=256``."""
    model, tok = tiny_lm
    text = " ".join(["gene protein cell"] * 100)  # 300 word-level tokens
    ids = tok(text)["input_ids"]
    assert len(ids) == 300
    got = encode([text], model=(model, tok), pooling="mean", precision="fp32")
    np.testing.assert_allclose(got[0], _lm_hidden_mean(model, ids[:256]), rtol=1e-4, atol=1e-5)


def test_progress_bar_follows_show_progress_bar_and_the_50_batch_default(
    minilm, monkeypatch, capsys
):
    """torch path: an 'encode' bar only when asked; default (None): a bar for more than 50
    batches (exported path with a stand-in runner: 50 batches none, 51 a bar)."""
    import re

    bar = re.compile(r"(^|[\r\n])encode: ")
    encode(["a gene", "b"], model=minilm, backend="torch", show_progress_bar=True)
    assert bar.search(capsys.readouterr().err)
    for show in (False, None):
        encode(["a gene", "b"], model=minilm, backend="torch", show_progress_bar=show)
        assert "encode" not in capsys.readouterr().err
    monkeypatch.setattr(encode_mod, "_runner", lambda *a, **k: _FakeRunner())
    encode([f"g{i}" for i in range(50)], model=minilm, backend="onnx", batch_size=1)
    assert "encode (onnx" not in capsys.readouterr().err
    encode([f"g{i}" for i in range(51)], model=minilm, backend="onnx", batch_size=1)
    assert "encode (onnx fp32)" in capsys.readouterr().err


def test_exported_runner_gets_backend_model_and_precision(minilm, monkeypatch):
    calls = []

    def runner(*args):
        calls.append(args)
        return _FakeRunner()

    monkeypatch.setattr(encode_mod, "_runner", runner)
    encode(["a gene"], model=minilm, backend="onnx")
    assert calls == [("onnx", minilm, "fp32")]


def test_precision_changes_the_arithmetic(minilm):
    """bf16 and fp16 autocast really run: both differ from fp32, and fp16 (11-bit significand)
    stays closer to fp32 than bf16 (8-bit) does."""
    fp32 = encode(TEXTS, model=minilm, precision="fp32", backend="torch")
    bf16 = encode(TEXTS, model=minilm, precision="bf16", backend="torch")
    fp16 = encode(TEXTS, model=minilm, precision="fp16", backend="torch")
    err_bf16, err_fp16 = np.abs(bf16 - fp32).max(), np.abs(fp16 - fp32).max()
    assert err_fp16 > 1e-6 and err_bf16 > 2 * err_fp16
    assert _cos(bf16, fp32).min() > 0.999 and _cos(fp16, fp32).min() > 0.9999


def test_model_in_training_mode_is_encoded_in_eval_mode_and_restored(tiny_lm):
    model, tok = tiny_lm
    ref = encode(LM_TEXTS, model=(model, tok), precision="fp32")
    model.train()
    model.config.attention_dropout = 0.5  # dropout would change the vectors in training mode
    for layer in model.model.layers:
        layer.self_attn.attention_dropout = 0.5
    got = encode(LM_TEXTS, model=(model, tok), precision="fp32")
    assert model.training and all(m.training for m in model.modules())
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-7)


def test_pipeline_limits_hold_where_the_pipeline_and_its_tokenizer_disagree(minilm, monkeypatch):
    """Older sentence-transformers keep ``max_seq_length`` apart from the tokenizer's
    ``model_max_length`` and have no ``SentenceTransformer.config`` (6.x ties both to the
    transformer): the pipeline's own limit and the transformer's depth are still used."""
    long = "Gene symbol TP53. " + "tumor suppressor binding DNA " * 30
    st_class = type(minilm.model)
    n = minilm.model[0].auto_model.config.num_hidden_layers
    full = encode([long], model=minilm, max_length=None, precision="fp32", backend="torch")
    cut = encode([long], model=minilm, max_length=64, precision="fp32", backend="torch")
    assert _cos(cut, full).min() < 0.99  # the limit changes the vector
    monkeypatch.setattr(st_class, "max_seq_length", property(lambda self: 64))
    monkeypatch.setattr(st_class, "config", property(lambda self: None))
    assert minilm.tokenizer.model_max_length == 256  # the tokenizer alone would allow 256
    got = encode([long], model=minilm, max_length=None, precision="fp32", backend="torch")
    np.testing.assert_allclose(got, cut, rtol=1e-6, atol=1e-7)
    same = encode([long], model=minilm, layer=n, precision="fp32", backend="torch")
    np.testing.assert_allclose(same, cut, rtol=1e-6, atol=1e-7)  # layer n: the last one
    with pytest.raises(ValueError, match=rf"layer={n + 1} does not exist: the model has {n} "):
        encode([long], model=minilm, layer=n + 1, backend="torch")


@given(
    lengths=st.lists(st.integers(1, 300), min_size=0, max_size=60),
    batch_size=st.integers(1, 40),
    max_tokens=st.one_of(st.none(), st.integers(1, 2000)),
)
def test_batches_partition_the_sorted_texts_within_both_caps(lengths, batch_size, max_tokens):
    """Reference: the rows and padded tokens of each batch, counted directly."""
    order = np.argsort(-np.asarray(lengths, dtype=int), kind="stable")
    batches = encode_mod._batches(order, lengths, batch_size, max_tokens)
    assert np.array_equal(np.concatenate([order[:0], *batches]), order)  # all, once, in order
    for idx in batches:
        longest = max(lengths[i] for i in idx)
        assert 1 <= len(idx) <= batch_size
        if max_tokens is not None and len(idx) > 1:
            assert len(idx) * longest <= max_tokens
    if max_tokens is None:  # plain batches of batch_size
        assert [len(b) for b in batches[:-1]] == [batch_size] * (len(batches) - 1)
    else:  # greedy: one more text would break a cap
        for idx in batches[:-1]:
            grown = len(idx) + 1
            assert grown > batch_size or grown * lengths[idx[0]] > max_tokens


@pytest.mark.parametrize("backend", ["onnx", "openvino"])
def test_exported_backends_tokenise_once_and_pad_like_the_tokenizer(backend, monkeypatch):
    """Each batch is padded from the one tokenisation of all texts; the arrays the runner gets
    equal a direct tokenisation of the batch's texts (the reference), and so do the vectors."""
    import importlib.util

    if importlib.util.find_spec(backend if backend == "openvino" else "onnxruntime") is None:
        pytest.skip(f"the {backend} extra is not installed")
    handle = resolve_encoder("minilm", device="cpu")
    texts = [*TEXTS, "KLF1", "x y", "Gene symbol GATA1. " * 40]  # short, long, truncated
    runner = encode_mod._runner(backend, handle, "fp32")
    seen = []
    real_call = type(runner).__call__

    def spy_call(self, enc):
        seen.append(enc)
        return real_call(self, enc)

    monkeypatch.setattr(type(runner), "__call__", spy_call)
    monkeypatch.setattr(type(runner), "run_all", None, raising=False)  # one batch at a time
    monkeypatch.delattr(type(runner), "run_all", raising=False)
    calls = []
    tok_cls = type(handle.tokenizer)
    real_tok = tok_cls.__call__
    monkeypatch.setattr(
        tok_cls, "__call__", lambda self, *a, **k: calls.append((a, k)) or real_tok(self, *a, **k)
    )
    got = encode(texts, model=handle, backend=backend, precision="fp32", batch_size=3)
    # only whole-list passes (the input check and the length pass): batches are padded from
    # the length pass, never tokenised again
    assert calls and all(len(a[0]) == len(texts) and "padding" not in k for a, k in calls)
    monkeypatch.setattr(tok_cls, "__call__", real_tok)
    lengths = [
        len(x) for x in handle.tokenizer(texts, truncation=True, max_length=256)["input_ids"]
    ]
    order = np.argsort(-np.asarray(lengths), kind="stable")
    budget = getattr(runner, "max_batch_tokens", None)
    for enc, idx in zip(seen, encode_mod._batches(order, lengths, 3, budget), strict=True):
        ref = handle.tokenizer(
            [texts[i] for i in idx], padding=True, truncation=True, max_length=256,
            return_tensors="np",
        )  # fmt: skip
        assert set(enc.keys()) == set(ref.keys())
        for key in ref:
            np.testing.assert_array_equal(enc[key], ref[key])
    ref_vecs = handle.model.encode(texts)
    cos = (got * ref_vecs).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(ref_vecs, axis=1)
    assert cos.min() > 0.9999


def test_a_dict_of_texts_is_refused_not_embedded_by_its_keys():
    """Iterating a dict yields its keys: {'TP53': 'text'} was embedded as the word 'TP53'."""
    with pytest.raises(TypeError, match=r"texts is a dict: encode would embed its keys.*values"):
        encode({"TP53": "TP53 encodes a tumour suppressor."}, precision="fp32")
    with pytest.raises(ValueError, match=r"batch_size must be a positive integer \(texts\)"):
        encode(["x"], batch_size=0)
    with pytest.raises(ValueError, match=r"max_length must be a positive integer \(tokens\)"):
        encode(["x"], max_length=0)


def test_long_texts_do_not_print_the_indexing_errors_warning(caplog, capsys):
    """Texts over the model's limit are truncated; transformers' 'longer than the specified
    maximum ... will result in indexing errors' warning came from an untruncated check pass."""
    long_text = "TP53 encodes a tumor suppressor protein. " * 60  # ~600 tokens
    with caplog.at_level("WARNING"):
        vecs = encode([long_text, "KLF1"], precision="fp32", backend="torch")
    out = capsys.readouterr()
    said = caplog.text + out.out + out.err
    assert "indexing errors" not in said and vecs.shape == (2, 384)
