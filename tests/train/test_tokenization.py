"""Tests of biobft.train.tokenization: response-only labels under chat templates and the plain
format, stop tokens, the pad token."""

from __future__ import annotations

import logging

import pytest

from biobft.train.tokenization import ensure_pad_token, tokenize_example


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


def test_missing_pad_token_is_set_and_logged(tiny_lm, caplog):
    _, tok = tiny_lm
    tok.pad_token = None
    assert tok.pad_token is None
    with caplog.at_level(logging.WARNING, logger="biobft.train.tokenization"):
        ensure_pad_token(tok)
    assert tok.pad_token == tok.eos_token
    assert "tokenizer has no pad token" in caplog.text


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
