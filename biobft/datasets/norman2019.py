"""Norman et al. 2019 (Science) genetic-interaction tables and a GEARS-format fixture."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._anndata import read_h5ad
from ._fetch import fetch

__all__ = ["norman2019_emap", "norman2019_gears_subset", "norman2019_gi_fits"]


def norman2019_gi_fits() -> pd.DataFrame:
    """Genetic-interaction model fits for 125 double CRISPRa perturbations (Norman et al. 2019).

    Upstream: ``thomasmaxwellnorman/Perturbseq_GI@3b25109``, ``data_sharing/regr_fits_final.csv``
    (LGPL-3.0). Each double perturbation ``A_B`` is fit as ``c1 * A + c2 * B`` of its singles;
    GEARS uses these metrics to call interaction types (synergy, suppression, ...).

    Returns
    -------
    DataFrame
        Index ``name`` (str, unique): the double perturbation as in the file, genes joined by
        ``"_"`` (e.g. ``"AHR_FEV"``); 53 float64 columns, e.g. ``ts_coef_first``,
        ``ts_coef_second``, ``dcor``, ``mad_explained``, ``score``.
    """
    path = fetch("norman2019_gi_fits")
    df = pd.read_csv(path, index_col="name")
    if not df.index.is_unique:
        raise ValueError(f"{path}: duplicate perturbation names")
    df.index = df.index.astype(str).astype(object)
    return df.astype(np.float64)


def norman2019_emap() -> pd.DataFrame:
    """Gene-level genetic-interaction (E-MAP) scores of the K562 CRISPRa growth screen.

    Upstream: ``thomasmaxwellnorman/Perturbseq_GI@3b25109``,
    ``final_emaps/filter0/CRISPRa_K562_emap_gene.txt`` (LGPL-3.0), Norman et al. 2019.

    Returns
    -------
    DataFrame
        Symmetric 112 x 112 float64 matrix; index and columns are the same gene symbols in the
        same order (diagonal included as in the file).

    Raises
    ------
    ValueError
        The file is not square/symmetric with matching labels.
    """
    path = fetch("norman2019_emap")
    df = pd.read_csv(path, sep="\t", index_col=0).astype(np.float64)
    df.index = df.index.astype(str).astype(object)
    df.columns = df.columns.astype(str).astype(object)
    if not df.index.equals(df.columns) or not np.allclose(df.to_numpy(), df.to_numpy().T):
        raise ValueError(f"{path}: expected a symmetric gene x gene matrix with equal labels")
    df.index.name = None
    return df


def norman2019_gears_subset():
    """50 cells x 50 genes of the GEARS-processed Norman 2019 data (schema/format tests only).

    Upstream: ``btraven00/scx@6fdf31e``, ``tests/fixtures/norman_subset.h5ad`` (GPL-3.0).

    Returns
    -------
    AnnData
        ``obs["condition"]`` in GEARS form (``"ctrl"``, ``"A+ctrl"``, ``"A+B"``), ``control``
        (int 0/1), ``dose_val``, ``condition_name``, ``split``; ``X`` log-normalised (CSR
        float32); ``layers["counts"]``; ``var_names`` are Ensembl IDs with symbols in
        ``var["feature_name"]``. Note ``obs["cell_type"]`` says ``"A549"`` (wrong upstream:
        Norman is K562).
    """
    return read_h5ad("norman2019_gears_subset")
