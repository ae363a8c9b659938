from __future__ import annotations

import json

import pandas as pd
import pytest

from biobft.cli import main


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
    from biobft.report.benchmark import BEST_GGI
    from biobft.report.write import ggi_headline

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


def test_rerun_reuses_fitted_ggi_results_and_refit_agrees(result, genes, tmp_path, monkeypatch):
    """A rerun on identical inputs reads both GGI results back; a refit gives the same numbers."""
    from biobft.report import run_benchmark

    kw = dict(genes=genes, predictors=["no_change", "train_mean", "ridge"], perturbqa=False)
    rerun = run_benchmark(**kw)
    assert rerun.cached == ["ggi_best", "ggi", "perturbation"]
    refit = run_benchmark(cache=False, **kw)
    assert refit.cached == [] and refit.ggi.model is not None and rerun.ggi.model is None
    for res in (rerun, refit):
        for name in ("ggi_best", "ggi"):
            ours, theirs = getattr(res, name).to_dict(), getattr(result, name).to_dict()
            for key in ("roc_auc", "pr_auc", "valid", "baselines", "n_used", "cleaning", "leakage"):
                assert ours[key] == theirs[key], (name, key)
        pd.testing.assert_frame_equal(res.perturbation, result.perturbation)
        pd.testing.assert_frame_equal(res.perturbation_summary(), result.perturbation_summary())
    # the provenance record is this run's own (e.g. its embedding-cache hits), not a stale copy
    assert rerun.ggi.table_meta["cache"]["encoded"] == 0
    # another input (the seed) is another entry: fitted afresh. Checked in an empty fit cache, so
    # that an entry a previous run of this test wrote for seed 1 cannot make the check pass or fail
    from biobft.report import fitcache

    fresh = tmp_path / "fits"

    def fresh_dir(*parts: str):
        path = fresh.joinpath(*parts)
        path.mkdir(parents=True, exist_ok=True)
        return path

    monkeypatch.setattr(fitcache, "cache_dir", fresh_dir)
    one = dict(best_ggi=False, perturbation=False, **kw)
    assert run_benchmark(**one).cached == []
    assert run_benchmark(**one).cached == ["ggi"]
    assert run_benchmark(seed=1, **one).cached == []


def test_cli_benchmark_cached_rerun(genes, result, tmp_path, capsys):
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
            "--no-perturbqa",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "train_mean" in printed and "report:" in printed
    assert (out / "report.md").is_file()
    # a rerun of the `result` fixture's benchmark (same genes, same cache): every embedding
    # comes from the cache, nothing is encoded, and train_mean scores the same
    rerun = json.loads((out / "results.json").read_text())
    cache = rerun["embedding"]["cache"]
    assert cache["enabled"] and cache["encoded"] == 0
    assert cache["hits"] == rerun["embedding"]["n_genes"] == result.embedding["n_genes"]
    ours = pd.DataFrame(rerun["perturbation_summary"]).set_index(["group", "predictor"])
    theirs = result.perturbation_summary()
    for key in ours.index:
        assert ours.loc[key, "pearson_delta"] == pytest.approx(theirs.loc[key, "pearson_delta"])


def test_perturbation_summary_metric_names_exist():
    """Issue 12 case 7: every summarised metric is one that evaluate_perturbation computes."""
    import pandas as pd

    from biobft.perturb.metrics import METRICS
    from biobft.report.benchmark import PERTURB_SUMMARY, BenchmarkResult

    assert set(PERTURB_SUMMARY) <= set(METRICS)
    df = pd.DataFrame({"group": ["single"] * 2, "predictor": ["a", "b"]})
    for m in PERTURB_SUMMARY:
        df[m] = [0.25, 0.75]
    res = BenchmarkResult(config={}, embedding={}, perturbation=df)
    out = res.perturbation_summary()
    assert "frac_wrong_direction_de" in out.columns
    assert out.loc[("single", "b"), "frac_wrong_direction_de"] == 0.75
    with pytest.raises(KeyError, match="frac_wrong_direction_de"):  # never a silent drop
        BenchmarkResult(
            config={}, embedding={}, perturbation=df.drop(columns="frac_wrong_direction_de")
        ).perturbation_summary()


class _Stop(Exception):
    pass


def test_backend_reaches_every_embedding_step(monkeypatch):
    """run_benchmark(backend=) and the PerturbQA section pass it to embed_genes (default auto)."""
    import biobft.datasets
    import biobft.embed
    from biobft.report import perturbqa
    from biobft.report.benchmark import run_benchmark

    seen = []

    def fake(*a, **kw):
        seen.append(kw.get("backend"))
        raise _Stop

    monkeypatch.setattr(biobft.embed, "embed_genes", fake)
    for backend in ("onnx", None):
        with pytest.raises(_Stop):
            kw = {} if backend is None else {"backend": backend}
            run_benchmark(genes=["TP53"], ggi=False, perturbation=False, perturbqa=False, **kw)
    assert seen == ["onnx", "auto"]
    toy = pd.DataFrame({"pert": ["TP53"], "gene": ["KLF1"]})
    monkeypatch.setattr(biobft.datasets, "perturbqa", lambda **kw: toy)
    with pytest.raises(_Stop):
        perturbqa.benchmark_section(pd.DataFrame(), backend="openvino")
    assert seen[-1] == "openvino"


@pytest.mark.parametrize(
    ("option", "match"),
    [
        ({"features": "sum+hadamrd"}, "hadamrd"),
        ({"classifier": "logreg"}, "unknown classifier 'logreg'"),
        ({"perturb_dataset": "norman"}, "unknown PerturBench devel dataset 'norman'"),
        ({"predictors": ["ridge", "knnn"]}, "knnn"),
    ],
)
def test_every_option_is_checked_before_the_embedding_step(monkeypatch, option, match):
    """A typo in a late step's option fails at once, not after minutes of embedding and fits."""
    import biobft.embed
    from biobft.report.benchmark import run_benchmark

    monkeypatch.setattr(
        biobft.embed, "embed_genes", lambda *a, **k: pytest.fail("embedded before the check")
    )
    with pytest.raises(ValueError, match=match):
        run_benchmark(genes=["TP53"], perturbqa=False, **option)
    # also when its section is skipped: the typo would be recorded in results.json
    skip = dict(ggi=False, perturbation=False, perturbqa=False)
    with pytest.raises(ValueError, match=match):
        run_benchmark(genes=["TP53"], **skip, **option)


def test_cli_benchmark_predictors_take_commas_or_spaces(monkeypatch, tmp_path):
    """``--predictors ridge,knn`` and ``--predictors ridge knn`` are the same list."""
    import biobft.report.benchmark

    seen = []

    def fake(**kw):
        seen.append(kw["predictors"])
        raise _Stop

    monkeypatch.setattr(biobft.report.benchmark, "run_benchmark", fake)
    for args in (["ridge,knn"], ["ridge", "knn"], ["ridge, knn"]):
        with pytest.raises(_Stop):
            main(["benchmark", "--out", str(tmp_path / "o"), "--predictors", *args])
    assert seen == [["ridge", "knn"]] * 3


def test_gene_subset_without_both_ggi_classes_is_refused_before_embedding(data_mirror, monkeypatch):
    """A small --genes list (trial: 200 genes) failed after minutes of embedding with advice for
    the Python pair API; now it is refused first, with the counts and the CLI way out."""
    import biobft.embed
    from biobft import datasets
    from biobft.report import run_benchmark

    test = datasets.gene2vec_pairs("test")
    pos = test.loc[test["label"] == 1].head(3)
    genes = sorted(set(pos["gene_a"]) | set(pos["gene_b"]))

    def no_embedding(*a, **k):
        raise AssertionError("embedded before the gene subset was checked")

    monkeypatch.setattr(biobft.embed, "embed_genes", no_embedding)
    with pytest.raises(ValueError, match=r"Gene2vec (train|test) pair.*--no-ggi"):
        run_benchmark(genes=genes, perturbation=False, perturbqa=False)
