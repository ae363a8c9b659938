"""Shared fixtures: offline settings, the real-data mirror, a tiny random-weight causal LM, a toy
registry entry, seeded instruction records."""

from __future__ import annotations

import copy
import hashlib
import os
import sys
from pathlib import Path

import pytest

from biobft.datasets import DatasetFile, registry

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


# ----------------------------------------------------------------- datasets: a toy registry entry
TOY_BYTES = b"GENE1 GENE2\nGENE3 GENE4\n"


@pytest.fixture
def toy_entry(tmp_path, monkeypatch) -> DatasetFile:
    """A registered toy file ``toy_pairs`` with an empty tmp mirror and an empty tmp cache.

    The file's bytes are :data:`TOY_BYTES`; its URL points at ``tmp_path/upstream/...`` (file://),
    which exists, so a download succeeds without network.
    """
    upstream = tmp_path / "upstream" / "toy" / "pairs.txt"
    upstream.parent.mkdir(parents=True)
    upstream.write_bytes(TOY_BYTES)
    entry = DatasetFile(
        name="toy_pairs",
        path="toy/pairs.txt",
        url=upstream.as_uri(),
        sha256=hashlib.sha256(TOY_BYTES).hexdigest(),
        license="CC0",
        citation="nobody",
        description="toy pairs",
    )
    monkeypatch.setitem(registry(), entry.name, entry)
    (tmp_path / "mirror").mkdir()
    monkeypatch.setenv("BIOBFT_DATA_DIR", str(tmp_path / "mirror"))
    monkeypatch.setenv("BIOBFT_CACHE_DIR", str(tmp_path / "cache"))
    return entry


@pytest.fixture
def toy_bytes() -> bytes:
    """The toy file's content."""
    return TOY_BYTES


@pytest.fixture
def toy_dirs(toy_entry, tmp_path) -> dict[str, Path]:
    """Where the toy file would live: mirror, cache and upstream paths."""
    return {
        "mirror": tmp_path / "mirror" / toy_entry.path,
        "cache": tmp_path / "cache" / "downloads" / toy_entry.path,
        "upstream": tmp_path / "upstream" / toy_entry.path,
    }


# ----------------------------------------------------------------- training records and Trainer
@pytest.fixture
def no_shadowed_hf_datasets(monkeypatch):
    """``tests/datasets`` (no ``__init__.py``) on sys.path shadows the Hugging Face ``datasets``
    package as an empty namespace package, which transformers' Trainer then takes for the real
    one. Tell the Trainer that ``datasets`` is unavailable in that case (it is not a dependency).
    """
    import transformers.trainer as hf_trainer

    mod = sys.modules.get("datasets")
    if mod is None or not hasattr(mod, "Dataset"):
        monkeypatch.setattr(hf_trainer, "is_datasets_available", lambda: False)


WORDS = (
    "this gene encodes a tumor suppressor protein the protein binds dna and regulates "
    "transcription apoptosis cell cycle mutations in are associated with cancer anemia"
).split()


def _make_records(n=8, seed=0):
    import torch

    g = torch.Generator().manual_seed(seed)
    genes = ["TP53", "KLF1"]
    recs = []
    for i in range(n):
        k = int(torch.randint(3, 14, (1,), generator=g))
        words = [WORDS[int(j)] for j in torch.randint(0, len(WORDS), (k,), generator=g)]
        recs.append({"prompt": f"Tell me about gene {genes[i % 2]} .", "response": " ".join(words)})
    return recs


@pytest.fixture
def make_records():
    """``make_records(n, seed)``: ``n`` seeded prompt/response records over the tiny vocabulary."""
    return _make_records


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
