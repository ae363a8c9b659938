"""Text and gene embeddings, and the embedding table (the contract between biobft's halves).

- :func:`encode`: texts -> float32 array (sentence-transformers encoders; LMs via pooling)
- :func:`embed_genes`: gene symbols -> cached embedding table
- :func:`describe_genes`: a causal LM writes gene profiles (a text source for ``embed_genes``)
- :mod:`biobft.embed.pooling`: pooling kernels registered in ``POOLINGS``
- :func:`make_table`, :func:`read_table`, :func:`write_table`, :func:`validate_table`,
  :func:`table_metadata`: the embedding-table contract

torch is imported only when an encoding function is first used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .cells import genept_w
from .table import (
    concat_tables,
    make_table,
    read_table,
    table_metadata,
    validate_table,
    write_table,
)

if TYPE_CHECKING:  # pragma: no cover
    from .describe import describe_genes
    from .encoding import encode, resolve_encoder
    from .genes import embed_genes
    from .pooling import POOLINGS

_LAZY = {
    "encode": ".encoding",
    "resolve_encoder": ".encoding",
    "embed_genes": ".genes",
    "describe_genes": ".describe",
    "POOLINGS": ".pooling",
}

__all__ = [
    "POOLINGS",
    "concat_tables",
    "describe_genes",
    "embed_genes",
    "encode",
    "genept_w",
    "make_table",
    "read_table",
    "resolve_encoder",
    "table_metadata",
    "validate_table",
    "write_table",
]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'biobft.embed' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
