"""biobft.report.assemble: the report from saved results, checked against hand-made inputs."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from biobft.embed.table import make_table, read_table, write_table
from biobft.report.assemble import assemble_report, read_ggi_result, read_perturbqa_results
from biobft.report.benchmark import PERTURB_SUMMARY
from biobft.report.provenance import table_fingerprint, table_provenance, write_perturbation_table
from biobft.report.write import write_report

GGI = {
    "roc_auc": 0.75,
    "pr_auc": 0.7,
    "accuracy": 0.6,
    "features": "sum",
    "classifier": "logistic",
    "seed": 3,
    "table_meta": {"model": "toy-model", "source": "refseq", "dim": 4},
    "n_raw": {"train": 100, "test": 40},
    "n_used": {"train": 90, "test": 30},
    "n_dropped": {"train": 10, "test": 10},
    "cleaning": {},
    "valid": None,
    "baselines": {
        "random": {"roc_auc": 0.5, "pr_auc": 0.45, "accuracy": 0.5, "n_test": 30},
        "name": {"roc_auc": 0.62, "pr_auc": 0.55, "accuracy": 0.55, "n_test": 28},
    },
    "leakage": 0.1,
    "n_leaky": 3,
    "fit_seconds": 1.5,
    "coverage": 0.75,
    "curves": {
        "model": {"fpr": [0.0, 0.25, 1.0], "tpr": [0.0, 0.8, 1.0]},
        "random": {"fpr": [0.0, 1.0], "tpr": [0.0, 1.0]},
    },
}


def _perturbqa_record(cell_line="k562", task="de", provenance=None) -> dict:
    rows = [
        {"predictor": name, "kind": kind, "auroc_per_gene": auc, "perturbation_coverage": 1.0,
         "n_genes_scored": 12, "n_test_perturbations": 10, "coverage": 1.0, "auroc": auc + 0.01,
         "average_precision": 0.4, "inner_cv_auroc_per_gene": 0.6, "params": "{}"}
        for name, kind, auc in (("knn", "model", 0.61), ("base_rate", "baseline", 0.5))
    ]  # fmt: skip
    per_gene = {"knn": {"G1": 0.7, "G2": 0.52}, "base_rate": {"G1": 0.5, "G2": 0.5}}
    return {
        "pairs": f"PerturbQA {cell_line} {task}",
        "cell_line": cell_line,
        "task": task,
        "table_meta": {"model": "toy-model", "source": "refseq"},
        "provenance": provenance,
        "seconds": 4.0,
        "rows": rows,
        "per_gene": per_gene,
    }


@pytest.fixture
def run(tmp_path) -> dict[str, Path]:
    """One run's saved results, written by hand (what the workflow's rules write)."""
    rng = np.random.default_rng(0)
    genes = [f"G{i}" for i in range(30)]
    table = make_table(rng.normal(size=(30, 4)), genes, model="toy-model", source="refseq")
    paths = {
        "embeddings": tmp_path / "emb.parquet",
        "ggi": tmp_path / "ggi.json",
        "perturbation": tmp_path / "conditions.csv",
        "perturbqa": tmp_path / "k562_de.json",
    }
    write_table(table, paths["embeddings"])
    # each result records the table it was computed on, as `biobft ggi / perturb / perturbqa` do
    prov = table_provenance(read_table(paths["embeddings"]), paths["embeddings"])
    paths["ggi"].write_text(json.dumps({**GGI, "provenance": prov}))
    rows = [
        {"predictor": p, "condition": f"C{i}", "group": g, **dict(zip(PERTURB_SUMMARY, m))}
        for i, (p, g) in enumerate(
            [("ridge", "single"), ("ridge", "single"), ("ridge", "double"), ("no_change", "single")]
        )
        for m in [rng.normal(size=len(PERTURB_SUMMARY))]
    ]
    write_perturbation_table(pd.DataFrame(rows), paths["perturbation"], provenance=prov)
    paths["perturbqa"].write_text(json.dumps(_perturbqa_record(provenance=prov)))
    return paths


def _assemble(paths: dict[str, Path]):
    return assemble_report(
        embeddings=paths["embeddings"],
        ggi=paths["ggi"],
        perturbation=paths["perturbation"],
        perturbqa=[paths["perturbqa"]],
    )


def test_assembled_report_holds_the_saved_numbers(run, tmp_path):
    result = _assemble(run)
    # GGI: the saved record comes back unchanged (coverage recomputed: 30 / 40 test pairs)
    assert result.ggi.to_dict() == {k: v for k, v in GGI.items() if k != "curves"}
    np.testing.assert_array_equal(result.ggi.curves["model"]["tpr"], [0.0, 0.8, 1.0])
    # perturbation: the mean of each metric per (group, predictor), by a plain loop
    rows = pd.read_csv(run["perturbation"]).to_dict("records")
    summary = result.perturbation_summary()
    for (group, predictor), got in summary.iterrows():
        mine = [r for r in rows if r["group"] == group and r["predictor"] == predictor]
        assert got["n_conditions"] == len(mine)
        for metric in PERTURB_SUMMARY:
            assert got[metric] == pytest.approx(sum(r[metric] for r in mine) / len(mine))
    assert len(summary) == len({(r["group"], r["predictor"]) for r in rows}) == 3
    assert result.embedding["n_genes"] == 30 and result.embedding["model"] == "toy-model"
    assert result.timings == {"ggi model fit": 1.5, "perturbqa": 4.0}

    report = write_report(result, tmp_path / "rep")
    text = report.read_text()
    assert "| model | 0.750 | 0.700 | 0.600 | 30 |" in text
    assert "| name | 0.620 | 0.550 | 0.550 | 28 |" in text
    assert "Coverage: 30 of 40 test pairs scored (75.0%)" in text
    assert "10.00% of scored test pairs (3)" in text
    assert "| knn | model | 0.610 | 12 | 10 |" in text and "best published 0.62" in text
    for fig in ("ggi_roc.png", "perturb_metric_bars.png", "perturbqa_auroc.png"):
        assert (tmp_path / "rep" / "figures" / fig).stat().st_size > 1000
    record = json.loads((tmp_path / "rep" / "results.json").read_text())
    assert record["ggi"]["roc_auc"] == 0.75
    assert record["config"]["assembled_from"]["ggi"] == str(run["ggi"])
    by_key = {(r["group"], r["predictor"]): r for r in record["perturbation_summary"]}
    assert by_key[("single", "ridge")]["rmse"] == pytest.approx(
        np.mean([r["rmse"] for r in rows if (r["group"], r["predictor"]) == ("single", "ridge")])
    )


def test_ggi_json_round_trip_of_a_real_result(tmp_path):
    from biobft.ggi import evaluate_pairs, gene_disjoint_split
    from biobft.ggi._synthetic import planted

    table, pairs, _ = planted(n_pairs=2000)
    train, test = gene_disjoint_split(pairs, test_size=0.3, seed=0)
    res = evaluate_pairs(table, train, test)
    path = tmp_path / "ggi.json"
    path.write_text(res.to_json(curves=True))
    back = read_ggi_result(path)
    assert back.to_dict(curves=True) == json.loads(res.to_json(curves=True))


def _other_table(folder: Path, *, metadata: bool = True) -> tuple[pd.DataFrame, Path]:
    """A table of the run's genes with other vectors (written, read back) and its path."""
    genes = [f"G{i}" for i in range(30)]
    vectors = np.random.default_rng(1).normal(size=(30, 4))
    table = make_table(vectors, genes, model="toy-model", source="refseq")
    if not metadata:
        table.attrs = {}
    path = write_table(table, folder / ("other.parquet" if metadata else "bare_other.parquet"))
    return read_table(path), path


def _break(paths: dict[str, Path], kind: str) -> None:
    if kind == "no_ggi":
        paths["ggi"].unlink()
    elif kind == "ggi_not_json":
        paths["ggi"].write_text('{"roc_auc": 0.7,')
    elif kind == "ggi_no_key":
        paths["ggi"].write_text(json.dumps({k: v for k, v in GGI.items() if k != "roc_auc"}))
    elif kind == "ggi_no_curve":
        paths["ggi"].write_text(json.dumps({k: v for k, v in GGI.items() if k != "curves"}))
    elif kind == "ggi_other_table":  # same genes and metadata, other vectors
        other = _other_table(paths["embeddings"].parent)
        paths["ggi"].write_text(json.dumps({**GGI, "provenance": table_provenance(*other)}))
    elif kind == "ggi_old_file":  # written before results recorded a fingerprint
        paths["ggi"].write_text(json.dumps(GGI))
    elif kind == "ggi_other_scheme":  # a fingerprint this biobft cannot compare
        prov = json.loads(paths["ggi"].read_text())["provenance"]
        prov = {**prov, "fingerprint": "biobft-table-v0"}
        paths["ggi"].write_text(json.dumps({**GGI, "provenance": prov}))
    elif kind == "csv_no_sidecar":
        Path(f"{paths['perturbation']}.json").unlink()
    elif kind == "csv_edited":  # still a valid table, but not the one its sidecar describes
        df = pd.read_csv(paths["perturbation"])
        df.loc[0, "rmse"] += 1.0
        df.to_csv(paths["perturbation"], index=False)
    elif kind == "csv_no_table":  # `biobft perturb evaluate` without --embedding
        df = pd.read_csv(paths["perturbation"])
        write_perturbation_table(df, paths["perturbation"], provenance=table_provenance(None))
    elif kind == "csv_no_column":
        pd.read_csv(paths["perturbation"]).drop(columns="rmse").to_csv(paths["perturbation"])
    elif kind == "csv_empty":
        paths["perturbation"].write_text("")
    elif kind == "perturbqa_own_pairs":
        paths["perturbqa"].write_text(json.dumps(_perturbqa_record(cell_line=None, task=None)))
    elif kind == "no_embeddings":
        paths["embeddings"].unlink()
    else:
        raise AssertionError(kind)


BAD_INPUTS = [
    ("no_ggi", FileNotFoundError, r"ggi file '.*ggi\.json' does not exist.*`ggi` rule"),
    ("ggi_not_json", ValueError, r"ggi\.json' is not valid JSON.*`biobft ggi --json`"),
    ("ggi_no_key", ValueError, r"lacks the key\(s\) \['roc_auc'\].*`ggi` rule"),
    ("ggi_no_curve", ValueError, r"no ROC curve of the model"),
    ("ggi_other_table", ValueError,
     r"1 input file\(s\) are not shown to be computed on --embeddings '.*emb\.parquet'.*\n"
     r"  - ggi file '.*ggi\.json' was computed on another embedding table \('.*other\.parquet', "
     r"sha256 [0-9a-f]{12}, model 'toy-model'.*\): rerun .*`biobft ggi --json`\) with "
     r"--embeddings '.*emb\.parquet'"),
    ("ggi_old_file", ValueError,
     r"ggi file '.*ggi\.json' records no fingerprint .*older biobft.*model 'toy-model'"),
    ("ggi_other_scheme", ValueError,
     r"records a table fingerprint of scheme 'biobft-table-v0'; this biobft compares"),
    ("csv_no_sidecar", ValueError,
     r"perturbation file '.*conditions\.csv' has no provenance sidecar 'conditions\.csv\.json'"
     r".*--embedding '"),
    ("csv_edited", ValueError, r"conditions\.csv' does not match its provenance sidecar"),
    ("csv_no_table", ValueError,
     r"conditions\.csv' was computed without an embedding table \(no --embedding\)"),
    ("csv_no_column", ValueError, r"csv' lacks the column\(s\) \['rmse'\].*`perturb`"),
    ("csv_empty", ValueError, r"conditions\.csv' is not a readable CSV.*`perturb` rule"),
    ("perturbqa_own_pairs", ValueError,
     r"k562_de\.json' holds scores on one's own DE-pair table .*`biobft perturbqa --pairs`.*"
     r"published PerturbQA numbers.*Leave this file out of --perturbqa"),
    ("no_embeddings", FileNotFoundError, r"emb\.parquet' does not exist.*`embed` rule"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "error", "match"), BAD_INPUTS, ids=[case[0] for case in BAD_INPUTS]
)
def test_bad_input_one_error_naming_file_and_rule(run, kind, error, match):
    _break(run, kind)
    with pytest.raises(error, match=match):
        _assemble(run)


def test_nothing_to_assemble(run):
    with pytest.raises(ValueError, match="nothing to assemble"):
        assemble_report(embeddings=run["embeddings"])
    assert read_perturbqa_results([]) is None


def test_two_files_of_one_perturbqa_task_are_refused(run):
    with pytest.raises(ValueError, match=r"repeats cell line / task \('k562', 'de'\)"):
        read_perturbqa_results([run["perturbqa"], run["perturbqa"]])


# ----------------------------------------------------------------------------- provenance
def _pqa_on(folder: Path, name: str, task: str, table_and_path) -> Path:
    path = folder / name
    record = _perturbqa_record(task=task, provenance=table_provenance(*table_and_path))
    path.write_text(json.dumps(record))
    return path


def test_every_perturbqa_file_is_checked_in_either_order(run, tmp_path):
    """Bug of a fresh-user trial: only the first --perturbqa file was compared with the table."""
    a = run["perturbqa"]  # k562 de, computed on the run's table
    b = _pqa_on(tmp_path, "k562_dir.json", "dir", _other_table(tmp_path))
    for order in ([a, b], [b, a]):
        with pytest.raises(ValueError, match=r"k562_dir\.json' was computed on another") as err:
            assemble_report(embeddings=run["embeddings"], perturbqa=order)
        assert "k562_de.json" not in str(err.value)  # the good file is not blamed
    # read alone, two files of different tables are refused too, naming the first file
    with pytest.raises(ValueError, match=r"k562_de\.json' was computed on another .*k562_dir"):
        read_perturbqa_results([b, a])
    # both files on the run's table assemble
    c = _pqa_on(tmp_path, "k562_dir_ok.json", "dir", (read_table(run["embeddings"]), "x"))
    res = assemble_report(embeddings=run["embeddings"], perturbqa=[a, c]).perturbqa
    assert set(res.tables) == {("k562", "de"), ("k562", "dir")}


def test_a_result_of_another_table_without_metadata_is_refused(run, tmp_path):
    """Neither table records a model or source: the fingerprint still tells them apart, and
    every wrong file is listed in the one error."""
    bare = read_table(run["embeddings"])
    bare.attrs = {}
    emb = write_table(bare, tmp_path / "bare.parquet")
    assert read_table(emb).attrs["biobft"] == {}
    other = _other_table(tmp_path, metadata=False)
    prov = table_provenance(*other)
    assert prov["model"] is None and prov["source"] is None
    run["ggi"].write_text(json.dumps({**GGI, "provenance": prov}))
    df = pd.read_csv(run["perturbation"])
    write_perturbation_table(df, run["perturbation"], provenance=prov)
    with pytest.raises(ValueError, match=r"2 input file\(s\)") as err:
        assemble_report(embeddings=emb, ggi=run["ggi"], perturbation=run["perturbation"])
    msg = str(err.value)
    assert "ggi file" in msg and "perturbation file" in msg and "bare_other.parquet" in msg
    assert table_fingerprint(other[0])[:12] in msg and table_fingerprint(bare)[:12] in msg
    # the same results recorded on the bare table itself are accepted
    prov = table_provenance(read_table(emb), emb)
    run["ggi"].write_text(json.dumps({**GGI, "provenance": prov}))
    write_perturbation_table(df, run["perturbation"], provenance=prov)
    got = assemble_report(embeddings=emb, ggi=run["ggi"], perturbation=run["perturbation"])
    assert got.ggi.roc_auc == 0.75 and got.embedding["n_genes"] == 30


def test_same_vectors_with_changed_metadata_are_refused(run):
    table = read_table(run["embeddings"])
    prov = {**table_provenance(table, run["embeddings"]), "model": "minilm"}
    run["ggi"].write_text(json.dumps({**GGI, "provenance": prov}))
    with pytest.raises(ValueError, match=r"same vectors but records model 'minilm' where "):
        _assemble(run)


@pytest.mark.parametrize(
    "data,split,title",
    [
        ("perturbench_devel:mcfaline23", "kfold", "(mcfaline23, k-fold over perturbations)"),
        ("perturbench_devel:norman19", "loo", "(norman19, leave-one-perturbation-out)"),
        (None, None, "(data set not recorded, split not recorded)"),
    ],
)
def test_perturbation_title_says_the_recorded_data_and_split(run, tmp_path, data, split, title):
    """A fresh-user trial: every assembled perturbation section was titled "norman19,
    leave-one-perturbation-out", whatever data set and split the CSV came from."""
    df = pd.read_csv(run["perturbation"])
    if split is not None:
        df.attrs["biobft"] = {"split": split}
    prov = table_provenance(read_table(run["embeddings"]), run["embeddings"])
    write_perturbation_table(df, run["perturbation"], provenance=prov, data=data)
    result = _assemble(run)
    assert result.config["perturb_split"] == split
    text = write_report(result, tmp_path / "rep").read_text()
    assert f"## Perturbation response {title}" in text


def test_a_perturb_dataset_other_than_the_recorded_one_is_refused(run):
    df = pd.read_csv(run["perturbation"])
    prov = table_provenance(read_table(run["embeddings"]), run["embeddings"])
    write_perturbation_table(df, run["perturbation"], provenance=prov,
                             data="perturbench_devel:mcfaline23")  # fmt: skip
    with pytest.raises(ValueError, match="computed on 'perturbench_devel:mcfaline23'"):
        assemble_report(embeddings=run["embeddings"], perturbation=run["perturbation"],
                        perturb_dataset="norman19")  # fmt: skip
    ok = assemble_report(embeddings=run["embeddings"], perturbation=run["perturbation"],
                         perturb_dataset="mcfaline23")  # fmt: skip
    assert ok.config["perturb_dataset"] == "mcfaline23"
