"""Shared fixtures: offline settings, the real-data mirror, a tiny random-weight causal LM."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Offline and reproducible: never reach a hub; caches in the git-ignored data/ folder.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("BIOBFT_CACHE_DIR", str(REPO / "data" / "cache"))

CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@pytest.fixture(scope="session")
def data_mirror() -> Path:
    """The real-data mirror folder; skips the test when it is absent (CI always has it)."""
    from biobft._paths import mirror_dir

    path = mirror_dir()
    if path is None or not path.is_dir():
        pytest.skip("real-data mirror not found: set BIOBFT_DATA_DIR or check out ../shared/data")
    return path


def _build_tokenizer():
    """A small word-level tokenizer with special tokens and a chat template (no download)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    corpus = [
        "Tell me about gene TP53 . This gene encodes a tumor suppressor protein .",
        "The protein binds DNA and regulates transcription , apoptosis and the cell cycle .",
        "Gene symbol KLF1 . This gene encodes a transcription factor in erythroid cells .",
        "Mutations in this gene are associated with cancer and anemia .",
        "user assistant system hello world a an the of in to is and or",
    ]
    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    special = ["<pad>", "<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"]
    tok.train_from_iterator(corpus, trainers.WordLevelTrainer(special_tokens=special))
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="<|im_end|>",
        pad_token="<pad>",
        additional_special_tokens=["<|im_start|>"],
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


@pytest.fixture(scope="session")
def _tiny_lm_session():
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = _build_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).eval()
    return model, tokenizer


@pytest.fixture
def tiny_lm(_tiny_lm_session):
    """``(model, tokenizer)``: 2-layer random-weight Llama (fp32, eval), deep-copied per test."""
    model, tokenizer = _tiny_lm_session
    return copy.deepcopy(model), copy.deepcopy(tokenizer)


@pytest.fixture
def tiny_lm_dir(tiny_lm, tmp_path) -> Path:
    """The tiny model and tokenizer saved as a Hugging Face folder."""
    model, tokenizer = tiny_lm
    out = tmp_path / "tiny-llama"
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def pytest_collection_modifyitems(config, items):
    """Markers that tell the truth, whatever a test's author remembered.

    - every test that needs the real-data mirror (the ``data_mirror`` fixture, directly or through
      another fixture) and every tutorial notebook (they load real data) is marked ``realdata``,
      so ``-m "not realdata"`` selects exactly what runs without the mirror;
    - ``@pytest.mark.gpu`` tests run where CUDA is available and skip, saying so, elsewhere.
    """
    realdata = pytest.mark.realdata
    for item in items:
        needs_mirror = "data_mirror" in getattr(item, "fixturenames", ())
        notebook = item.path.suffix == ".ipynb"
        if (needs_mirror or notebook) and not item.get_closest_marker("realdata"):
            item.add_marker(realdata)
    gpu = [item for item in items if item.get_closest_marker("gpu")]
    if not gpu:
        return
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device (torch.cuda.is_available() is False)")
    for item in gpu:
        item.add_marker(skip)
