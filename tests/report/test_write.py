from __future__ import annotations

import json

import pandas as pd
import pytest

from biobft.report.benchmark import BenchmarkResult
from biobft.report.write import write_report


def test_write_report(result, tmp_path):
    report = write_report(result, tmp_path / "rep")
    text = report.read_text()
    assert "## Gene-gene interaction" in text and "## Perturbation response" in text
    # the report leads with the best validated configuration, the GenePT recipe after it
    assert text.index("## Headline") < text.index("## Gene-gene interaction: headline")
    ggi = text[text.index("## Gene-gene interaction: headline") :]
    assert ggi.index("best validated") < ggi.index("GenePT recipe") < ggi.index("## Perturb")
    assert "![ROC curves](figures/ggi_roc.png)" in text
    for fig in ("ggi_roc.png", "perturb_metric_bars.png"):
        assert (tmp_path / "rep" / "figures" / fig).stat().st_size > 1000
    record = json.loads((tmp_path / "rep" / "results.json").read_text())
    assert record["ggi"]["roc_auc"] == pytest.approx(result.ggi.roc_auc)
    assert record["ggi_best"]["roc_auc"] == pytest.approx(result.ggi_best.roc_auc)
    per_cond = pd.read_csv(tmp_path / "rep" / "perturbation_conditions.csv")
    assert len(per_cond) == len(result.perturbation)


def test_report_says_which_fitted_results_were_reused(tmp_path):
    fresh = BenchmarkResult(config={}, embedding={}, timings={"embed": 1.0})
    text = write_report(fresh, tmp_path / "a").read_text()
    assert "reused" not in text and "Wall time per step (s): embed 1.0." in text
    reused = BenchmarkResult(config={}, embedding={}, timings={"ggi": 0.2}, cached=["ggi"])
    text = write_report(reused, tmp_path / "b").read_text()
    assert "Fitted results reused from an earlier run on identical inputs" in text
    assert "configuration and biobft code): ggi." in text and "`--refit`" in text
    assert json.loads((tmp_path / "b" / "results.json").read_text())["cached_steps"] == ["ggi"]


def test_headline_text_claims_a_validated_choice_only_when_there_is_one(result, tmp_path):
    import dataclasses

    with_best = write_report(result, tmp_path / "a").read_text()
    assert "The best validated configuration was chosen on the valid split only" in with_best
    without = dataclasses.replace(result, ggi_best=None)
    text = write_report(without, tmp_path / "b").read_text()
    assert "chosen on the valid split" not in text
    assert "best validated configuration was not run here" in text


def test_report_names_the_backend_and_precision_that_made_the_vectors(tmp_path):
    """The embedding line says which runtime produced the vectors (bf16 OpenVINO and fp32 torch
    vectors differ at ~1e-4 cosine), not only the precision."""
    res = BenchmarkResult(
        config={},
        embedding={"model": "minilm", "backend": "openvino", "precision": "bf16"},
        timings={},
    )
    text = write_report(res, tmp_path / "rep").read_text()
    assert "backend `openvino`, precision `bf16`" in text


def test_task_headline_leads_the_report_with_validated_choices(result, tmp_path):
    from biobft.report.write import task_headline

    head = task_headline(result)
    ggi = head.loc[head["task"].str.startswith("GGI")].iloc[0]
    assert ggi["score"] == pytest.approx(result.ggi_best.roc_auc)
    assert ggi["name_only"] == pytest.approx(result.ggi_best.baselines["name"]["roc_auc"])
    assert ggi["random"] == pytest.approx(result.ggi_best.baselines["random"]["roc_auc"])
    assert "valid split" in ggi["chosen"]
    text = write_report(result, tmp_path / "rep").read_text()
    assert text.index("## Headline") < text.index("## Gene-gene interaction")


def test_perturbqa_headline_picks_by_inner_cv_never_by_test_score():
    """The predictor with the best test AUROC (graph) lost on inner CV: the headline shows knn."""
    import dataclasses

    from biobft.report.perturbqa import PerturbQAResult
    from biobft.report.write import task_headline

    table = pd.DataFrame(
        {
            "predictor": ["knn", "graph", "base_rate", "random (knn)", "name (knn)"],
            "kind": ["model", "model", "baseline", "baseline", "baseline"],
            "auroc_per_gene": [0.61, 0.70, 0.50, 0.52, 0.58],
            "inner_cv_auroc_per_gene": [0.64, 0.60, 0.50, 0.51, 0.57],
        }
    )
    table.attrs["best"] = "knn"  # as evaluate_de_pairs records it
    res = BenchmarkResult(config={}, embedding={}, timings={})
    res = dataclasses.replace(res, perturbqa=PerturbQAResult(tables={("k562", "de"): table}))
    (row,) = task_headline(res).to_dict("records")
    assert row["task"] == "PerturbQA K562 DE" and row["chosen"].startswith("knn (inner CV 0.640")
    assert (row["score"], row["name_only"], row["random"]) == (0.61, 0.58, 0.52)
    assert "base rate 0.500" in row["other"] and "best published 0.62" in row["other"]
    assert "`knn` itself" not in row["other"]  # knn was chosen: the baselines match it
    # the ensemble chosen, baselines through knn: knn's own score is shown beside them
    ens = pd.concat(
        [
            table,
            pd.DataFrame(
                {
                    "predictor": ["ensemble"],
                    "kind": ["model"],
                    "auroc_per_gene": [0.66],
                    "inner_cv_auroc_per_gene": [0.66],
                }
            ),
        ],
        ignore_index=True,
    )
    ens.attrs["best"] = "knn"
    res = dataclasses.replace(res, perturbqa=PerturbQAResult(tables={("k562", "de"): ens}))
    (row,) = task_headline(res).to_dict("records")
    assert row["chosen"].startswith("ensemble") and "`knn` itself 0.610" in row["other"]


def test_markdown_cells_escape_the_pipe_of_a_combined_source():
    """`refseq+go|name` in a table cell must not split the row into an extra column."""
    import re

    from biobft.report.write import _md_table

    table = _md_table(pd.DataFrame({"chosen": ["sum on `refseq+go|name,name`"], "score": [0.845]}))
    header, _, row = table.splitlines()
    unescaped = re.compile(r"(?<!\\)\|")
    assert len(unescaped.findall(row)) == len(unescaped.findall(header)) == 3
    assert "refseq+go\\|name,name" in row and "0.845" in row


def test_perturbation_summary_counts_the_fallback_rows(result, tmp_path):
    """Conditions whose gene has no vector are predicted by train_mean; the summary says how
    many per row (before: only the per-condition CSV did, so `ridge` beside `train_mean` read as
    the model's own score). Reference: a plain count over the per-condition frame."""
    summary = result.perturbation_summary()
    per = result.perturbation
    for (group, predictor), row in summary.iterrows():
        mine = per.loc[(per["group"] == group) & (per["predictor"] == predictor)]
        assert row["n_fallback"] == sum(bool(f) for f in mine["fallback"])
    ridge = summary.xs("ridge", level="predictor")["n_fallback"]
    assert ridge.sum() > 0  # Norman genes without a RefSeq text (e.g. MAP3K21) fall back
    assert summary.xs("train_mean", level="predictor")["n_fallback"].sum() == 0
    text = write_report(result, tmp_path / "rep").read_text()
    assert "| n_conditions | n_fallback |" in text and "predicted by its fallback" in text
