"""Gene profiles: a causal LM writes a short text about each gene ("Tell me about gene X.").

:func:`describe_genes` runs batched generation (greedy, or seeded sampling) with the tokenizer's
chat template and LEFT padding under ``torch.inference_mode()``. Profiles are cached like
embeddings: one folder per generation configuration (``cache_dir("profiles", key)``, key = sha256
of the model id, prompt, system prompt, chat template and generation settings); each finished batch
is one ``shard-*.json`` file written atomically, so an interrupted run resumes from the last
finished batch and a corrupt shard is skipped (logged), never read.

The returned ``pandas.Series`` (gene symbol -> profile) is a text source for
:func:`biobft.embed.embed_genes` (``source=profiles``).

Tokenizers without a chat template fall back to the plain prompt (the prompt text followed by a
newline, with the tokenizer's special tokens); this is logged and recorded in the metadata and the
cache key (``"chat_template": False``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from .._paths import atomic_path
from .cache import ShardCache

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_PROMPT", "ProfileCache", "describe_genes", "weights_hash"]

DEFAULT_PROMPT = "Tell me about gene {gene}."
"""Default prompt; ``{gene}`` (or ``{symbol}``) is replaced by the gene symbol."""


# --------------------------------------------------------------------------- cache
class ProfileCache(ShardCache):
    """Shards of ``gene -> generated profile`` for one generation configuration.

    Parameters
    ----------
    config
        JSON-serialisable description of everything that changes the generated text.
    root
        Folder under which the configuration's folder lives; default ``cache_dir("profiles")``.
    """

    kind = "profiles"
    suffix = ".json"

    def load(self) -> dict[str, str]:
        """All cached profiles as ``{gene: text}`` (unreadable or inconsistent shards skipped)."""
        out: dict[str, str] = {}
        for shard in self.shards():
            try:
                data = json.loads(shard.read_text(encoding="utf-8"))
                genes, texts = data["genes"], data["profiles"]
                if (
                    data.get("key") != self.key
                    or not isinstance(genes, list)
                    or not isinstance(texts, list)
                    or len(genes) != len(texts)
                    or not all(isinstance(x, str) for x in [*genes, *texts])
                ):
                    raise ValueError("inconsistent shard")
            except Exception as err:
                logger.warning("skipping unreadable profile cache shard %s (%s)", shard, err)
                continue
            out.update(zip(genes, texts))
        return out

    def write(self, genes: list[str], texts: list[str]) -> Path:
        """Write one shard atomically; returns its path."""
        if len(genes) != len(texts):
            raise ValueError(f"{len(genes)} genes for {len(texts)} profiles")
        name = hashlib.sha256("\x00".join(genes).encode()).hexdigest()[:20]
        target = self.path / f"shard-{name}.json"
        record = {"key": self.key, "genes": list(genes), "profiles": list(texts)}
        with atomic_path(target) as tmp:
            tmp.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
        return target


def weights_hash(model, n: int = 16) -> str:
    """sha256 (first ``n`` hex digits) of a model's parameters and buffers (names, dtypes, bytes).

    Identifies an in-memory model (e.g. a freshly fine-tuned one) for cache keys: two models with
    bit-identical weights share cache entries, any changed weight gives a new key.
    """
    import torch

    h = hashlib.sha256()
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            t = tensor.detach()
            if t.dtype == torch.bfloat16:
                t = t.view(torch.int16)
            h.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
            h.update(t.cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:n]


# --------------------------------------------------------------------------- inputs
def _check_genes(genes: Iterable[str] | str) -> list[str]:
    if isinstance(genes, str):
        genes = [genes]
    try:
        items = list(genes.tolist() if hasattr(genes, "tolist") else genes)
    except TypeError:
        raise TypeError(
            f"genes must be a list of gene symbols; got {type(genes).__name__}"
        ) from None
    if not items:
        raise ValueError("genes is empty; pass at least one gene symbol to describe")
    bad = [
        i
        for i, g in enumerate(items)
        if g is None
        or (isinstance(g, float) and math.isnan(g))
        or not isinstance(g, str)
        or not g.strip()
    ]
    if bad:
        raise ValueError(
            f"genes has {len(bad)} missing, empty or non-string value(s) at position(s) "
            f"{bad[:10]} (e.g. {items[bad[0]]!r}); drop them (e.g. series.dropna()) first"
        )
    out = list(dict.fromkeys(g.strip() for g in items))
    if len(out) < len(items):
        logger.info("describe_genes: %d duplicate gene symbol(s) dropped", len(items) - len(out))
    return out


def _check_prompt(prompt: str) -> str:
    if not isinstance(prompt, str) or ("{gene}" not in prompt and "{symbol}" not in prompt):
        raise ValueError(
            f"prompt must be a string with a '{{gene}}' placeholder, got {prompt!r}; "
            "e.g. 'Tell me about gene {gene}.'"
        )
    try:
        prompt.format(gene="TP53", symbol="TP53")
    except (KeyError, IndexError, ValueError) as err:
        raise ValueError(
            f"prompt {prompt!r} has a placeholder other than {{gene}} ({err}); escape literal "
            "braces as '{{' and '}}'"
        ) from None
    return prompt


def _resolve_model(model: Any, tokenizer: Any, device: str | None):
    """``(model, tokenizer, model_id)`` from a name/path or a loaded model + tokenizer."""
    if isinstance(model, (str, os.PathLike)):
        from ..models import load_causal_lm
        from .encoding import model_id as _model_id
        from .runtime import resolve_device

        lm, tok = load_causal_lm(model, device=resolve_device(device))
        if tokenizer is not None:
            tok = tokenizer
        return lm, tok, _model_id(model)
    if not hasattr(model, "generate"):
        raise TypeError(
            f"model must be a causal LM name/folder or a loaded transformers model with "
            f".generate(); got {type(model).__name__}"
        )
    if tokenizer is None:
        raise ValueError(
            "model is a loaded model object: pass its tokenizer too (tokenizer=...), or pass "
            "the model's name or folder instead"
        )
    return model, tokenizer, None


def _render(tokenizer, prompts: list[str], system_prompt: str | None, use_chat: bool) -> list[str]:
    if not use_chat:
        return [p + "\n" for p in prompts]
    out = []
    for p in prompts:
        messages = [{"role": "user", "content": p}]
        if system_prompt is not None:
            messages.insert(0, {"role": "system", "content": system_prompt})
        out.append(
            tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        )
    return out


def _batch_seed(seed: int, genes: list[str]) -> int:
    """Seed of one sampled batch: depends on the run seed and the batch's genes only."""
    blob = f"{seed}\x00" + "\x00".join(genes)
    return int(hashlib.sha256(blob.encode()).hexdigest()[:8], 16)


def _generate_batch(
    model,
    tokenizer,
    texts: list[str],
    *,
    add_special_tokens: bool,
    gen_kwargs: dict[str, Any],
) -> list[str]:
    """Generate for one LEFT-padded batch of rendered prompts; returns the decoded new text."""
    import torch

    enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=add_special_tokens)
    device = next(model.parameters()).device
    enc = {k: v.to(device) for k, v in enc.items() if k in ("input_ids", "attention_mask")}
    with torch.inference_mode():
        out = model.generate(**enc, **gen_kwargs)
    new = out[:, enc["input_ids"].shape[1] :].cpu()
    return [t.strip() for t in tokenizer.batch_decode(new, skip_special_tokens=True)]


# --------------------------------------------------------------------------- main
def describe_genes(
    genes: Iterable[str] | str,
    *,
    model: Any = "smollm2-135m",
    tokenizer: Any = None,
    prompt: str = DEFAULT_PROMPT,
    system_prompt: str | None = None,
    max_new_tokens: int = 128,
    batch_size: int = 8,
    do_sample: bool = False,
    temperature: float = 0.7,
    top_p: float = 0.9,
    seed: int = 0,
    cache: bool = True,
    show_progress_bar: bool | None = None,
    model_id: str | None = None,
    device: str | None = None,
) -> pd.Series:
    """Let a causal LM write a profile of each gene.

    Parameters
    ----------
    genes
        Gene symbols (duplicates are dropped, order kept).
    model
        A causal LM name (``"smollm2-135m"``) or folder, loaded with
        :func:`biobft.models.load_causal_lm`; or a loaded ``transformers`` causal LM (then
        ``tokenizer`` is required).
    tokenizer
        The model's tokenizer (required with a loaded model).
    prompt
        User message; ``{gene}`` (or ``{symbol}``) is replaced by the symbol.
    system_prompt
        Optional system message (``None``: the chat template's default, if any).
    max_new_tokens
        Upper bound on generated tokens per gene (generation stops early at EOS).
    batch_size
        Prompts per ``generate`` call (left-padded).
    do_sample
        ``False``: greedy decoding. ``True``: sampling with ``temperature`` and ``top_p``, seeded
        per batch from ``seed`` and the batch's genes (reproducible for the same gene list and
        ``batch_size``).
    temperature, top_p
        Sampling settings (ignored when greedy).
    seed
        Sampling seed.
    cache
        Reuse and store profiles under ``cache_dir("profiles", key)``; key = model id, prompt,
        system prompt, chat template, generation settings. A loaded model without ``model_id`` is
        identified by :func:`weights_hash` of its parameters.
    show_progress_bar
        tqdm bar over genes; ``None``: when there is more than one batch to generate.
    model_id
        Identifier of the model for the cache key and metadata (default: derived from ``model``).
    device
        Device for a model loaded by name (default: CUDA when available).

    Returns
    -------
    pandas.Series
        Index ``gene`` (the requested symbols), values the generated profiles, name ``"profile"``.
        ``series.attrs["biobft"]`` records the model id, prompt, settings, whether the chat
        template was used, cache hits, wall time and ``empty`` (genes whose profile is empty;
        :func:`~biobft.embed.embed_genes` reports them as missing).

    Raises
    ------
    ValueError
        Empty ``genes``, missing/empty/non-string symbols, a prompt without ``{gene}``, bad
        ``max_new_tokens`` / ``batch_size`` / ``temperature``, a loaded model without tokenizer.
    TypeError
        ``model`` is neither a name/path nor a model with ``generate``.
    FileNotFoundError
        A model path that does not exist.
    """
    import torch
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    items = _check_genes(genes)
    prompt = _check_prompt(prompt)
    if int(max_new_tokens) < 1:
        raise ValueError(f"max_new_tokens must be >= 1; got {max_new_tokens}")
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1; got {batch_size}")
    if do_sample and not (temperature > 0 and 0 < top_p <= 1):
        raise ValueError(
            f"sampling needs temperature > 0 and 0 < top_p <= 1; got {temperature}, {top_p}"
        )
    lm, tok, mid = _resolve_model(model, tokenizer, device)
    mid = model_id or mid
    use_chat = bool(getattr(tok, "chat_template", None))
    if not use_chat:
        logger.warning(
            "tokenizer has no chat template: prompting with the plain prompt text instead"
        )
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token if tok.eos_token is not None else tok.unk_token
        if tok.pad_token is None:
            raise ValueError("tokenizer has no pad, eos or unk token; set tokenizer.pad_token")
        logger.info("tokenizer had no pad token; using %r", tok.pad_token)

    settings = {
        "prompt": prompt,
        "system_prompt": system_prompt,
        "chat_template": (
            hashlib.sha256(str(tok.chat_template).encode()).hexdigest()[:16] if use_chat else False
        ),
        "max_new_tokens": int(max_new_tokens),
        "do_sample": bool(do_sample),
        "temperature": float(temperature) if do_sample else None,
        "top_p": float(top_p) if do_sample else None,
        "seed": int(seed) if do_sample else None,
        "batch_size": int(batch_size) if do_sample else None,
    }
    store = None
    cached: dict[str, str] = {}
    if cache:
        if mid is None:
            mid = f"weights:{weights_hash(lm)}"
        store = ProfileCache({"model": mid, **settings})
        cached = store.load()
    todo = [g for g in items if g not in cached]
    batches = [todo[i : i + batch_size] for i in range(0, len(todo), batch_size)]
    show = len(batches) > 1 if show_progress_bar is None else bool(show_progress_bar)

    gen_kwargs: dict[str, Any] = {
        "max_new_tokens": int(max_new_tokens),
        "do_sample": bool(do_sample),
        "pad_token_id": tok.pad_token_id,
    }
    if tok.eos_token_id is not None:
        gen_kwargs["eos_token_id"] = tok.eos_token_id
    if do_sample:
        gen_kwargs.update(temperature=float(temperature), top_p=float(top_p), top_k=0)
    else:
        # neutralise sampling defaults of the model's generation_config (avoids warnings)
        gen_kwargs.update(temperature=None, top_p=None, top_k=None)

    new: dict[str, str] = {}
    old_side = tok.padding_side
    was_training = lm.training
    tok.padding_side = "left"
    lm.eval()
    try:
        with tqdm(total=len(todo), desc="describe genes", unit="gene", disable=not show) as bar:
            for batch in batches:
                texts = _render(tok, [prompt.format(gene=g, symbol=g) for g in batch],
                                system_prompt, use_chat)  # fmt: skip
                if do_sample:
                    torch.manual_seed(_batch_seed(seed, batch))
                outs = _generate_batch(
                    lm, tok, texts, add_special_tokens=not use_chat, gen_kwargs=gen_kwargs
                )
                if store is not None:
                    store.write(batch, outs)
                new.update(zip(batch, outs))
                bar.update(len(batch))
    finally:
        tok.padding_side = old_side
        if was_training:
            lm.train()

    values = [cached[g] if g in cached else new[g] for g in items]
    empty = [g for g, v in zip(items, values) if not str(v).strip()]
    if empty:  # reported, and embed_genes drops them as genes without a text
        logger.warning(
            "%d of %d generated profile(s) are empty (e.g. %s); embed_genes reports them as "
            "missing: raise max_new_tokens or change the prompt",
            len(empty),
            len(items),
            ", ".join(empty[:5]),
        )
    series = pd.Series(values, index=pd.Index(items, name="gene"), name="profile", dtype=object)
    series.attrs["biobft"] = {
        "model": mid,
        **settings,
        "chat_template": bool(use_chat),
        "n_genes": len(items),
        "cache": {
            "enabled": store is not None,
            "dir": str(store.path) if store else None,
            "hits": len(items) - len(todo),
            "generated": len(todo),
        },
        "seconds": round(time.perf_counter() - t0, 3),
        "empty": empty,
    }
    return series
