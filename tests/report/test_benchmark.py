from __future__ import annotations

import json

import pandas as pd
import pytest

from biobft import datasets
from biobft.cli import main
from biobft.report import run_benchmark, write_report


@pytest.fixture(scope="module")
def genes(data_mirror) -> list[str]:
    """Norman 2019 perturbed genes plus the genes of the most frequent Gene2vec pairs."""
    adata = datasets.perturbench_devel(dataset="norman19")
    perturbed = {g for c in adata.obs["condition"].unique() for g in str(c).split("+")}
    out = sorted(perturbed - {"control"})
    for split, n in (("train", 120), ("valid", 60), ("test", 60)):
        pairs = datasets.gene2vec_pairs(split)
        counts = pd.concat([pairs.gene_a, pairs.gene_b]).value_counts()
        out += list(counts.index[:n])
    return sorted(set(out))


@pytest.fixture(scope="module")
def result(genes):
    return run_benchmark(genes=genes, predictors=["no_change", "train_mean", "ridge"])


def test_benchmark_runs_every_step(result, genes):
    assert 0 < result.embedding["n_genes"] <= len(genes)
    assert result.embedding["model"] and result.embedding["dim"] == 384
    g = result.ggi
    assert g.n_used["test"] > 50 and set(g.baselines) == {"random", "name"}
    # the random baseline is a real floor: close to chance on the same pairs
    assert 0.3 < g.baselines["random"]["roc_auc"] < 0.7
    summary = result.perturbation_summary()
    assert set(summary.index.get_level_values("predictor")) == {"no_change", "train_mean", "ridge"}
    # no_change predicts a zero delta: its RMSE equals the RMS of the observed delta, > 0
    assert (summary["rmse"] > 0).all()
    assert set(result.timings) == {"embed", "ggi_best", "ggi", "perturbation"}


def test_best_validated_ggi_configuration(result):
    from biobft.report.benchmark import BEST_GGI, ggi_headline

    best = result.ggi_best
    assert best.features == BEST_GGI["features"] and best.classifier == "logistic"
    # the gene vector is [RefSeq+GO text (else name), name]: twice the encoder's dimension
    assert best.table_meta["dim"] == 2 * 384
    assert best.table_meta["source"] == "refseq+go|name,name"
    assert best.valid is not None and 0 <= best.valid["roc_auc"] <= 1  # chosen on valid
    assert set(best.baselines) == {"random", "name"} and best.n_used["test"] > 50
    assert 0.3 < best.baselines["random"]["roc_auc"] < 0.7
    head = ggi_headline(result)
    assert head["configuration"].iloc[0].startswith("best validated")
    assert head["test_roc_auc"].iloc[0] == pytest.approx(best.roc_auc)
    genept = head.index[head["configuration"].str.startswith("GenePT")][0]
    assert head["test_roc_auc"].iloc[genept] == pytest.approx(result.ggi.roc_auc)
    assert len(head) == 6  # two configurations, each with its two baselines


def test_write_report(result, tmp_path):
    report = write_report(result, tmp_path / "rep")
    text = report.read_text()
    assert "## Gene-gene interaction" in text and "## Perturbation response" in text
    # the report leads with the best validated configuration, the GenePT recipe after it
    assert text.index("best validated") < text.index("GenePT recipe") < text.index("## Perturb")
    assert "![ROC curves](figures/ggi_roc.png)" in text
    for fig in ("ggi_roc.png", "perturb_metric_bars.png"):
        assert (tmp_path / "rep" / "figures" / fig).stat().st_size > 1000
    record = json.loads((tmp_path / "rep" / "results.json").read_text())
    assert record["ggi"]["roc_auc"] == pytest.approx(result.ggi.roc_auc)
    assert record["ggi_best"]["roc_auc"] == pytest.approx(result.ggi_best.roc_auc)
    per_cond = pd.read_csv(tmp_path / "rep" / "perturbation_conditions.csv")
    assert len(per_cond) == len(result.perturbation)


def test_cli_benchmark_cached_rerun(genes, tmp_path, capsys):
    gene_file = tmp_path / "genes.txt"
    gene_file.write_text("\n".join(genes))
    out = tmp_path / "cli"
    code = main(
        [
            "benchmark",
            "--genes",
            str(gene_file),
            "--no-ggi",
            "--predictors",
            "train_mean",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "train_mean" in printed and "report:" in printed
    assert (out / "report.md").is_file()


def test_cli_bad_gene_file(tmp_path, capsys):
    out = tmp_path / "never"
    assert main(["benchmark", "--genes", str(tmp_path / "none.txt"), "--out", str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not out.exists()
