"""Tokenisation of one instruction record with response-only labels (chat template or plain).

With a chat template (default when the tokenizer has one), a prompt/response pair becomes a
user/assistant conversation; every assistant message is a training target (its content and the
template's end-of-turn tokens), everything else is ``-100``. Without a template,
``prompt + "\\n" + response + eos`` is used and the response plus EOS is the target. Records are
read and validated by :mod:`biobft.train.data`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from .logprobs import IGNORE_INDEX

logger = logging.getLogger(__name__)

__all__ = ["ensure_pad_token", "tokenize_example"]


def ensure_pad_token(tokenizer):
    """Give ``tokenizer`` a pad token if it has none (EOS, else UNK) and log it; returns it."""
    if tokenizer.pad_token is not None:
        return tokenizer
    for name in ("eos_token", "unk_token"):
        tok = getattr(tokenizer, name, None)
        if tok is not None:
            tokenizer.pad_token = tok
            logger.warning(
                "tokenizer has no pad token; using its %s %r as pad token (padding is masked)",
                name,
                tok,
            )
            return tokenizer
    raise ValueError(
        "tokenizer has no pad, eos or unk token to pad with; set tokenizer.pad_token first"
    )


def _as_messages(rec: Mapping[str, Any]) -> list[dict]:
    if "messages" in rec:
        return [{"role": m["role"], "content": m["content"]} for m in rec["messages"]]
    return [
        {"role": "user", "content": rec["prompt"]},
        {"role": "assistant", "content": rec["response"]},
    ]


def _chat_spans(messages: list[dict], tokenizer) -> tuple[str, list[tuple[int, int]]]:
    """Full chat text and the character spans of every assistant turn (template-rendered)."""

    def render(msgs, gen):
        return tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=gen)

    full = render(messages, False)
    spans = []
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        prefix = render(messages[:i], True) if i else ""
        upto = render(messages[: i + 1], False)
        if not (full.startswith(upto) and upto.startswith(prefix)):
            raise ValueError(
                "the tokenizer's chat template does not render conversations prefix-consistently; "
                "response-only labels cannot be located -- pass use_chat_template=False"
            )
        spans.append((len(prefix), len(upto)))
    return full, spans


def _close_turns(
    text: str, spans: list[tuple[int, int]], messages: list[dict], tokenizer
) -> tuple[str, list[tuple[int, int]]]:
    """Make every assistant span end with a stop token the model is trained on.

    A span is closed when the template renders something after the assistant content inside the
    turn (ChatML ``<|im_end|>``, Llama-3 ``<|eot_id|>``, ...). A template whose assistant turn is
    only closed by the next role marker leaves the model without a trained stop token: EOS is
    appended to such turns (as the no-template path does) with a warning, or, without an EOS
    token, a warning says why the model cannot learn to stop.
    """
    contents = [str(m["content"]) for m in messages if m["role"] == "assistant"]
    eos = tokenizer.eos_token or ""
    out, new_spans, last, shift, unclosed = [], [], 0, 0, 0
    for (lo, hi), content in zip(spans, contents):
        turn = text[lo:hi]
        body = content.strip()
        at = turn.rfind(body) if body else -1
        closed = at < 0 or bool(turn[at + len(body) :].strip())
        out.append(text[last:hi])
        last = hi
        if closed or not eos:
            unclosed += not closed
            new_spans.append((lo + shift, hi + shift))
            continue
        unclosed += 1
        out.append(eos)
        new_spans.append((lo + shift, hi + shift + len(eos)))
        shift += len(eos)
    out.append(text[last:])
    if unclosed:
        import warnings

        if eos:
            msg = (
                f"the chat template does not close the assistant turn with an end-of-turn "
                f"token, so the model would never learn to stop; appended eos_token {eos!r} "
                "to each assistant turn (pass use_chat_template=False for the plain format)"
            )
        else:
            msg = (
                "the chat template does not close the assistant turn and the tokenizer has no "
                "eos_token, so the model cannot learn to stop: set tokenizer.eos_token (or "
                "use a template that ends the assistant turn with an end-of-turn token)"
            )
        warnings.warn(msg, UserWarning, stacklevel=3)
    return "".join(out), new_spans


def tokenize_example(
    rec: Mapping[str, Any], tokenizer, *, max_length: int = 512, use_chat_template: bool = True
) -> tuple[dict[str, list[int]] | None, bool]:
    """Tokenise one record with response-only labels.

    Every template / tokenizer combination either trains a stop token or warns why it cannot:
    a chat template that does not close the assistant turn with an end-of-turn token gets the
    EOS token appended to each assistant turn (with a :class:`UserWarning`); a tokenizer without
    an EOS token warns.

    Returns
    -------
    features
        ``{"input_ids", "attention_mask", "labels"}`` (lists), or ``None`` when truncation left no
        response token to train on.
    truncated
        Whether the sample was longer than ``max_length``.
    """
    chat = use_chat_template and getattr(tokenizer, "chat_template", None)
    if chat:
        messages = _as_messages(rec)
        text, spans = _chat_spans(messages, tokenizer)
        text, spans = _close_turns(text, spans, messages, tokenizer)
        add_special = False
    else:
        if "messages" in rec:
            msgs = rec["messages"]
            last = max(i for i, m in enumerate(msgs) if m["role"] == "assistant")
            prompt = "\n".join(str(m["content"]) for m in msgs[:last])
            response = str(msgs[last]["content"])
        else:
            prompt, response = rec["prompt"], rec["response"]
        sep = "" if not prompt or prompt[-1].isspace() else "\n"
        head = prompt + sep
        if not tokenizer.eos_token:
            import warnings

            warnings.warn(
                "the tokenizer has no eos_token, so the model cannot learn to stop; set "
                "tokenizer.eos_token before building the training data",
                UserWarning,
                stacklevel=2,
            )
        text = head + response + (tokenizer.eos_token or "")
        spans = [(len(head), len(text))]
        add_special = True
    enc = tokenizer(text, add_special_tokens=add_special, return_offsets_mapping=True)
    ids = list(enc["input_ids"])
    labels = [IGNORE_INDEX] * len(ids)
    for j, (s, e) in enumerate(enc["offset_mapping"]):
        if e > s and any(s < hi and e > lo for lo, hi in spans):
            labels[j] = ids[j]
    truncated = len(ids) > max_length
    ids, labels = ids[:max_length], labels[:max_length]
    if all(y == IGNORE_INDEX for y in labels[1:]):
        return None, truncated
    return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels}, truncated
