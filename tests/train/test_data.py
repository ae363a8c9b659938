"""Tests of biobft.train.data: JSONL parsing, datasets, truncation, collation, gene builder."""

from __future__ import annotations

import json
import logging

import pandas as pd
import pytest
import torch

from biobft.train.data import (
    DataCollatorForCompletion,
    gene_instruction_records,
    load_instruction_dataset,
    read_jsonl,
    write_jsonl,
)


def test_truncation_is_counted_and_logged(tiny_lm, caplog):
    _, tok = tiny_lm
    recs = [
        {"prompt": "Tell me about gene TP53 .", "response": "This gene " * 20},
        {"prompt": "hello " * 40, "response": "a gene"},  # response cut off entirely
        {"prompt": "hello", "response": "a gene"},
    ]
    with caplog.at_level(logging.WARNING, logger="biobft.train.data"):
        ds = load_instruction_dataset(recs, tok, max_length=24)
    assert len(ds) == 2 and ds.n_truncated == 2 and ds.n_dropped == 1
    assert all(len(f["input_ids"]) <= 24 for f in ds)
    assert "truncated 2 of 3 samples to max_length=24" in caplog.text
    assert "dropped 1" in caplog.text


def test_collator_pads_right_with_masks(tiny_lm):
    _, tok = tiny_lm
    feats = [
        {"input_ids": [5, 6, 7], "attention_mask": [1, 1, 1], "labels": [-100, 6, 7]},
        {"input_ids": [8], "attention_mask": [1], "labels": [8]},
    ]
    batch = DataCollatorForCompletion(tok, pad_to_multiple_of=4)(feats)
    assert batch["input_ids"].tolist() == [
        [5, 6, 7, tok.pad_token_id],
        [8] + [tok.pad_token_id] * 3,
    ]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 0], [1, 0, 0, 0]]
    assert batch["labels"].tolist() == [[-100, 6, 7, -100], [8, -100, -100, -100]]
    assert batch["labels"].dtype == torch.long


def test_jsonl_roundtrip_and_errors(tmp_path):
    recs = [{"prompt": "a", "response": "b"}, {"messages": [{"role": "assistant", "content": "x"}]}]
    path = write_jsonl(recs, tmp_path / "d" / "x.jsonl")
    assert read_jsonl(path) == recs
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "a", "response": "b"}\n\n{"prompt": "a"\n')
    with pytest.raises(ValueError, match=r"bad.jsonl: line 3: invalid JSON"):
        read_jsonl(bad)
    bad.write_text('{"prompt": "a", "response": "b"}\n{"prompt": "a", "answer": "b"}\n')
    with pytest.raises(ValueError, match=r"line 2: missing field 'response'"):
        read_jsonl(bad)
    bad.write_text('{"messages": [{"role": "user", "content": "q"}]}\n')
    with pytest.raises(ValueError, match=r"line 1: 'messages' has no assistant message"):
        read_jsonl(bad)
    bad.write_text("\n\n")
    with pytest.raises(ValueError, match="empty dataset"):
        read_jsonl(bad)
    with pytest.raises(FileNotFoundError, match="not found"):
        read_jsonl(tmp_path / "none.jsonl")
    with pytest.raises(ValueError, match="empty dataset"):
        load_instruction_dataset([], None)
    with pytest.raises(ValueError, match="no records to write"):
        write_jsonl([], tmp_path / "empty.jsonl")
    assert not (tmp_path / "empty.jsonl").exists()


def test_empty_after_truncation_raises(tiny_lm):
    _, tok = tiny_lm
    with pytest.raises(ValueError, match="empty dataset after tokenisation"):
        load_instruction_dataset([{"prompt": "hello " * 30, "response": "a"}], tok, max_length=8)


def test_gene_records_split_is_gene_disjoint_and_seeded():
    genes = [f"G{i}" for i in range(20)]
    texts = pd.Series([f"text of {g}" for g in genes] + ["second text of G3"], index=[*genes, "G3"])
    train, evals = gene_instruction_records(texts, eval_fraction=0.25, seed=1, exclude_genes={"G0"})
    tg, eg = {r["gene"] for r in train}, {r["gene"] for r in evals}
    assert not tg & eg and "G0" not in tg | eg
    assert len(eg) == round(0.25 * 19) and len(tg) == 19 - len(eg)
    assert sum(r["gene"] == "G3" for r in train + evals) == 2
    r = next(r for r in train + evals if r["gene"] == "G5")
    assert r == {"prompt": "Tell me about gene G5.", "response": "text of G5", "gene": "G5"}
    again = gene_instruction_records(texts, eval_fraction=0.25, seed=1, exclude_genes={"G0"})
    assert again == (train, evals)
    other = gene_instruction_records(texts, eval_fraction=0.25, seed=2, exclude_genes={"G0"})
    assert {r["gene"] for r in other[1]} != eg
    with pytest.raises(ValueError, match="eval_fraction"):
        gene_instruction_records(texts, eval_fraction=1.0)
    with pytest.raises(ValueError, match="every gene excluded"):
        gene_instruction_records(texts, exclude_genes=set(genes))
    with pytest.raises(TypeError, match="pandas Series"):
        gene_instruction_records({"A": "x"})


@pytest.mark.realdata
def test_gene_instruction_data_from_refseq(data_mirror, tiny_lm):
    from biobft.train.data import build_gene_instruction_data

    train, evals = build_gene_instruction_data(
        ["TP53", "KLF1", "BRCA1", "EGFR", "MYC"], eval_fraction=0.2, seed=0
    )
    assert len(train) == 4 and len(evals) == 1
    tp53 = next(r for r in train + evals if r["gene"] == "TP53")
    assert tp53["prompt"] == "Tell me about gene TP53."
    assert "tumor" in tp53["response"].lower() and not tp53["response"].startswith("Gene symbol")
    _, tok = tiny_lm
    assert len(load_instruction_dataset(train, tok, max_length=64)) == 4
    json.dumps(train)
