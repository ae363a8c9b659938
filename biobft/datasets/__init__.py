"""Verified loaders for the real data sets used by biobft.

Every file is described in the packaged registry (``registry.toml``: upstream URL at a pinned
commit, sha256, licence, citation) and found by :func:`fetch` in this order: the mirror folder
(``$BIOBFT_DATA_DIR``, else ``../shared/data`` next to a source checkout) -> the download cache
(``$BIOBFT_CACHE_DIR/downloads``, else the platform user cache) -> the upstream URL. The sha256
is checked before any parse. Slow R formats are parsed once and cached as parquet
(``$BIOBFT_CACHE_DIR/parsed``) keyed by the file's sha256.

Loaders
-------
gene2vec_pairs, ncbi_genes, refseq_summaries, geneagent_texts, string_network, string_edges,
string_nodes, perturbench_devel, norman2019_gi_fits, norman2019_emap, norman2019_gears_subset,
kang2018, perturbqa (NON-COMMERCIAL licence: Genentech Non-Commercial Software License v1.0).
"""

from __future__ import annotations

from ._fetch import ChecksumError, fetch, file_sha256, list_datasets, verify
from ._registry import DatasetFile, registry
from .gene2vec import GENE2VEC_SPLITS, gene2vec_pairs
from .geneagent import GENEAGENT_KINDS, geneagent_texts
from .kang2018 import kang2018
from .ncbi import ncbi_genes
from .norman2019 import norman2019_emap, norman2019_gears_subset, norman2019_gi_fits
from .perturbench import perturbench_devel
from .perturbqa import PERTURBQA_CELL_LINES, PERTURBQA_TASKS, perturbqa
from .refseq import refseq_summaries
from .stringdb import STRING_CHANNELS, string_edges, string_network, string_nodes

__all__ = [
    "GENE2VEC_SPLITS",
    "GENEAGENT_KINDS",
    "PERTURBQA_CELL_LINES",
    "PERTURBQA_TASKS",
    "STRING_CHANNELS",
    "ChecksumError",
    "DatasetFile",
    "fetch",
    "file_sha256",
    "gene2vec_pairs",
    "geneagent_texts",
    "kang2018",
    "list_datasets",
    "ncbi_genes",
    "norman2019_emap",
    "norman2019_gears_subset",
    "norman2019_gi_fits",
    "perturbench_devel",
    "perturbqa",
    "refseq_summaries",
    "registry",
    "string_edges",
    "string_network",
    "string_nodes",
    "verify",
]
