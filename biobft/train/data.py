"""Instruction data: JSONL -> tokenised samples with response-only labels; gene instruction builder.

A JSONL line is either ``{"prompt": str, "response": str}`` or ``{"messages": [{"role", "content"},
...]}`` (other keys are ignored). Each record is tokenised with response-only labels (chat
template or plain format) by :func:`biobft.train.tokenization.tokenize_example`.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .logprobs import IGNORE_INDEX
from .tokenization import ensure_pad_token, tokenize_example

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_GENE_PROMPT",
    "DataCollatorForCompletion",
    "InstructionDataset",
    "build_gene_instruction_data",
    "ensure_pad_token",
    "gene_instruction_records",
    "load_instruction_dataset",
    "read_jsonl",
    "tokenize_example",
    "write_jsonl",
]

DEFAULT_GENE_PROMPT = "Tell me about gene {symbol}."


# --------------------------------------------------------------------------------------------
# JSONL
# --------------------------------------------------------------------------------------------
def _check_record(rec: Any, where: str) -> dict:
    if not isinstance(rec, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(rec).__name__}")
    if "messages" in rec:
        msgs = rec["messages"]
        if not isinstance(msgs, list) or not msgs:
            raise ValueError(f"{where}: 'messages' must be a non-empty list of {{role, content}}")
        for j, m in enumerate(msgs):
            if not isinstance(m, dict) or "role" not in m or "content" not in m:
                raise ValueError(
                    f"{where}: messages[{j}] must be an object with 'role' and 'content'"
                )
        if not any(m["role"] == "assistant" for m in msgs):
            raise ValueError(f"{where}: 'messages' has no assistant message to train on")
        return rec
    for key in ("prompt", "response"):
        if key not in rec:
            raise ValueError(
                f"{where}: missing field {key!r}; each line needs 'prompt' and 'response' "
                f"(or 'messages'), found keys {sorted(rec)}"
            )
        if not isinstance(rec[key], str):
            raise ValueError(f"{where}: field {key!r} must be a string")
    if not rec["response"].strip():
        raise ValueError(f"{where}: field 'response' is empty")
    return rec


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """Read and validate an instruction JSONL file (blank lines are skipped).

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ValueError
        Invalid JSON or a missing/ill-typed field (the message names the line number), or an
        empty file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"instruction data file not found: {path}")
    records = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            where = f"{path}: line {lineno}"
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{where}: invalid JSON ({err.msg})") from None
            records.append(_check_record(rec, where))
    if not records:
        raise ValueError(f"{path}: empty dataset (no JSON lines); nothing to train on")
    return records


def write_jsonl(records: Iterable[Mapping[str, Any]], path: str | os.PathLike) -> Path:
    """Write records as JSONL atomically (temp file + rename); returns the path."""
    from biobft._paths import atomic_path

    records = list(records)
    if not records:
        raise ValueError(f"no records to write to {path}")
    path = Path(path)
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8") as fh:
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    return path


# --------------------------------------------------------------------------------------------
# datasets and collation
# --------------------------------------------------------------------------------------------
@dataclass
class InstructionDataset(torch.utils.data.Dataset):
    """Tokenised samples (a list of feature dicts) plus truncation counts."""

    features: list[dict[str, list[int]]]
    n_truncated: int = 0
    n_dropped: int = 0

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, i: int) -> dict[str, list[int]]:
        return self.features[i]


def load_instruction_dataset(
    data: str | os.PathLike | Sequence[Mapping[str, Any]],
    tokenizer,
    *,
    max_length: int = 512,
    use_chat_template: bool = True,
    max_samples: int | None = None,
) -> InstructionDataset:
    """Read (a JSONL path) or take records and tokenise them with response-only labels.

    Samples longer than ``max_length`` are truncated (counted and logged); samples left without
    any response token are dropped (counted and logged).

    Raises
    ------
    ValueError
        Bad JSONL (line number named), or an empty dataset (before or after dropping).
    """
    if isinstance(data, (str, os.PathLike)):
        source = str(data)
        records = read_jsonl(data)
    else:
        source = "records"
        records = [_check_record(r, f"record {i}") for i, r in enumerate(data)]
        if not records:
            raise ValueError("empty dataset: no records given; nothing to train on")
    if max_samples is not None:
        records = records[:max_samples]
    ensure_pad_token(tokenizer)
    features, n_trunc, n_drop = [], 0, 0
    for rec in records:
        feat, truncated = tokenize_example(
            rec, tokenizer, max_length=max_length, use_chat_template=use_chat_template
        )
        n_trunc += truncated
        if feat is None:
            n_drop += 1
        else:
            features.append(feat)
    if n_trunc or n_drop:
        logger.warning(
            "%s: truncated %d of %d samples to max_length=%d; dropped %d with no response "
            "token left",
            source,
            n_trunc,
            len(records),
            max_length,
            n_drop,
        )
    else:
        logger.info(
            "%s: %d samples, none truncated (max_length=%d)", source, len(records), max_length
        )
    if not features:
        raise ValueError(
            f"{source}: empty dataset after tokenisation (all {len(records)} samples lost their "
            f"response to max_length={max_length}); increase max_length"
        )
    return InstructionDataset(features, n_truncated=n_trunc, n_dropped=n_drop)


class DataCollatorForCompletion:
    """Right-pad ``input_ids`` (pad id), ``attention_mask`` (0) and ``labels`` (-100) to a batch.

    Parameters
    ----------
    tokenizer
        Supplies ``pad_token_id`` (see :func:`ensure_pad_token`).
    pad_to_multiple_of
        Round the padded length up to a multiple of this (tensor-core friendly on GPU).
    """

    def __init__(self, tokenizer, *, pad_to_multiple_of: int | None = None):
        ensure_pad_token(tokenizer)
        self.pad_id = int(tokenizer.pad_token_id)
        self.pad_to_multiple_of = pad_to_multiple_of

    def __call__(self, features: Sequence[Mapping[str, Sequence[int]]]) -> dict[str, torch.Tensor]:
        length = max(len(f["input_ids"]) for f in features)
        if self.pad_to_multiple_of:
            m = self.pad_to_multiple_of
            length = (length + m - 1) // m * m
        out = {
            "input_ids": torch.full((len(features), length), self.pad_id, dtype=torch.long),
            "attention_mask": torch.zeros((len(features), length), dtype=torch.long),
            "labels": torch.full((len(features), length), IGNORE_INDEX, dtype=torch.long),
        }
        for i, f in enumerate(features):
            n = len(f["input_ids"])
            out["input_ids"][i, :n] = torch.as_tensor(f["input_ids"])
            out["attention_mask"][i, :n] = torch.as_tensor(f["attention_mask"])
            out["labels"][i, :n] = torch.as_tensor(f["labels"])
        return out


# --------------------------------------------------------------------------------------------
# gene instruction data
# --------------------------------------------------------------------------------------------
def gene_instruction_records(
    texts,
    *,
    prompt_template: str = DEFAULT_GENE_PROMPT,
    eval_fraction: float = 0.1,
    seed: int = 0,
    exclude_genes: Iterable[str] | None = None,
    max_genes: int | None = None,
) -> tuple[list[dict], list[dict]]:
    """Instruction records ("Tell me about gene X." -> text) with a gene-disjoint split.

    Parameters
    ----------
    texts
        ``pandas.Series`` symbol -> text (e.g. :func:`biobft.text.gene_texts`); a symbol may repeat
        (several texts per gene): all of a gene's records land in the same split.
    prompt_template
        Format string with a ``{symbol}`` field.
    eval_fraction
        Fraction of *genes* held out for evaluation (``0 <= eval_fraction < 1``).
    seed
        Seed of the gene shuffle.
    exclude_genes
        Symbols kept out of both splits (e.g. the Gene2vec test genes).
    max_genes
        Keep only this many genes (after exclusion; a seeded random subset).

    Returns
    -------
    train, eval
        Lists of ``{"prompt", "response", "gene"}`` records.
    """
    import pandas as pd

    if not isinstance(texts, pd.Series):
        raise TypeError(f"texts must be a pandas Series symbol -> text, got {type(texts).__name__}")
    if not 0 <= eval_fraction < 1:
        raise ValueError(f"eval_fraction must be in [0, 1), got {eval_fraction}")
    if "{symbol}" not in prompt_template:
        raise ValueError(f"prompt_template must contain '{{symbol}}', got {prompt_template!r}")
    s = texts.dropna().astype(str)
    s = s[s.str.strip() != ""]
    excluded = set(exclude_genes or ())
    s = s[~s.index.astype(str).isin(excluded)]
    genes = np.array(sorted(set(s.index.astype(str))))
    if genes.size == 0:
        raise ValueError("no gene texts left (empty input or every gene excluded)")
    rng = np.random.default_rng(seed)
    genes = genes[rng.permutation(genes.size)]
    if max_genes is not None:
        genes = genes[:max_genes]
    n_eval = round(eval_fraction * genes.size)
    if eval_fraction > 0 and genes.size >= 2:
        n_eval = min(max(n_eval, 1), genes.size - 1)
    eval_genes = set(genes[:n_eval].tolist())
    keep = set(genes.tolist())
    train, evals = [], []
    for symbol, text in s.items():
        symbol = str(symbol)
        if symbol not in keep:
            continue
        rec = {"prompt": prompt_template.format(symbol=symbol), "response": text, "gene": symbol}
        (evals if symbol in eval_genes else train).append(rec)
    return train, evals


def build_gene_instruction_data(
    genes: Iterable[str] | None = None,
    *,
    source: str = "refseq",
    **kwargs,
) -> tuple[list[dict], list[dict]]:
    """:func:`gene_instruction_records` over ``biobft.text.gene_texts(genes, source=source)``."""
    import re

    from biobft.text import gene_texts

    texts = gene_texts(genes, source=source)
    # gene_texts writes GenePT-style "Gene symbol TP53. <text>": the prompt already names the gene
    cleaned = [
        re.sub(rf"^Gene symbol {re.escape(str(sym))}\.\s*", "", str(text))
        for sym, text in texts.items()
    ]
    texts = type(texts)(cleaned, index=texts.index, name=texts.name)
    return gene_instruction_records(texts, **kwargs)
