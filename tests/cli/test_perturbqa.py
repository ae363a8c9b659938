"""``biobft perturbqa`` (biobft/cli/perturbqa.py)."""

from __future__ import annotations

import json

import pytest

from biobft.cli import main
from biobft.embed.table import write_table


# --------------------------------------------------------------------------- biobft perturbqa
@pytest.fixture(scope="module")
def de_files(tmp_path_factory):
    """A DE-pair CSV with planted structure (two programmes) and a table that knows them."""
    import numpy as np
    import pandas as pd

    from biobft.embed.table import make_table

    rng = np.random.default_rng(0)
    tmp = tmp_path_factory.mktemp("de_cli")
    perts = [f"P{i}" for i in range(60)]
    prog = np.arange(60) % 2
    rows = []
    for i, p in enumerate(perts):
        for j in range(20):
            up = (j % 2) == prog[i]
            rows.append((p, f"G{j}", int(rng.random() < (0.8 if up else 0.2))))
    pairs = pd.DataFrame(rows, columns=["pert", "gene", "label"])
    pairs["split"] = np.where(pairs["pert"].isin(perts[:15]), "test", "train")
    pairs.to_csv(tmp / "pairs.csv", index=False)
    vec = np.eye(8)[prog] + 0.3 * rng.normal(size=(60, 8))
    write_table(make_table(vec, perts, model="toy", source="toy"), tmp / "de_emb.parquet")
    leak = pd.concat([pairs, pairs.head(1).assign(split="train", gene="GX")], ignore_index=True)
    leak.to_csv(tmp / "leak.csv", index=False)
    return tmp


def test_cli_perturbqa_own_pairs(de_files, capsys):
    out = de_files / "res.json"
    emb = str(de_files / "de_emb.parquet")
    args = ["--embeddings", emb, "--predictors", "knn", "--json", str(out)]
    code = main(["perturbqa", "--pairs", str(de_files / "pairs.csv"), *args])
    assert code == 0
    text = capsys.readouterr().out
    assert "auroc_per_gene" in text and "base_rate" in text
    rows = {r["predictor"]: r for r in json.loads(out.read_text())["rows"]}
    assert rows["base_rate"]["auroc_per_gene"] == 0.5
    assert rows["knn"]["auroc_per_gene"] > 0.7
    assert rows["knn"]["auroc_per_gene"] > rows["random (knn)"]["auroc_per_gene"] + 0.1
    assert rows["knn"]["n_test_perturbations"] == 15


def test_cli_perturbqa_bad_input_exit_2(de_files, capsys):
    emb = str(de_files / "de_emb.parquet")
    assert main(["perturbqa", "--pairs", str(de_files / "leak.csv"), "--embeddings", emb]) == 2
    assert "allow_shared_perturbations" in capsys.readouterr().err
    assert main(["perturbqa", "--pairs", str(de_files / "nope.csv"), "--embeddings", emb]) == 2
    assert "does not exist" in capsys.readouterr().err
    code = main(["perturbqa", "--pairs", str(de_files / "pairs.csv"), "--embeddings", "x.parquet"])
    assert code == 2
    assert "biobft embed" in capsys.readouterr().err
    blocker = de_files / "a-file"
    blocker.write_text("x")
    code = main(
        ["perturbqa", "--pairs", str(de_files / "pairs.csv"), "--embeddings", emb,
         "--json", str(blocker / "out.json")]
    )  # fmt: skip
    err = capsys.readouterr()
    assert code == 2 and "--json" in err.err and "cannot be created" in err.err
    assert "AUROC" not in err.out  # refused before any fit


def test_cli_perturbqa_json_is_what_the_report_assembler_reads(de_files, monkeypatch, capsys):
    """The --json record of a PerturbQA file feeds biobft.report.assemble (the workflow's
    perturbqa -> report rules); one's own --pairs are recorded without a cell line / task."""
    import pandas as pd

    from biobft import datasets
    from biobft.report.assemble import read_perturbqa_results

    pairs = pd.read_csv(de_files / "pairs.csv")
    asked = []
    monkeypatch.setattr(
        datasets, "perturbqa", lambda cell_line, task: asked.append((cell_line, task)) or pairs
    )
    out = de_files / "k562_dir.json"
    emb = str(de_files / "de_emb.parquet")
    code = main(["perturbqa", "--task", "dir", "--embeddings", emb, "--predictors", "knn",
                 "--json", str(out)])  # fmt: skip
    assert code == 0 and asked == [("k562", "dir")]
    record = json.loads(out.read_text())
    assert record["table_meta"]["model"] == "toy" and record["seconds"] > 0
    from biobft.embed.table import read_table
    from biobft.report.provenance import table_fingerprint

    prov = record["provenance"]  # the table it was computed on, checked by `biobft assemble`
    assert prov["table_sha256"] == table_fingerprint(read_table(emb)) and prov["embeddings"] == emb
    assert (prov["model"], prov["source"], prov["n_genes"]) == ("toy", "toy", 60)
    res = read_perturbqa_results([out])
    table = res.tables[("k562", "dir")]
    assert table.to_dict("records") == record["rows"]
    assert set(table.attrs["per_gene"]) == set(table["predictor"])
    capsys.readouterr()
    own = de_files / "own.json"
    assert main(["perturbqa", "--pairs", str(de_files / "pairs.csv"), "--embeddings", emb,
                 "--predictors", "knn", "--json", str(own)]) == 0  # fmt: skip
    assert json.loads(own.read_text())["cell_line"] is None
    with pytest.raises(ValueError, match=r"own DE-pair table .*published PerturbQA numbers.*"
                       r"Leave this file out of --perturbqa"):  # fmt: skip
        read_perturbqa_results([own])


def test_cli_assemble_checks_every_perturbqa_file(de_files, monkeypatch, capsys, tmp_path):
    """A fresh-user trial: only the first --perturbqa file was compared with --embeddings, so
    a file of another table went into the report when it came second."""
    import pandas as pd

    from biobft import datasets
    from biobft.embed.table import read_table

    pairs = pd.read_csv(de_files / "pairs.csv")
    monkeypatch.setattr(datasets, "perturbqa", lambda cell_line, task: pairs)
    emb = de_files / "de_emb.parquet"
    other = read_table(emb)
    other.index = list(other.index[::-1])  # same metadata, vectors on other genes
    write_table(other, tmp_path / "other.parquet")
    files = {}
    for task, table in (("de", emb), ("dir", tmp_path / "other.parquet")):
        files[task] = tmp_path / f"k562_{task}.json"
        assert main(["perturbqa", "--task", task, "--embeddings", str(table), "--predictors",
                     "knn", "--json", str(files[task])]) == 0  # fmt: skip
    out = tmp_path / "rep"
    for order in ([files["de"], files["dir"]], [files["dir"], files["de"]]):
        capsys.readouterr()
        code = main(["assemble", "--embeddings", str(emb), "--perturbqa", *map(str, order),
                     "--out", str(out)])  # fmt: skip
        err = capsys.readouterr().err
        assert code == 2 and "1 input file(s)" in err, err
        assert f"perturbqa file {str(files['dir'])!r} was computed on another" in err
        assert not out.exists()
    code = main(["assemble", "--embeddings", str(emb), "--perturbqa", str(files["de"]),
                 "--out", str(out)])  # fmt: skip
    assert code == 0 and "## PerturbQA" in (out / "report.md").read_text()


def test_cli_perturbqa_comma_list_is_stripped(de_files, capsys):
    """Trial: --predictors "knn, pair" failed with "unknown DE-pair predictor ' pair'"."""
    out = de_files / "spaced.json"
    emb = str(de_files / "de_emb.parquet")
    code = main(["perturbqa", "--pairs", str(de_files / "pairs.csv"), "--embeddings", emb,
                 "--predictors", " knn, pair ", "--json", str(out)])  # fmt: skip
    assert code == 0
    rows = [r["predictor"] for r in json.loads(out.read_text())["rows"]]
    assert rows[:2] == ["knn", "pair"]
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main(["perturbqa", "--pairs", str(de_files / "pairs.csv"), "--embeddings", emb,
              "--predictors", "knn,,pair"])  # fmt: skip
    assert exc.value.code == 2
    assert "'knn,,pair' has an empty item between commas" in capsys.readouterr().err


@pytest.mark.parametrize("extra", [["--task", "dir"], ["--cell-line", "rpe1"],
                                   ["--task", "de", "--cell-line", "k562"]])  # fmt: skip
def test_cli_perturbqa_pairs_with_task_or_cell_line_is_refused(de_files, capsys, extra):
    """Trial: `--pairs x.csv --task dir` ignored --task without a word; now exit 2, nothing
    written, before any work (even the defaults' values, given explicitly, are refused)."""
    out = de_files / "refused.json"
    emb = str(de_files / "de_emb.parquet")
    code = main(["perturbqa", "--pairs", str(de_files / "pairs.csv"), "--embeddings", emb,
                 *extra, "--json", str(out)])  # fmt: skip
    err = capsys.readouterr()
    assert code == 2 and not out.exists() and "AUROC" not in err.out
    assert f"{extra[0]} {extra[1]}" in err.err
    assert "would be ignored; drop " + ("it" if len(extra) == 2 else "them") in err.err
