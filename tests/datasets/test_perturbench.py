from __future__ import annotations

import pytest

from biobft.datasets import perturbench_devel
from biobft.datasets.perturbench import PERTURBENCH_DEVEL_DATASETS


def test_all_cells(data_mirror):
    adata = perturbench_devel()
    assert adata.shape == (5_961, 500)
    assert adata.obs["dataset"].value_counts().to_dict() == {"norman19": 3_375, "mcfaline23": 2_586}
    # the constant that lets callers check a name before reading the file is the file's truth
    assert sorted(adata.obs["dataset"].unique()) == list(PERTURBENCH_DEVEL_DATASETS)


def test_norman19(data_mirror):
    adata = perturbench_devel("norman19")
    assert adata.shape == (3_375, 500)
    conds = set(adata.obs["condition"].astype(str))
    assert "control" in conds and "KLF1" in conds and "KLF1+MAP2K6" in conds
    doubles = {c for c in conds if "+" in c}
    singles = conds - doubles - {"control"}
    assert (len(singles), len(doubles)) == (18, 15)
    assert sum(set(d.split("+")) <= singles for d in doubles) == 5
    assert list(adata.obs["dataset"].cat.categories) == ["norman19"]  # unused categories dropped


def test_mcfaline23(data_mirror):
    adata = perturbench_devel("mcfaline23")
    assert adata.n_obs == 2_586
    assert list(adata.obs["cell_type"].cat.categories) == ["A172", "T98G", "U87MG"]
    conds = set(adata.obs["condition"].astype(str))
    assert len(conds) == 10 and "control" in conds and "MAPK1" in conds


def test_unknown_dataset_is_refused_before_the_file_is_read(monkeypatch):
    import biobft.datasets.perturbench as mod

    monkeypatch.setattr(mod, "read_h5ad", lambda *a: pytest.fail("read before the check"))
    with pytest.raises(
        ValueError, match=r"unknown PerturBench devel dataset 'norman'.*'mcfaline23', 'norman19'"
    ):
        perturbench_devel("norman")
