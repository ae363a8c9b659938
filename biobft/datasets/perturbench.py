"""PerturBench development data: Norman 2019 (K562 CRISPRa) and McFaline-Figueroa 2023 cells."""

from __future__ import annotations

from ._anndata import read_h5ad

__all__ = ["PERTURBENCH_DEVEL_DATASETS", "check_perturbench_dataset", "perturbench_devel"]

#: ``obs["dataset"]`` values of the pinned ``devel.h5ad`` (sha256 in the registry)
PERTURBENCH_DEVEL_DATASETS: tuple[str, ...] = ("mcfaline23", "norman19")


def check_perturbench_dataset(dataset: str | None) -> None:
    """Refuse an unknown :func:`perturbench_devel` ``dataset`` without reading the file.

    Raises
    ------
    ValueError
        ``dataset`` is not ``None`` or one of :data:`PERTURBENCH_DEVEL_DATASETS`.
    """
    if dataset is not None and dataset not in PERTURBENCH_DEVEL_DATASETS:
        raise ValueError(
            f"unknown PerturBench devel dataset {dataset!r}; choose one of "
            f"{list(PERTURBENCH_DEVEL_DATASETS)} or None (all)"
        )


def perturbench_devel(dataset: str | None = None):
    """Real single cells from PerturBench's ``devel.h5ad``, optionally one source data set.

    Upstream: ``altoslabs/perturbench@d357dfa``, ``src/perturbench/data/resources/devel.h5ad``
    (BSD-3-Clause). 5,961 log-normalised cells x 500 highly variable genes (no raw counts),
    ``var_names`` = gene symbols. Conditions are PerturBench-style (``"control"``, ``"A"``,
    ``"A+B"``), not GEARS-style.

    - ``norman19``: Norman et al. 2019, K562 CRISPRa, 3,375 cells, ``control`` + 18 single + 15
      double conditions (e.g. ``KLF1``, ``KLF1+MAP2K6``);
    - ``mcfaline23``: McFaline-Figueroa et al. 2023, glioma CRISPRi, 2,586 cells, 9 kinase
      knockdowns + control in cell lines A172, T98G, U87MG.

    Parameters
    ----------
    dataset
        ``None`` for all cells, else ``"norman19"`` or ``"mcfaline23"`` (``obs["dataset"]``).

    Returns
    -------
    AnnData
        ``X`` sparse CSR float64 (log-normalised); categorical ``obs`` columns ``condition``,
        ``perturbation``, ``perturbation_type``, ``dataset``, ``cell_type``, ``treatment``,
        ``dose``, ``perturbation_raw``, ``condition_cell_type`` (+ ``ncounts``, ``ngenes``).
        A subset has its unused categories removed.

    Raises
    ------
    ValueError
        Unknown ``dataset`` (the message lists the valid ones).
    """
    check_perturbench_dataset(dataset)
    adata = read_h5ad("perturbench_devel")
    if dataset is None:
        return adata
    sub = adata[(adata.obs["dataset"] == dataset).to_numpy()].copy()
    for col in sub.obs.columns:
        if hasattr(sub.obs[col], "cat"):
            sub.obs[col] = sub.obs[col].cat.remove_unused_categories()
    return sub
