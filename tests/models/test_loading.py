from __future__ import annotations

import json
import logging

import pytest
import torch

from biobft.models import loading
from biobft.models.loading import (
    convert_gguf,
    load_causal_lm,
    load_encoder,
    resolve_model_path,
    save_dequantized,
)


def test_save_dequantized_drops_quantization_config_and_round_trips(tiny_lm, tmp_path):
    model, tok = tiny_lm
    model.config.quantization_config = {"quant_method": "gguf", "gguf_file": "x.gguf"}
    out = save_dequantized(model, tok, tmp_path / "converted")
    config = json.loads((out / "config.json").read_text())
    assert "quantization_config" not in config
    assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["converted"]  # no temp dir left behind

    reloaded, tok2 = load_causal_lm(out, device="cpu")
    ids = tok("Gene symbol TP53 .", return_tensors="pt")
    with torch.no_grad():
        torch.testing.assert_close(reloaded(**ids).logits, model(**ids).logits)
    for (n1, p1), (n2, p2) in zip(model.state_dict().items(), reloaded.state_dict().items()):
        assert n1 == n2
        torch.testing.assert_close(p1, p2)
    assert tok2.pad_token == tok.pad_token


def test_load_causal_lm_sets_pad_token_and_dtype(tiny_lm, tmp_path, caplog):
    model, tok = tiny_lm
    tok.pad_token = None
    model.save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    with caplog.at_level(logging.INFO, logger="biobft.models.loading"):
        lm, tok2 = load_causal_lm(tmp_path / "m", dtype="bf16", device="cpu")
    assert tok2.pad_token == tok2.eos_token == "<|im_end|>"
    assert "no pad token" in caplog.text
    assert lm.dtype == torch.bfloat16 and not lm.training


def test_convert_gguf_reuses_finished_folder(tmp_path, monkeypatch):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    done = tmp_path / "done"
    done.mkdir()
    (done / "config.json").write_text("{}")
    import transformers

    def boom(*a, **k):
        raise AssertionError("must not reload the GGUF")

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", boom)
    assert convert_gguf(gguf, done) == done
    with pytest.raises(FileNotFoundError, match=r"GGUF file .* does not exist"):
        convert_gguf(tmp_path / "absent.gguf")


def test_load_encoder_packaged():
    enc = load_encoder("minilm", device="cpu")
    assert enc.get_sentence_embedding_dimension() == 384
    assert resolve_model_path("minilm").name == "model"


def test_missing_paths_raise(tmp_path):
    with pytest.raises(
        FileNotFoundError, match=r"neither a packaged name .* nor an existing folder"
    ):
        load_causal_lm(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match=r"encoder .*nope"):
        load_encoder(tmp_path / "nope")
    with pytest.raises(ValueError, match=r"unknown dtype 'int4'"):
        loading._torch_dtype("int4")
    missing_pkg = loading.PackagedModel("no_such_pkg_xyz", "no-such-pkg", "model")
    with pytest.raises(FileNotFoundError, match=r"pip install no-such-pkg"):
        missing_pkg.path()


@pytest.mark.slow  # ~20-170 s; test_packaged_gguf_converts_once_and_reloads_fast covers the path
def test_packaged_smollm2_converts_once_and_reloads(tmp_path, monkeypatch):
    monkeypatch.setenv("BIOBFT_CACHE_DIR", str(tmp_path))
    lm, tok = load_causal_lm("smollm2-135m", device="cpu")
    assert sum(p.numel() for p in lm.parameters()) == pytest.approx(134.5e6, rel=0.01)
    assert tok.pad_token is not None and "quantization_config" not in lm.config.to_dict()
    (folder,) = list((tmp_path / "models").iterdir())
    assert (folder / "model.safetensors").is_file()
    ids = tok("The capital of France is", return_tensors="pt")
    with torch.no_grad():
        logits = lm(**ids).logits[0, -1]
    assert torch.isfinite(logits).all()
    lm2, _ = load_causal_lm("smollm2-135m", device="cpu")  # second call: cached folder
    with torch.no_grad():
        torch.testing.assert_close(lm2(**ids).logits[0, -1], logits)


def test_corrupt_json_named_before_loading(tiny_lm_dir):
    """Issue 12 case 13: a corrupt config.json / tokenizer_config.json is named before loading."""
    from biobft.models.loading import check_model_folder, load_causal_lm

    assert check_model_folder(tiny_lm_dir) == tiny_lm_dir
    (tiny_lm_dir / "tokenizer_config.json").write_text('{"a": 1,')
    with pytest.raises(ValueError, match=r"tokenizer_config\.json' is not valid JSON.*line 1"):
        load_causal_lm(tiny_lm_dir)
    (tiny_lm_dir / "tokenizer_config.json").write_text("{}")
    (tiny_lm_dir / "config.json").write_bytes(b"\xff\xfe garbage")
    with pytest.raises(ValueError, match=r"config\.json' is not valid JSON"):
        load_causal_lm(tiny_lm_dir)


@pytest.mark.gpu
def test_default_device_is_cuda_when_available(tiny_lm, tmp_path):
    model, tok = tiny_lm
    model.save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    lm, _ = load_causal_lm(tmp_path / "m")
    assert next(lm.parameters()).device.type == "cuda"
    assert load_encoder("minilm").device.type == "cuda"


def _tiny_gguf(path):
    """A 2-layer Llama written as a Q4_1 GGUF (like the packaged SmolLM2) and its reference model
    (same de-quantised weights), built with the ``gguf`` writer: the fast twin of the slow test."""
    import gguf
    import numpy as np
    from transformers import LlamaConfig, LlamaForCausalLM

    vocab = 40
    tokens = [f"t{i}" for i in range(vocab - 2)] + ["<|im_start|>", "<|im_end|>"]
    config = LlamaConfig(vocab_size=vocab, hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=64, tie_word_embeddings=True, rms_norm_eps=1e-5,
                         bos_token_id=vocab - 2, eos_token_id=vocab - 1)  # fmt: skip
    torch.manual_seed(0)
    ref = LlamaForCausalLM(config).eval()
    q41 = gguf.GGMLQuantizationType.Q4_1

    def quantised(w):  # Q4_1 round trip of a 2-D weight (blocks of 32 along each row)
        return gguf.quants.dequantize(gguf.quants.quantize(w, q41), q41).astype(np.float32)

    def permute(w, n_head):  # llama.cpp's q/k row order
        return w.reshape(n_head, 2, w.shape[0] // n_head // 2, -1).swapaxes(1, 2).reshape(w.shape)

    state = {k: v.numpy().astype(np.float32) for k, v in ref.state_dict().items()}
    state = {k: quantised(v) if v.ndim == 2 else v for k, v in state.items()}
    ref.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=False)
    ref.tie_weights()
    names = {"attn_norm": "input_layernorm", "attn_q": "self_attn.q_proj",
             "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
             "attn_output": "self_attn.o_proj", "ffn_norm": "post_attention_layernorm",
             "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
             "ffn_down": "mlp.down_proj"}  # fmt: skip
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_block_count(2)
    w.add_context_length(64)
    w.add_embedding_length(32)
    w.add_feed_forward_length(64)
    w.add_head_count(4)
    w.add_head_count_kv(2)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_dimension_count(8)
    w.add_rope_freq_base(10000.0)
    w.add_vocab_size(vocab)
    w.add_tokenizer_model("gpt2")
    w.add_token_list(tokens)
    w.add_token_types([1] * vocab)
    w.add_token_scores([0.0] * vocab)
    w.add_token_merges([])
    w.add_bos_token_id(vocab - 2)
    w.add_eos_token_id(vocab - 1)

    def add(name, arr):
        if arr.ndim == 2:
            w.add_tensor(name, gguf.quants.quantize(arr, q41), raw_dtype=q41)
        else:
            w.add_tensor(name, arr)

    add("token_embd.weight", state["model.embed_tokens.weight"])
    add("output_norm.weight", state["model.norm.weight"])
    for i in range(2):
        for short, long in names.items():
            arr = state[f"model.layers.{i}.{long}.weight"]
            if short in ("attn_q", "attn_k"):
                arr = permute(arr, 4 if short == "attn_q" else 2)
            add(f"blk.{i}.{short}.weight", arr)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return ref


def test_packaged_gguf_converts_once_and_reloads_fast(tmp_path, monkeypatch):
    """The path of the slow SmolLM2 test on a tiny Q4_1 GGUF: name -> convert once -> reload."""
    import transformers

    monkeypatch.setenv("BIOBFT_CACHE_DIR", str(tmp_path / "cache"))
    gguf_file = tmp_path / "pkg" / "tiny.Q4_1.gguf"
    gguf_file.parent.mkdir()
    ref = _tiny_gguf(gguf_file)

    class Entry:
        gguf = True

        @staticmethod
        def path():
            return gguf_file

    monkeypatch.setitem(loading.CAUSAL_LMS, "tiny-gguf", Entry())
    lm, tok = load_causal_lm("tiny-gguf", device="cpu")
    (folder,) = list((tmp_path / "cache" / "models").iterdir())
    assert folder.name.startswith("tiny.Q4_1-") and (folder / "model.safetensors").is_file()
    assert "quantization_config" not in lm.config.to_dict()
    assert tok.eos_token == tok.pad_token == "<|im_end|>"
    ids = torch.tensor([[3, 5, 7, 9, 11]])
    with torch.no_grad():
        logits = lm(ids).logits
        torch.testing.assert_close(logits, ref(ids).logits, rtol=1e-4, atol=1e-5)

    calls = []
    real = transformers.AutoModelForCausalLM.from_pretrained.__func__

    def spy(cls, *a, **k):
        calls.append(k.get("gguf_file"))
        return real(cls, *a, **k)

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", classmethod(spy))
    lm2, _ = load_causal_lm("tiny-gguf", device="cpu")  # second call: the cached folder
    assert calls == [None]  # loaded from safetensors, the GGUF is not read again
    with torch.no_grad():
        torch.testing.assert_close(lm2(ids).logits, logits)


# --- the device check (s3-bk): one implementation, run by the loaders before anything loads ---
def _cuda(monkeypatch, *, available: bool, count: int = 0, build: str | None = None) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: available)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
    monkeypatch.setattr(torch.version, "cuda", build)


def test_loaders_check_the_device_before_anything_loads(tiny_lm_dir, monkeypatch):
    """device='cuda' on a CPU-only torch failed deep inside torch ("Torch not compiled with CUDA
    enabled") after the model had loaded; now one ValueError with the fix, before any load."""
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModelForCausalLM

    _cuda(monkeypatch, available=False, build=None)

    def no_load(*a, **k):
        pytest.fail("a model was loaded before the device was checked")

    monkeypatch.setattr(SentenceTransformer, "__init__", no_load)
    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", no_load)
    monkeypatch.setattr(loading, "convert_gguf", no_load)
    fix = r"device='cuda' cannot be used: this torch build has no CUDA support.*device='cpu'"
    with pytest.raises(ValueError, match=fix):
        load_encoder("minilm", device="cuda")
    with pytest.raises(ValueError, match=fix):
        load_causal_lm(tiny_lm_dir, device="cuda")
    with pytest.raises(ValueError, match=fix):
        load_causal_lm("smollm2-135m", device="cuda")  # before the GGUF conversion
    with pytest.raises(ValueError, match=r"unknown device 'gpu'"):
        load_encoder("minilm", device="gpu")
    _cuda(monkeypatch, available=True, count=1, build="12.8")
    with pytest.raises(ValueError, match=r"device='cuda:1' does not exist: 1 CUDA device"):
        load_causal_lm(tiny_lm_dir, device="cuda:1")
