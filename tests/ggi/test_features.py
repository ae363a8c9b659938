from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from biobft.embed.table import make_table
from biobft.ggi.features import (
    FEATURES,
    feature_dim,
    is_symmetric,
    pair_features,
    pair_matrix,
    parse_features,
)

RNG = np.random.default_rng(0)
A = RNG.standard_normal((7, 5)).astype(np.float32)
B = RNG.standard_normal((7, 5)).astype(np.float32)


def _naive(name, a, b):
    out = []
    for x, y in zip(a, b):
        if name == "sum":
            out.append([x[j] + y[j] for j in range(len(x))])
        elif name == "hadamard":
            out.append([x[j] * y[j] for j in range(len(x))])
        elif name == "abs_diff":
            out.append([abs(x[j] - y[j]) for j in range(len(x))])
        elif name == "concat":
            out.append(list(x) + list(y))
    return np.array(out, dtype=np.float32)


@pytest.mark.parametrize("name", sorted(FEATURES))
def test_kernel_matches_naive_loop(name):
    np.testing.assert_allclose(pair_features(A, B, name), _naive(name, A, B), rtol=1e-6)


@pytest.mark.parametrize("spec", ["sum", "hadamard", "abs_diff", "sum+hadamard", "abs_diff+sum"])
def test_symmetric_features_are_bitwise_symmetric(spec):
    assert is_symmetric(spec)
    np.testing.assert_array_equal(pair_features(A, B, spec), pair_features(B, A, spec))


def test_concat_is_not_symmetric():
    assert not is_symmetric("sum+concat")
    assert not np.array_equal(pair_features(A, B, "concat"), pair_features(B, A, "concat"))


def test_combination_stacks_in_order():
    got = pair_features(A, B, "hadamard+sum+concat")
    want = np.hstack([_naive("hadamard", A, B), _naive("sum", A, B), _naive("concat", A, B)])
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert got.shape[1] == feature_dim("hadamard+sum+concat", 5) == 20
    assert parse_features(["sum", "hadamard"]) == ["sum", "hadamard"]


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("foo", "unknown pair feature.*'foo'.*valid names"),
        ("sum+", "empty feature name"),
        ("sum+sum", "repeated"),
    ],
)
def test_bad_feature_spec(spec, match):
    with pytest.raises(ValueError, match=match):
        parse_features(spec)
    with pytest.raises(ValueError, match=match):
        pair_features(A, B, spec)


def test_shape_mismatch():
    with pytest.raises(ValueError, match="same shape"):
        pair_features(A, B[:3], "sum")


def test_pair_matrix_covers_and_orders_like_a_lookup():
    genes = ["TP53", "BRCA1", "EGFR", "KRAS"]
    table = make_table(RNG.standard_normal((4, 3)), genes, model="m", source="s")
    pairs = pd.DataFrame(
        {"gene_a": ["TP53", "MISSING", "EGFR", "KRAS"], "gene_b": ["BRCA1", "TP53", "KRAS", "NOPE"]}
    )
    X, covered = pair_matrix(table, pairs, "sum+concat")
    np.testing.assert_array_equal(covered, [True, False, True, False])
    v = table.to_numpy()
    want = np.vstack([np.hstack([v[0] + v[1], v[0], v[1]]), np.hstack([v[2] + v[3], v[2], v[3]])])
    np.testing.assert_allclose(X, want, rtol=1e-6)
    assert X.dtype == np.float32


def test_pair_matrix_bad_table():
    table = pd.DataFrame(np.ones((3, 2), np.float32), index=["A", "B", "C"])
    pairs = pd.DataFrame({"gene_a": ["A"], "gene_b": ["B"]})
    nan = table.copy()
    nan.iloc[1, 0] = np.nan
    with pytest.raises(ValueError, match=r"NaN or inf, e.g. \['B'\]"):
        pair_matrix(nan, pairs)
    dup = table.copy()
    dup.index = ["A", "A", "C"]
    with pytest.raises(ValueError, match="duplicate gene symbol"):
        pair_matrix(dup, pairs)
    with pytest.raises(KeyError, match="no column"):
        pair_matrix(table, pairs.rename(columns={"gene_b": "b"}))


def test_errors_say_what_is_wrong_and_how_to_fix_it():
    valid = r"valid names: \['abs_diff', 'concat', 'hadamard', 'sum'\], joined with '\+' "
    with pytest.raises(ValueError, match=rf"^empty feature name in 'sum\+'; {valid}\(e\.g\. "):
        parse_features("sum+")
    with pytest.raises(ValueError, match=rf"in 'foo'; {valid}\(e\.g\. 'sum\+hadamard'\)$"):
        parse_features("foo")
    with pytest.raises(TypeError, match=r"a list of names; got int$"):
        parse_features(3)
    with pytest.raises(ValueError, match=r"^a and b must be 2-D arrays of the same shape"):
        pair_features(A, B[:3])


def test_pair_features_default_is_sum():
    np.testing.assert_array_equal(pair_features(A, B), A + B)


def test_pair_matrix_covers_pairs_of_the_first_table_row():
    genes = ["TP53", "BRCA1", "EGFR"]
    table = make_table(RNG.standard_normal((3, 4)), genes, model="m", source="s")
    pairs = pd.DataFrame({"gene_a": ["BRCA1", "TP53"], "gene_b": ["TP53", "EGFR"]})
    X, covered = pair_matrix(table, pairs, "hadamard")
    assert covered.all()  # TP53 is row 0 of the table, on either side
    v = table.to_numpy()
    np.testing.assert_array_equal(X, np.vstack([v[1] * v[0], v[0] * v[2]]))


def test_pair_matrix_in_blocks_is_bit_identical(monkeypatch):
    """pair_matrix fills X block by block: the same bits as the features of all pairs at once."""
    import biobft.ggi.features as features_mod

    rng = np.random.default_rng(3)
    genes = [f"G{i}" for i in range(30)]
    table = make_table(rng.standard_normal((30, 6)), genes, model="m", source="s")
    a, b = rng.integers(0, 32, 50), rng.integers(0, 32, 50)  # G30, G31: not in the table
    pairs = pd.DataFrame({"gene_a": [f"G{i}" for i in a], "gene_b": [f"G{i}" for i in b]})
    monkeypatch.setattr(features_mod, "_BLOCK", 7)  # 50 pairs: 8 blocks, the last one short
    for spec in ("sum", "sum+hadamard", "concat+abs_diff"):
        X, covered = pair_matrix(table, pairs, spec)
        v = table.to_numpy()
        ia, ib = a[covered], b[covered]
        assert covered.sum() == ((a < 30) & (b < 30)).sum() and X.dtype == np.float32
        np.testing.assert_array_equal(X, pair_features(v[ia], v[ib], spec))
    none = pairs.assign(gene_a="G31")
    X, covered = pair_matrix(table, none, "sum+hadamard")
    assert X.shape == (0, 12) and not covered.any()
