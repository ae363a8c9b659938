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


@pytest.mark.slow
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
