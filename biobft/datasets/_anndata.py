"""Reading registered ``.h5ad`` files."""

from __future__ import annotations

import warnings

from ._fetch import fetch


def read_h5ad(name: str):
    """Verified registered ``.h5ad`` file ``name`` as an in-memory AnnData."""
    import anndata as ad

    path = fetch(name)
    with warnings.catch_warnings():
        # old files store graphs in .uns["neighbors"]; anndata moves them to .obsp and says so
        warnings.filterwarnings("ignore", message=r"Moving element from \.uns")
        # scGen's kang2018 file predates anndata's encoding metadata (read fine, but warned)
        old_format = getattr(ad, "OldFormatWarning", PendingDeprecationWarning)
        warnings.filterwarnings("ignore", category=old_format)
        return ad.read_h5ad(path)
