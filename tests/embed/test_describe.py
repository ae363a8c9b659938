from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from biobft.embed import describe as describe_mod
from biobft.embed.describe import ProfileCache, describe_genes, weights_hash

# symbols of different token lengths under the tiny word-level tokenizer, so batches get padded
GENES = ["TP53", "KLF1", "TP53-KLF1", "A1BG", "tumor suppressor DNA"]


@pytest.fixture
def cache_root(tmp_path, monkeypatch):
    monkeypatch.setenv("BIOBFT_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "profiles"


def _chaotic(model, std=0.3, seed=1):
    """Re-draw the tiny model's weights with a larger scale so its output depends on the prompt
    (the fixture's small init degenerates into repeating one token, which would hide padding bugs).
    """
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" not in name:
                p.copy_(torch.randn(p.shape, generator=gen) * std)
    return model


def _reference(model, tokenizer, gene, max_new_tokens, prompt="Tell me about gene {gene}."):
    """Unbatched greedy generation straight from transformers (no padding at all)."""
    import torch

    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt.format(gene=gene)}],
        tokenize=False,
        add_generation_prompt=True,
    )
    ids = tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        out = model.generate(
            ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
    return tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True).strip()


def test_left_padded_batches_match_unbatched_greedy(tiny_lm, cache_root):
    model, tok = tiny_lm
    _chaotic(model)
    lengths = {
        len(tok(g, add_special_tokens=False)["input_ids"]) for g in GENES
    }  # the batch really is padded
    assert len(lengths) > 1
    profiles = describe_genes(
        GENES, model=model, tokenizer=tok, max_new_tokens=12, batch_size=5, cache=False
    )
    assert list(profiles.index) == GENES and profiles.name == "profile"
    expected = [_reference(model, tok, g, 12) for g in GENES]
    assert profiles.tolist() == expected
    assert all(len(p) > 0 for p in expected)
    assert len(set(expected)) == len(GENES)  # the prompt matters: a padding bug would show
    assert tok.padding_side == "right"  # restored
    meta = profiles.attrs["biobft"]
    assert meta["chat_template"] is True and meta["max_new_tokens"] == 12
    assert meta["cache"] == {"enabled": False, "dir": None, "hits": 0, "generated": 5}


def test_cache_resumes_after_interrupt_and_skips_corrupt_shard(tiny_lm, cache_root, monkeypatch):
    model, tok = tiny_lm
    _chaotic(model)
    real = describe_mod._generate_batch
    calls: list[int] = []
    armed = [True]

    def flaky(m, t, texts, **kw):
        calls.append(len(texts))
        if armed[0] and len(calls) == 2:
            armed[0] = False
            raise KeyboardInterrupt("killed half way")
        return real(m, t, texts, **kw)

    monkeypatch.setattr(describe_mod, "_generate_batch", flaky)
    kwargs = dict(model=model, tokenizer=tok, max_new_tokens=6, batch_size=2, model_id="tiny")
    with pytest.raises(KeyboardInterrupt):
        describe_genes(GENES, **kwargs)
    (folder,) = list(cache_root.iterdir())
    assert len(list(folder.glob("shard-*.json"))) == 1  # only the finished batch
    assert not list(folder.glob(".*tmp"))  # no partial file left behind
    # a corrupt shard (e.g. from a foreign writer) is skipped, never read
    (folder / "shard-broken.json").write_text('{"genes": ["TP53"], "profiles": [')
    (folder / "shard-foreign.json").write_text(
        json.dumps({"key": "another-config", "genes": ["KLF1"], "profiles": ["WRONG"]})
    )
    calls.clear()
    profiles = describe_genes(GENES, **kwargs)
    assert calls == [2, 1]  # 3 genes left after the first finished batch of 2
    meta = profiles.attrs["biobft"]
    assert meta["cache"]["hits"] == 2 and meta["cache"]["generated"] == 3
    fresh = describe_genes(GENES, **{**kwargs, "cache": False})
    assert profiles.tolist() == fresh.tolist()
    assert "WRONG" not in profiles.tolist() and len(set(fresh)) == len(GENES)
    # a third run generates nothing
    calls.clear()
    again = describe_genes(list(reversed(GENES)), **kwargs)
    assert calls == [] and again.attrs["biobft"]["cache"]["hits"] == len(GENES)
    assert again[GENES].tolist() == profiles.tolist()


def test_cache_key_depends_on_settings_and_weights(tiny_lm, cache_root):
    model, tok = tiny_lm
    a = describe_genes(["TP53"], model=model, tokenizer=tok, max_new_tokens=4)
    b = describe_genes(["TP53"], model=model, tokenizer=tok, max_new_tokens=5)
    assert a.attrs["biobft"]["cache"]["dir"] != b.attrs["biobft"]["cache"]["dir"]
    assert a.attrs["biobft"]["model"].startswith("weights:")
    h0 = weights_hash(model)
    assert weights_hash(model) == h0
    import torch

    with torch.no_grad():
        next(model.parameters())[0, 0] += 1.0
    assert weights_hash(model) != h0
    c = describe_genes(["TP53"], model=model, tokenizer=tok, max_new_tokens=4)
    assert c.attrs["biobft"]["cache"]["hits"] == 0  # changed weights never reuse old profiles


def test_profile_cache_rejects_inconsistent_shards(tmp_path):
    store = ProfileCache({"model": "x"}, root=tmp_path)
    store.write(["A", "B"], ["a", "b"])
    (store.path / "shard-bad1.json").write_text(json.dumps({"key": store.key, "genes": ["C"],
                                                            "profiles": ["c", "d"]}))  # fmt: skip
    (store.path / "shard-bad2.json").write_text(json.dumps({"key": "other", "genes": ["D"],
                                                            "profiles": ["d"]}))  # fmt: skip
    assert store.load() == {"A": "a", "B": "b"}
    with pytest.raises(ValueError, match=r"2 genes for 1 profiles"):
        store.write(["A", "B"], ["a"])


def test_seeded_sampling_is_reproducible(tiny_lm, cache_root):
    model, tok = tiny_lm
    kw = dict(model=model, tokenizer=tok, max_new_tokens=8, do_sample=True, cache=False)
    a = describe_genes(GENES, seed=1, **kw)
    b = describe_genes(GENES, seed=1, **kw)
    c = describe_genes(GENES, seed=2, **kw)
    assert a.tolist() == b.tolist()
    assert a.tolist() != c.tolist()
    assert a.attrs["biobft"]["seed"] == 1


def test_no_chat_template_falls_back_to_plain_prompt(tiny_lm, cache_root, caplog):
    import torch

    model, tok = tiny_lm
    tok.chat_template = None
    profiles = describe_genes(["TP53", "KLF1"], model=model, tokenizer=tok, max_new_tokens=5,
                              cache=False)  # fmt: skip
    assert "no chat template" in caplog.text
    assert profiles.attrs["biobft"]["chat_template"] is False
    ids = tok("Tell me about gene TP53.\n", return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=5,
                             do_sample=False, pad_token_id=tok.pad_token_id)  # fmt: skip
    assert profiles["TP53"] == tok.decode(out[0, ids.shape[1] :], skip_special_tokens=True).strip()


def test_profiles_feed_embed_genes(tiny_lm, cache_root):
    from biobft.embed import embed_genes

    model, tok = tiny_lm
    profiles = describe_genes(GENES[:3], model=model, tokenizer=tok, max_new_tokens=6)
    table = embed_genes(source=profiles, model=(model, tok), model_id="tiny", precision="fp32")
    assert list(table.index) == GENES[:3]
    assert table.shape == (3, 32) and np.isfinite(table.to_numpy()).all()
    assert table.attrs["biobft"]["source"] == "series:profile"


def test_model_by_folder_and_duplicates(tiny_lm_dir, cache_root):
    profiles = describe_genes(["TP53", "TP53", "KLF1"], model=tiny_lm_dir, max_new_tokens=3)
    assert list(profiles.index) == ["TP53", "KLF1"]
    assert profiles.attrs["biobft"]["model"].startswith("path:")


@pytest.mark.parametrize(
    ("genes", "kwargs", "err", "match"),
    [
        ([], {}, ValueError, "genes is empty"),
        (
            ["TP53", float("nan")],
            {},
            ValueError,
            r"missing, empty or non-string .* position\(s\) \[1\]",
        ),
        (["TP53", None], {}, ValueError, "missing, empty or non-string"),
        (["TP53", "  "], {}, ValueError, "missing, empty or non-string"),
        (pd.Series(["TP53", 3]), {}, ValueError, "non-string"),
        (["TP53"], {"prompt": "Tell me about it."}, ValueError, r"\{gene\}"),
        (["TP53"], {"prompt": "About {gene} and {other}."}, ValueError, "placeholder other"),
        (["TP53"], {"max_new_tokens": 0}, ValueError, "max_new_tokens must be >= 1"),
        (["TP53"], {"batch_size": 0}, ValueError, "batch_size must be >= 1"),
        (["TP53"], {"do_sample": True, "temperature": 0}, ValueError, "temperature > 0"),
        (["TP53"], {"tokenizer": None}, ValueError, "pass its tokenizer"),
        (["TP53"], {"model": 42}, TypeError, r"\.generate\(\)"),
        (["TP53"], {"model": "/no/such/model-folder"}, FileNotFoundError, "neither a packaged"),
    ],
)
def test_bad_input(tiny_lm, cache_root, genes, kwargs, err, match):
    model, tok = tiny_lm
    opts = {"model": model, "tokenizer": tok, **kwargs}
    with pytest.raises(err, match=match):
        describe_genes(genes, **opts)
    assert not cache_root.exists() or not any(cache_root.rglob("shard-*"))


def test_device_is_checked_before_the_model_loads(cache_root, monkeypatch):
    """describe_genes(device=...) goes through the same resolve_device as encode/embed_genes."""
    import torch

    from biobft import models

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(models, "load_causal_lm", lambda *a, **k: pytest.fail("model loaded"))
    with pytest.raises(ValueError, match=r"device='cuda' cannot be used"):
        describe_genes(["TP53"], model="smollm2-135m", device="cuda")
    with pytest.raises(ValueError, match=r"unknown device 'gpu'"):
        describe_genes(["TP53"], model="smollm2-135m", device="gpu")
