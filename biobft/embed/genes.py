"""Gene embeddings: gene texts -> encoder -> embedding table, cached and resumable."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from ..text.corpus import TEXT_TABLE_SUFFIXES, CoverageReport, gene_texts, read_texts
from .cache import EmbeddingCache, text_hash
from .encoding import (
    EncoderHandle,
    _check_degenerate,
    _check_layer,
    _check_options,
    _max_len,
    check_backend,
    encode,
    resolve_device,
    resolve_encoder,
    resolve_run,
)
from .pooling import get_pooling
from .table import make_table

logger = logging.getLogger(__name__)

__all__ = ["embed_genes"]


def _series_texts(
    source: pd.Series, genes: Iterable[str] | None
) -> tuple[pd.Series, CoverageReport]:
    """Texts from a user-given ``symbol -> text`` Series (e.g. LLM-written profiles)."""
    name = str(source.name) if source.name is not None else "custom"
    series = source.copy()
    series.index = series.index.astype(str)
    if series.index.duplicated().any():
        dup = series.index[series.index.duplicated()].unique()
        raise ValueError(
            f"source Series has duplicate gene symbols, e.g. {list(dup[:5])}; "
            "keep one text per gene"
        )
    valid = series.map(lambda t: isinstance(t, str) and bool(t.strip()))
    report = CoverageReport(source=f"series:{name}")
    if genes is None:
        requested = list(series.index)
    else:
        requested = list(
            dict.fromkeys(str(g) for g in ([genes] if isinstance(genes, str) else genes))
        )
        if not requested:
            raise ValueError("genes is empty; pass at least one gene symbol (or genes=None)")
    for g in requested:
        (report.found if g in series.index and valid[g] else report.missing).append(g)
    if not report.found:
        raise ValueError(
            f"none of the {len(requested)} requested genes has a text in the source Series "
            f"(e.g. {report.missing[:5]}); its index must hold gene symbols and its values strings"
        )
    out = series[report.found].astype(str)
    out.attrs["report"] = report
    return out, report


def _encode_chunk(texts: list[str], handle: EncoderHandle, **kwargs: Any) -> np.ndarray:
    """Encode one cache chunk (a separate function so tests can count or interrupt calls)."""
    return encode(texts, model=handle, **kwargs)


def embed_genes(
    genes: Iterable[str] | None = None,
    *,
    source: str | os.PathLike | pd.Series | pd.DataFrame = "refseq",
    model: Any = "minilm",
    pooling: str | None = None,
    cache: bool = True,
    precision: str = "auto",
    batch_size: int = 32,
    max_length: int | None = 256,
    layer: int = -1,
    normalize: bool = False,
    chunk_size: int = 512,
    show_progress_bar: bool | None = None,
    device: str | None = None,
    model_id: str | None = None,
    backend: str = "auto",
) -> pd.DataFrame:
    """Embed gene texts into an embedding table.

    Parameters
    ----------
    genes
        Gene symbols; ``None``: every gene with a text in ``source``.
    source
        A text source spec for :func:`biobft.text.gene_texts` (``"refseq"``, ``"go"``,
        ``"name"``, ``"refseq+go"``, ``"refseq|go|name"``, ...), a Series ``symbol -> text``
        (e.g. :func:`biobft.embed.describe_genes` profiles), or a gene text table: a DataFrame
        or a ``.parquet`` / ``.csv`` / ``.tsv`` file such as ``biobft describe --out`` writes
        (read by :func:`biobft.text.read_texts`).
    model
        As in :func:`biobft.embed.encode`.
    pooling, precision, batch_size, max_length, layer, normalize, device
        As in :func:`biobft.embed.encode`.
    backend
        ``"auto"``, ``"torch"``, ``"onnx"`` or ``"openvino"``, as in :func:`biobft.embed.encode`
        (checked before any text is read or model loaded). The backend and precision that
        actually run (:func:`biobft.embed.runtime.resolve_run`, e.g. ``"auto"`` ->
        ``("openvino", "bf16")`` on a CPU with AMX) are recorded in the metadata and the cache
        key.
    cache
        Reuse and store vectors in ``cache_dir("embeddings", key)`` (key: model id, resolved
        backend and precision, pooling, max length, layer, normalisation; entries: sha256 of
        each text), so vectors made by one backend or precision are never served to a request
        for another. Models passed as in-memory objects are cached only when ``model_id`` is
        given.
    chunk_size
        Texts per cache shard: an interrupted run loses at most one chunk of work.
    show_progress_bar
        tqdm bar over chunks; ``None``: when there is more than one chunk to encode.
    model_id
        Identifier recorded in the metadata and cache key (default: derived from ``model``).

    Returns
    -------
    pandas.DataFrame
        Embedding table (index = requested gene symbol, float32 columns). Genes without a text
        are left out, logged, and listed in ``table.attrs["biobft"]["missing"]``, never
        zero-filled. Metadata also holds the model id, source, pooling, the resolved backend and
        precision, coverage and cache hits.

    Raises
    ------
    ValueError
        Unknown pooling / precision / backend / source, no requested gene with a text, a device
        this torch cannot use, or a backend that does not run this model or setting (see
        :func:`biobft.embed.runtime.resolve_backend`).
    FileNotFoundError
        A model path that does not exist.
    ImportError
        ``backend="onnx"`` / ``"openvino"`` without its extra installed.
    """
    from tqdm.auto import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    t0 = time.perf_counter()
    check_backend(backend)
    if pooling is not None:
        get_pooling(pooling)
    if isinstance(source, pd.DataFrame) or (
        isinstance(source, (str, os.PathLike)) and str(source).lower().endswith(TEXT_TABLE_SUFFIXES)
    ):
        source = read_texts(source)
    if isinstance(source, pd.Series):
        texts, report = _series_texts(source, genes)
        source_name = report.source
    else:
        texts, report = gene_texts(genes, source=source, return_report=True)
        source_name = str(source)

    _check_options(max_length=max_length, layer=layer, batch_size=batch_size)
    handle = resolve_encoder(model, device=resolve_device(device, backend=backend))
    _check_layer(handle, layer, pooling=pooling)
    pool_name = pooling or handle.default_pooling
    which, prec = resolve_run(backend, handle, pooling=pooling, precision=precision)
    mid = model_id or handle.model_id
    eff_max_len = _max_len(handle, max_length)
    enc_kwargs = dict(
        batch_size=batch_size,
        pooling=pooling,
        normalize=normalize,
        precision=prec,
        backend=which,
        max_length=max_length,
        layer=layer,
        show_progress_bar=False,
    )

    hashes = [text_hash(t) for t in texts.tolist()]
    unique: dict[str, str] = dict(zip(hashes, texts.tolist()))
    store = None
    cached: dict[str, np.ndarray] = {}
    if cache and mid is not None:
        store = EmbeddingCache(
            {
                "model": mid,
                "backend": which,
                "pooling": pool_name,
                "precision": prec,
                "max_length": eff_max_len,
                "layer": layer if pool_name != "sentence-transformers" else None,
                "normalize": bool(normalize),
            }
        )
        cached = store.load()
    elif cache:
        logger.info("model given as an in-memory object without model_id: cache disabled")
    todo = [h for h in unique if h not in cached]
    gene_of = dict(zip(reversed(hashes), reversed(list(texts.index))))
    _check_degenerate([unique[h] for h in todo], handle, names=[gene_of[h] for h in todo])
    hits = len(unique) - len(todo)
    # longest first across chunks too, so each chunk's batches are length-homogeneous
    todo.sort(key=lambda h: -len(unique[h]))
    chunks = [todo[i : i + chunk_size] for i in range(0, len(todo), chunk_size)]
    show = len(chunks) > 1 if show_progress_bar is None else bool(show_progress_bar)
    new: dict[str, np.ndarray] = {}
    # log lines (e.g. encode's truncation notes) go above the bar, not through it
    redirect = logging_redirect_tqdm() if show else contextlib.nullcontext()
    with redirect, tqdm(total=len(todo), desc="embed genes", unit="text", disable=not show) as bar:
        for chunk in chunks:
            vecs = _encode_chunk([unique[h] for h in chunk], handle, **enc_kwargs)
            if store is not None:
                store.write(chunk, vecs)
            new.update(zip(chunk, vecs))
            bar.update(len(chunk))

    vectors = np.stack([cached[h] if h in cached else new[h] for h in hashes])
    if report.missing:
        logger.warning(
            "%d of %d genes have no text in %s and are left out of the table (e.g. %s)",
            len(report.missing),
            report.n_requested,
            source_name,
            ", ".join(report.missing[:10]),
        )
    elapsed = time.perf_counter() - t0
    table = make_table(
        vectors,
        list(texts.index),
        model=mid or type(handle.model).__name__,
        source=source_name,
        pooling=pool_name,
        backend=which,
        precision=prec,
        max_length=eff_max_len,
        layer=layer,
        normalize=bool(normalize),
        n_requested=report.n_requested,
        n_genes=len(texts),
        n_missing=len(report.missing),
        coverage=round(report.coverage, 6),
        via_alias=report.via_alias,
        missing=report.missing,
        cache={
            "enabled": store is not None,
            "dir": str(store.path) if store else None,
            "hits": hits,
            "encoded": len(todo),
        },
        seconds=round(elapsed, 3),
    )
    return table
