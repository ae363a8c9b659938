"""SFT / DFT / BFT fine-tuning of causal LMs on the Hugging Face ``Trainer``.

- :mod:`biobft.train.losses` -- pure losses over ``(logits, labels)`` and the ``loss_type`` registry
- :mod:`biobft.train.terms` -- ``loss_terms``, the kernel behind every loss (weights, normalisation)
- :mod:`biobft.train.config` -- ``BFTConfig(TrainingArguments)``
- :mod:`biobft.train.data` -- instruction JSONL -> tokenised samples; gene instruction builder
- :mod:`biobft.train.tokenization` -- one record -> token ids with response-only labels
- :mod:`biobft.train.trainer` -- ``BFTTrainer`` and the ``train()`` entry point
- :mod:`biobft.train.callbacks` -- loss diagnostics

Names are imported lazily (torch / transformers load on first use).
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "losses": ("sft_loss", "dft_loss", "bft_loss", "p_alpha_loss", "chord_phi_loss",
               "bft_weights", "get_loss", "make_loss_func", "LOSS_REGISTRY"),
    "terms": ("loss_terms",),
    "confidence": ("lowest_group_confidence",),
    "config": ("BFTConfig",),
    "data": ("load_instruction_dataset", "read_jsonl", "write_jsonl", "gene_instruction_records",
             "build_gene_instruction_data", "DataCollatorForCompletion"),
    "tokenization": ("ensure_pad_token",),
    "trainer": ("BFTTrainer", "train", "load_model", "apply_lora"),
    "callbacks": ("LossDiagnostics",),
}  # fmt: skip
_WHERE = {name: mod for mod, names in _EXPORTS.items() for name in names}
_SUBMODULES = tuple(_EXPORTS)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE, *_EXPORTS])


__all__ = sorted(_WHERE)
