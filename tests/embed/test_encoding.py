from __future__ import annotations

import numpy as np
import pytest
import torch

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
