"""biobft.report.provenance: the table fingerprint and the perturbation CSV's sidecar; the
checks of a report's inputs against its table are tested in tests/report/test_assemble.py."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from biobft.embed.table import make_table, read_table, write_table
from biobft.report.provenance import (
    FINGERPRINT,
    read_provenance,
    table_fingerprint,
    table_provenance,
    write_perturbation_table,
)


@pytest.fixture
def saved(tmp_path) -> Path:
    """A 30 x 4 embedding table written to parquet."""
    vectors = np.random.default_rng(0).normal(size=(30, 4))
    table = make_table(vectors, [f"G{i}" for i in range(30)], model="toy-model", source="refseq")
    return write_table(table, tmp_path / "emb.parquet")


def test_the_fingerprint_is_the_content_of_the_table(saved, tmp_path):
    table = read_table(saved)
    key = table_fingerprint(table)
    assert len(key) == 64 and int(key, 16) >= 0
    csv = read_table(write_table(table, tmp_path / "same.csv"))  # other format, same content
    assert table_fingerprint(csv) == key
    other_meta = table.copy()
    other_meta.attrs = {"biobft": {"model": "x"}}
    assert table_fingerprint(other_meta) == key  # metadata is compared apart
    nudged = table.copy()
    nudged.iloc[3, 2] = np.nextafter(nudged.iloc[3, 2], np.float32(np.inf), dtype=np.float32)
    renamed = table.rename(index={"G5": "G5b"})
    changed = [nudged, table.iloc[::-1], renamed, table.iloc[:-1], table.iloc[:, :-1]]
    keys = {table_fingerprint(t) for t in changed}
    assert key not in keys and len(keys) == len(changed)
    prov = table_provenance(table, saved)
    assert prov == {
        "embeddings": str(saved), "fingerprint": FINGERPRINT, "table_sha256": key,
        "model": "toy-model", "source": "refseq", "n_genes": 30, "dim": 4,
    }  # fmt: skip


def test_perturbation_csv_is_unchanged_and_its_sidecar_matches(tmp_path):
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"predictor": ["ridge", "no_change"], "group": ["single", "double"],
                       "condition": ["A", "B+C"], "rmse": rng.random(2)})  # fmt: skip
    path = write_perturbation_table(df, tmp_path / "p.csv", provenance={"table_sha256": "ab"})
    plain = tmp_path / "plain.csv"
    df.to_csv(plain, index=False)
    assert path.read_bytes() == plain.read_bytes()  # what pandas users read, byte for byte
    side = json.loads((tmp_path / "p.csv.json").read_text())
    assert side["csv_sha256"] == hashlib.sha256(plain.read_bytes()).hexdigest()
    assert side["provenance"] == {"table_sha256": "ab"} and side["n_rows"] == len(df)


def test_the_fingerprint_scheme_is_pinned():
    """Result files on disk keep the fingerprint they were written with: if this value changes
    (fitcache's hashing changed), bump FINGERPRINT so that older files are told apart ("another
    scheme: rerun") instead of being reported as computed on another table."""
    vectors = np.arange(6, dtype=np.float32).reshape(3, 2) / 4
    table = make_table(vectors, ["A", "B", "C"], model="m", source="s")
    assert FINGERPRINT == "biobft-table-v1"
    assert table_fingerprint(table) == (
        "a521e84a509c9bd007dbdd078acc98c272ea66f5af5c18792fd0a7c0d0ce0454"
    )


def test_read_provenance_of_each_kind(saved, tmp_path):
    prov = table_provenance(read_table(saved), saved)
    (tmp_path / "g.json").write_text(json.dumps({"roc_auc": 0.5, "provenance": prov}))
    assert read_provenance("ggi", tmp_path / "g.json") == prov
    # an older JSON without the block: what it records, without a fingerprint
    old = {"embeddings": "e.parquet", "table_meta": {"model": "m", "source": "s"}}
    (tmp_path / "q.json").write_text(json.dumps(old))
    assert read_provenance("perturbqa", tmp_path / "q.json") == {
        "embeddings": "e.parquet", "model": "m", "source": "s",
    }  # fmt: skip
    csv = write_perturbation_table(pd.DataFrame({"a": [1.0]}), tmp_path / "p.csv", provenance=prov)
    assert read_provenance("perturbation", csv) == prov
    Path(f"{csv}.json").unlink()
    assert read_provenance("perturbation", csv) is None
    with pytest.raises(ValueError, match="kind must be one of"):
        read_provenance("embeddings", csv)


def test_a_result_json_edited_after_it_was_written_is_refused(tmp_path):
    """A fresh-user trial: editing roc_auc in a GGI JSON (0.60 -> 0.99) or relabelling a
    PerturbQA task went into the report; only the perturbation CSV was protected."""
    from biobft.report.provenance import DIGEST_KEY, _read_json, write_result_json

    record = {"roc_auc": 0.6, "rows": [{"auroc_per_gene": 0.533, "n": 3}], "per_gene": {"1": 0.5},
              "task": "de", "nan": float("nan")}  # fmt: skip
    path = write_result_json(record, tmp_path / "r.json")
    back = _read_json("ggi", path)
    assert back[DIGEST_KEY] and back["roc_auc"] == 0.6
    for key, value in (("roc_auc", 0.99), ("task", "dir"), ("rows", [{"auroc_per_gene": 0.95}])):
        edited = {**json.loads(path.read_text()), key: value}
        (tmp_path / "e.json").write_text(json.dumps(edited))
        with pytest.raises(ValueError, match="edited after it was written"):
            _read_json("perturbqa", tmp_path / "e.json")
