from __future__ import annotations

import json

import pytest

from biobft.cli import main
from biobft.embed.table import write_table
from biobft.perturb._synthetic import synthetic_perturbation_data


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    adata, table, _ = synthetic_perturbation_data(n_perturbed=8, n_doubles=2, seed=1)
    adata.write_h5ad(tmp / "toy.h5ad")
    write_table(table, tmp / "emb.parquet")
    return tmp


def test_cli_split_evaluate_predict(files, capsys):
    data, emb = str(files / "toy.h5ad"), str(files / "emb.parquet")
    assert main(["perturb", "split", "--data", data, "--out", str(files / "s.json")]) == 0
    assert json.loads((files / "s.json").read_text())["kind"] == "loo"
    code = main(["perturb", "evaluate", "--data", data, "--embedding", emb, "--split",
                 str(files / "s.json"), "--predictors", "train_mean,ridge",
                 "--out", str(files / "r.csv")])  # fmt: skip
    assert code == 0 and (files / "r.csv").is_file()
    assert "ridge" in capsys.readouterr().out
    # beside the CSV: the table it was computed on and the CSV's sha256 (biobft assemble)
    import hashlib

    from biobft.embed.table import read_table
    from biobft.report.provenance import table_fingerprint

    side = json.loads((files / "r.csv.json").read_text())
    assert side["csv_sha256"] == hashlib.sha256((files / "r.csv").read_bytes()).hexdigest()
    assert side["provenance"]["table_sha256"] == table_fingerprint(read_table(emb))
    assert side["provenance"]["embeddings"] == emb
    code = main(["perturb", "predict", "--data", data, "--embedding", emb,
                 "--perturbations", "P1,P2+P3", "--out", str(files / "p.h5ad")])  # fmt: skip
    assert code == 0 and (files / "p.h5ad").is_file()


def test_cli_bad_input_exit_2(files, capsys):
    code = main(["perturb", "evaluate", "--data", str(files / "toy.h5ad"), "--control", "ctl"])
    assert code == 2
    assert "did you mean ['control']" in capsys.readouterr().err
    assert not (files / "nothing.csv").exists()
    assert main(["perturb", "split", "--data", "nope.h5ad", "--out", str(files / "x.json")]) == 2
    assert not (files / "x.json").exists()


def test_cli_predict_uses_the_embedding(files):
    import anndata as ad
    import numpy as np

    from biobft.embed.table import read_table

    data, emb = str(files / "toy.h5ad"), files / "emb.parquet"
    table = read_table(emb)
    shuffled = table.copy()
    shuffled.index = list(table.index[::-1])  # same vectors, other genes
    write_table(shuffled, files / "emb_shuffled.parquet")
    out = {}
    for name in ("emb", "emb_shuffled"):
        path = files / f"pred_{name}.h5ad"
        code = main(["perturb", "predict", "--data", data, "--embedding",
                     str(files / f"{name}.parquet"), "--predictor", "knn",
                     "--perturbations", "P1,P2+P3", "--out", str(path)])  # fmt: skip
        assert code == 0
        out[name] = ad.read_h5ad(path).X
    from biobft.tl._perturbation import predict_perturbation

    direct = predict_perturbation(ad.read_h5ad(data), embedding=table, predictor="knn",
                                  perturbations=["P1", "P2+P3"])  # fmt: skip
    np.testing.assert_allclose(out["emb"], direct.X, rtol=1e-6)
    assert np.abs(out["emb"] - out["emb_shuffled"]).max() > 1e-3


def test_cli_comma_lists_are_stripped_and_empty_items_refused(files, capsys):
    """Every comma-separated option goes through one reader (biobft.cli._common.comma_list)."""
    import anndata as ad

    data, emb = str(files / "toy.h5ad"), str(files / "emb.parquet")
    code = main(["perturb", "evaluate", "--data", data, "--embedding", emb,
                 "--predictors", "train_mean, ridge", "--out", str(files / "sp.csv")])  # fmt: skip
    assert code == 0
    import pandas as pd

    assert set(pd.read_csv(files / "sp.csv")["predictor"]) == {"train_mean", "ridge"}
    path = files / "sp.h5ad"
    code = main(["perturb", "predict", "--data", data, "--embedding", emb,
                 "--perturbations", "P1 , P2+P3", "--out", str(path)])  # fmt: skip
    assert code == 0
    assert list(ad.read_h5ad(path).obs["perturbation"]) == ["P1", "P2+P3"]
    capsys.readouterr()
    for option, value in (("--predictors", "ridge,"), ("--perturbations", " , ")):
        action = "evaluate" if option == "--predictors" else "predict"
        with pytest.raises(SystemExit) as exc:
            main(["perturb", action, "--data", data, option, value, "--out", str(files / "x")])
        assert exc.value.code == 2
        assert option in capsys.readouterr().err
