"""Tests of biobft.train.data: JSONL parsing, response-only labels, truncation, gene builder."""

from __future__ import annotations

import json
import logging

import pandas as pd
import pytest
import torch

from biobft.train.data import (
    DataCollatorForCompletion,
    ensure_pad_token,
    gene_instruction_records,
    load_instruction_dataset,
    read_jsonl,
    tokenize_example,
    write_jsonl,
)


def _labelled_text(feat, tokenizer):
    ids = [y for y in feat["labels"] if y != -100]
    return tokenizer.decode(ids)


def test_prompt_response_chat_template_labels_only_response(tiny_lm):
    _, tok = tiny_lm
    rec = {"prompt": "Tell me about gene TP53 .", "response": "This gene encodes a protein ."}
    feat, truncated = tokenize_example(rec, tok, max_length=64)
    assert not truncated
    full = tok.decode(feat["input_ids"])
    assert full.startswith("<|im_start|> user")
    # labels: exactly the assistant content and its end-of-turn token
    assert _labelled_text(feat, tok) == "This gene encodes a protein . <|im_end|>"
    n_lab = sum(y != -100 for y in feat["labels"])
    assert n_lab == 7
    # labelled positions are a suffix block: everything before is prompt / template
    first = next(i for i, y in enumerate(feat["labels"]) if y != -100)
    assert all(y != -100 for y in feat["labels"][first:])
    assert feat["labels"][first:] == feat["input_ids"][first:]


def test_multi_turn_messages_label_every_assistant_turn(tiny_lm):
    _, tok = tiny_lm
    rec = {
        "messages": [
            {"role": "system", "content": "hello"},
            {"role": "user", "content": "Tell me about gene KLF1 ."},
            {"role": "assistant", "content": "a transcription factor"},
            {"role": "user", "content": "and TP53 ?"},
            {"role": "assistant", "content": "a tumor suppressor"},
        ]
    }
    feat, _ = tokenize_example(rec, tok, max_length=128)
    assert _labelled_text(feat, tok) == (
        "a transcription factor <|im_end|> a tumor suppressor <|im_end|>"
    )


def test_plain_format_without_chat_template(tiny_lm):
    _, tok = tiny_lm
    rec = {"prompt": "Tell me about gene TP53 .", "response": "This gene"}
    feat, _ = tokenize_example(rec, tok, max_length=64, use_chat_template=False)
    assert tok.decode(feat["input_ids"]) == "Tell me about gene TP53 . This gene <|im_end|>"
    assert _labelled_text(feat, tok) == "This gene <|im_end|>"


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


def test_missing_pad_token_is_set_and_logged(tiny_lm, caplog):
    _, tok = tiny_lm
    tok.pad_token = None
    assert tok.pad_token is None
    with caplog.at_level(logging.WARNING, logger="biobft.train.data"):
        ensure_pad_token(tok)
    assert tok.pad_token == tok.eos_token
    assert "tokenizer has no pad token" in caplog.text


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


OPEN_TEMPLATE = (  # the assistant turn is closed only by the next role marker
    "{% for m in messages %}{{ m['role'] }} {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant {% endif %}"
)


def test_open_chat_template_warns_and_trains_eos(tiny_lm):
    """Issue 12 case 6: a template that never closes the assistant turn gets EOS appended."""
    _, tok = tiny_lm
    tok.chat_template = OPEN_TEMPLATE
    rec = {
        "messages": [
            {"role": "user", "content": "Tell me about gene KLF1 ."},
            {"role": "assistant", "content": "a transcription factor"},
            {"role": "user", "content": "and TP53 ?"},
            {"role": "assistant", "content": "a tumor suppressor"},
        ]
    }
    with pytest.warns(UserWarning, match=r"does not close the assistant turn.*appended eos_token"):
        feat, _ = tokenize_example(rec, tok, max_length=128)
    assert _labelled_text(feat, tok) == (
        "a transcription factor <|im_end|> a tumor suppressor <|im_end|>"
    )
    eos = tok.eos_token_id
    assert feat["input_ids"].count(eos) == 2  # exactly one stop token per assistant turn


def test_chatml_template_needs_no_fix(tiny_lm):
    """The ChatML fixture template closes turns with <|im_end|>: no warning, nothing appended."""
    import warnings

    _, tok = tiny_lm
    rec = {"prompt": "Tell me about gene TP53 .", "response": "a protein ."}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        feat, _ = tokenize_example(rec, tok, max_length=64)
    assert _labelled_text(feat, tok) == "a protein . <|im_end|>"  # the template's own stop
    assert feat["input_ids"].count(tok.eos_token_id) == 2  # user and assistant turn, no extra


def test_no_eos_token_says_why(tiny_lm):
    _, tok = tiny_lm
    tok.chat_template = OPEN_TEMPLATE
    tok.eos_token = None
    rec = {"prompt": "Tell me about gene TP53 .", "response": "a protein ."}
    with pytest.warns(UserWarning, match="no eos_token, so the model cannot learn to stop"):
        tokenize_example(rec, tok, max_length=64)
    with pytest.warns(UserWarning, match="no eos_token, so the model cannot learn to stop"):
        tokenize_example(rec, tok, max_length=64, use_chat_template=False)
