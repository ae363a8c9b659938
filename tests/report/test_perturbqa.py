from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from biobft.embed.table import make_table
from biobft.perturb import evaluate_de_pairs
from biobft.report.benchmark import BenchmarkResult
from biobft.report.perturbqa import (
    PUBLISHED,
    PerturbQAResult,
    benchmark_section,
    best_published,
    perturbqa_markdown,
    run_perturbqa,
)
from biobft.report.write import write_report


def _toy_result() -> PerturbQAResult:
    rng = np.random.default_rng(0)
    perts = [f"P{i}" for i in range(40)]
    prog = np.arange(40) % 2
    rows = [
        (p, f"G{j}", int(rng.random() < (0.8 if (j % 2) == prog[i] else 0.2)))
        for i, p in enumerate(perts)
        for j in range(12)
    ]
    pairs = pd.DataFrame(rows, columns=["pert", "gene", "label"])
    pairs["split"] = np.where(pairs["pert"].isin(perts[:10]), "test", "train")
    table = make_table(
        np.eye(4)[prog] + 0.3 * rng.normal(size=(40, 4)), perts, model="t", source="t"
    )
    res = PerturbQAResult(config={"table": "toy", "extra_table": "toy2"})
    df = evaluate_de_pairs(pairs, embedding=table, predictors=["knn"])
    res.tables[("k562", "de")] = df
    res.extra[("k562", "de")] = df[df["kind"] == "model"]
    return res


def test_published_table_is_the_papers():
    # PerturbQA Table 1 (the authors' results notebook): best per column
    assert best_published("k562", "de") == ("SUMMER", 0.62)
    assert best_published("rpe1", "de")[1] == 0.59
    assert best_published("k562", "dir") == ("Retrieval (no LLM)", 0.69)
    assert best_published("rpe1", "dir")[1] == 0.64
    assert len({len(v) for v in PUBLISHED.values()}) == 1


def test_markdown_and_report_hook(tmp_path):
    res = _toy_result()
    lines = perturbqa_markdown(res, figure="figures/x.png")
    text = "\n".join(lines)
    assert "Non-Commercial" in text
    assert "best published 0.62 (SUMMER)" in text
    assert "| base_rate | baseline | 0.500 |" in text
    assert "knn (toy2)" in text
    summary = res.summary()
    assert set(summary["table"]) == {"toy", "toy2"}
    bench = BenchmarkResult(config={}, embedding={}, perturbqa=res)
    report = write_report(bench, tmp_path / "rep").read_text()
    assert "## PerturbQA" in report and "figures/perturbqa_auroc.png" in report
    assert (tmp_path / "rep" / "figures" / "perturbqa_auroc.png").stat().st_size > 1000
    record = json.loads((tmp_path / "rep" / "results.json").read_text())
    rows = record["perturbqa"]["results"]["k562-de"]
    assert {r["predictor"] for r in rows} >= {"knn", "base_rate", "random (knn)"}


@pytest.mark.realdata
def test_run_perturbqa_k562_direction(data_mirror):
    from biobft.datasets import perturbqa
    from biobft.embed import embed_genes

    genes = sorted(perturbqa(cell_line="k562", task="dir")["pert"].unique())
    table = embed_genes(genes, source="name", model="minilm")
    res = run_perturbqa(table, tasks=("dir",), predictors=["knn"], extra_table=table)
    df = res.tables[("k562", "dir")].set_index("predictor")
    assert df.loc["base_rate", "auroc_per_gene"] == 0.5
    assert df.loc["knn", "auroc_per_gene"] > df.loc["random (knn)", "auroc_per_gene"]
    assert ("k562", "dir") in res.extra


@pytest.mark.realdata
@pytest.mark.slow
def test_benchmark_section_k562(data_mirror):
    """The main job's section: K562 DE and direction, all predictors, >= 95% coverage."""
    from biobft.embed import embed_genes

    own = embed_genes(["TP53", "MYC", "GATA1", "POLR2A", "RPL3"], source="refseq")
    res = benchmark_section(own)
    for task in ("de", "dir"):
        df = res.tables[("k562", task)].set_index("predictor")
        assert df.loc["ensemble", "perturbation_coverage"] >= 0.95
        assert df.loc["ensemble", "auroc_per_gene"] > best_published("k562", task)[1]
        assert df.loc["base_rate", "auroc_per_gene"] == 0.5
    # the job's own 5-gene table covers no test knockdown: its rows are skipped, no error
    assert res.extra == {}


def test_cached_section_round_trip_is_exact(tmp_path):
    """The cached PerturbQA record reads back to the same tables, attrs, markdown and figure."""
    from biobft.report.perturbqa import _from_record, _record, perturbqa_figure

    res = _toy_result()
    back = _from_record(json.loads(json.dumps(_record(res))))
    for which in ("tables", "extra"):
        ours, theirs = getattr(back, which), getattr(res, which)
        assert list(ours) == list(theirs)
        for key, df in theirs.items():
            pd.testing.assert_frame_equal(ours[key], df.reset_index(drop=True))
            assert ours[key].attrs == df.attrs
    assert back.config == res.config
    assert perturbqa_markdown(back) == perturbqa_markdown(res)
    assert perturbqa_figure(back, tmp_path / "f.png").stat().st_size > 1000
    back.cached = True
    assert "in the earlier run whose fitted results are reused" in "\n".join(
        perturbqa_markdown(back)
    )
