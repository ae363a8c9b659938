from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from biobft.perturb._synthetic import synthetic_perturbation_data
from biobft.perturb.splits import Split
from biobft.tl._perturbation import evaluate_perturbation, predict_perturbation


@pytest.fixture(scope="module")
def toy():
    """Raw counts, control label 'NTC', condition column 'guide'."""
    adata, table, truth = synthetic_perturbation_data(control="NTC", seed=11)
    adata.obs = adata.obs.rename(columns={"condition": "guide"})
    return adata, table, truth


def test_evaluate_raw_counts_two_keys(toy):
    adata, table, _ = toy
    before = adata.copy()
    df = evaluate_perturbation(adata, embedding=table, condition_key="guide", control="NTC")
    assert set(df["predictor"]) == {"no_change", "train_mean", "additive", "linear", "ridge", "knn"}
    assert {"pearson_delta", "pearson_delta_de", "mse_de", "rmse", "l2_top1000",
            "frac_wrong_direction_de", "group", "condition"} <= set(df.columns)  # fmt: skip
    assert set(df["group"]) == {"single", "double_seen2"}
    assert "counts -> normalize_total" in df.attrs["biobft"]["normalization"]
    means = df[df["group"] == "single"].groupby("predictor")["pearson_delta"].mean()
    assert means["ridge"] > means["train_mean"] + 0.3  # planted linear effect is recovered
    dbl = df[df["group"] == "double_seen2"].groupby("predictor")["pearson_delta"].mean()
    assert dbl["additive"] > 0.9  # planted doubles are additive
    assert (adata.X != before.X).nnz == 0 and list(adata.obs.columns) == list(before.obs.columns)
    no_emb = evaluate_perturbation(adata, condition_key="guide", control="NTC")
    assert "ridge" not in set(no_emb["predictor"])


def test_evaluate_with_saved_split(toy, tmp_path):
    adata, table, _ = toy
    from biobft.perturb.pseudobulk import pseudobulk
    from biobft.perturb.splits import simulation

    pb = pseudobulk(adata, condition_key="guide", control="NTC", n_top_de=0)
    path = simulation(pb, seed=2).save(tmp_path / "sim.json")
    df = evaluate_perturbation(
        adata, embedding=table, condition_key="guide", control="NTC", split=path,
        predictors=["train_mean", "ridge"],
    )  # fmt: skip
    again = evaluate_perturbation(
        adata, embedding=table, condition_key="guide", control="NTC", split=path,
        predictors=["train_mean", "ridge"],
    )  # fmt: skip
    pd.testing.assert_frame_equal(df, again)
    assert df.attrs["biobft"]["split"] == "simulation"


def test_predict_perturbation_unseen(toy):
    adata, table, _ = toy
    keep = (adata.obs["guide"] != "P3").to_numpy()
    train = adata[keep].copy()
    out = predict_perturbation(
        train, embedding=table, perturbations=["P3", "P3+ctrl"], condition_key="guide",
        control="NTC",
    )  # fmt: skip
    assert out.shape == (2, adata.n_vars)
    assert list(out.obs["perturbation"]) == ["P3", "P3+ctrl"]
    assert not out.obs["observed"].any() and (out.obs["predictor"] == "ridge").all()
    assert out.obs["embedding_source"].iloc[0] == "planted"
    np.testing.assert_allclose(out.X[0], out.X[1])  # GEARS and PerturBench labels agree
    from biobft.perturb.pseudobulk import pseudobulk

    pb = pseudobulk(adata, condition_key="guide", control="NTC", n_top_de=0)
    obs_delta = pb.delta(["P3"])[0]
    pred_delta = out.X[0] - pb.profiles(["NTC"])[0]
    assert np.corrcoef(obs_delta, pred_delta)[0, 1] > 0.8
    assert out.uns["biobft_perturbation"]["params"]["control"] == "NTC"


# ---------------------------------------------------------------- bad input: one clear error each


def test_error_missing_condition_column(toy):
    adata, table, _ = toy
    with pytest.raises(KeyError, match=r"no column 'condition'.*columns: \['guide', 'cell_type'\]"):
        evaluate_perturbation(adata, embedding=table, control="NTC")


def test_error_no_control_and_misspelt(toy):
    adata, table, _ = toy
    with pytest.raises(ValueError, match=r"no control cells.*did you mean \['NTC'\]"):
        evaluate_perturbation(adata, embedding=table, condition_key="guide", control="ntc")
    with pytest.raises(ValueError, match="could not detect the control label"):
        evaluate_perturbation(adata, embedding=table, condition_key="guide")


def test_error_nan_in_X(toy):
    adata, table, _ = toy
    bad = adata.copy()
    bad.X = bad.X.toarray()
    bad.X[0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN/inf"):
        evaluate_perturbation(bad, embedding=table, condition_key="guide", control="NTC")


def test_error_negative_counts(toy):
    adata, _, _ = toy
    bad = adata.copy()
    bad.X = bad.X.toarray() - 1.0
    with pytest.raises(ValueError, match="negative values, so it is not raw counts"):
        evaluate_perturbation(bad, condition_key="guide", control="NTC", normalize=True)


def test_error_zero_cells_after_filtering(toy):
    adata, _, _ = toy
    split = Split([{"train": ["P1", "P2", "P4"], "test": ["P0"]}])
    sub = adata[(adata.obs["guide"] != "P0").to_numpy()].copy()
    sub.obs["guide"] = sub.obs["guide"].cat.set_categories(adata.obs["guide"].cat.categories)
    with pytest.raises(ValueError, match=r"\['P0'\] have zero cells after filtering"):
        evaluate_perturbation(sub, condition_key="guide", control="NTC", split=split)
    with pytest.raises(ValueError, match="no control group"):
        evaluate_perturbation(adata, condition_key="guide", control="NTC", min_cells=1000)


def test_error_genes_absent_everywhere(toy):
    adata, _, _ = toy
    small = synthetic_perturbation_data(n_perturbed=3, n_doubles=0, seed=0)[1]  # embeds P0..P2 only
    with pytest.raises(
        ValueError, match=r"absent from both the embedding table and adata\.var_nam"
    ):
        predict_perturbation(
            adata, embedding=small, perturbations=["NOPE1"], condition_key="guide", control="NTC"
        )
    with pytest.raises(KeyError, match="absent from the embedding table"):
        evaluate_perturbation(
            adata, embedding=small, condition_key="guide", control="NTC", predictors=["ridge"]
        )


def test_error_split_unknown_conditions(toy, tmp_path):
    adata, _, _ = toy
    path = Split([{"train": ["P1", "KLF1"], "test": ["P0"]}]).save(tmp_path / "s.json")
    with pytest.raises(ValueError, match=r"unknown condition\(s\) \['KLF1'\]"):
        evaluate_perturbation(adata, condition_key="guide", control="NTC", split=path)


def test_error_predictor_needs_embedding(toy):
    adata, _, _ = toy
    with pytest.raises(ValueError, match="needs embedding=TABLE"):
        evaluate_perturbation(adata, condition_key="guide", control="NTC", predictors=["knn"])


# ---------------------------------------------------------------- real data (mirror)


@pytest.mark.realdata
def test_real_norman_devel_additive(data_mirror):
    from biobft.datasets import perturbench_devel

    adata = perturbench_devel("norman19")
    df = evaluate_perturbation(
        adata, condition_key="condition", control="control",
        predictors=["train_mean", "additive"],
    )  # fmt: skip
    assert "used as is" in df.attrs["biobft"]["normalization"]
    assert (df["group"] == "double_seen2").sum() == 2 * 5
    add = df[(df["group"] == "double_seen2") & (df["predictor"] == "additive")]
    assert add["pearson_delta"].mean() == pytest.approx(0.870, abs=0.01)  # measured outside


@pytest.mark.realdata
def test_real_gears_format(data_mirror):
    from biobft.datasets import norman2019_gears_subset

    adata = norman2019_gears_subset()
    adata.var_names = adata.var["feature_name"].astype(str).to_numpy()
    kw = dict(perturbations=["CEBPE+ctrl"], condition_key="condition", control="ctrl",
              predictor="train_mean", layer="counts")  # fmt: skip
    with pytest.raises(ValueError, match=r"38 condition group\(s\) have fewer than 2 cells"):
        predict_perturbation(adata, **kw)  # the subset has one-cell groups (issue 12 case 9)
    out = predict_perturbation(adata, min_cells=1, **kw)  # keep them, explicitly
    assert out.shape == (1, 50)
    assert "counts -> normalize_total" in out.uns["biobft_perturbation"]["params"]["normalization"]


@pytest.mark.parametrize("kind", ["kfold", "simulation", "saved"])
def test_evaluate_runs_the_requested_split(toy, tmp_path, kind):
    """The rows are the split's test ids with its own training sets, not leave-one-out's."""
    from biobft.perturb.pseudobulk import pseudobulk
    from biobft.perturb.splits import kfold, leave_one_out, simulation

    adata, _, _ = toy
    pb = pseudobulk(adata, condition_key="guide", control="NTC", n_top_de=0)
    if kind == "saved":
        ids = pb.perturbations()
        wanted = Split([{"train": ids[:8], "test": ids[8:11]}, {"train": ids[3:], "test": ids[:3]}])
        arg = wanted.save(tmp_path / "custom.json")
    else:
        wanted = kfold(pb) if kind == "kfold" else simulation(pb)  # builder defaults
        arg = kind
    df = evaluate_perturbation(adata, condition_key="guide", control="NTC", split=arg,
                               predictors=["train_mean"])  # fmt: skip
    got = sorted(zip(df["fold"], df["id"], df["n_train"]))
    exp = sorted((k, t, len(f["train"])) for k, f in enumerate(wanted.folds) for t in f["test"])
    assert got == exp
    loo = leave_one_out(pb).folds
    assert got != sorted((k, t, len(f["train"])) for k, f in enumerate(loo) for t in f["test"])
    assert df.attrs["biobft"]["n_folds"] == len(wanted)


def _joined_training_data():
    """Control, singles G1..G3 and a double spelt 'G1_G2' while sep='+' (trial bug 5)."""
    import anndata as ad

    genes = ["G1", "G2", "G3", "G4"]
    labels = [c for c in ("control", "G1", "G2", "G3", "G1_G2") for _ in range(6)]
    rng = np.random.default_rng(0)
    X = rng.normal(size=(len(labels), len(genes))) + 2.0
    obs = pd.DataFrame({"condition": labels}, index=[f"c{i}" for i in range(len(labels))])
    return ad.AnnData(X, obs=obs, var=pd.DataFrame(index=genes))


def test_joined_training_label_gets_the_sep_hint_like_a_requested_one(monkeypatch):
    """A training label 'G1_G2' with sep='+' was a bare KeyError from the embedder; now it is the
    same ValueError (with the sep= hint) that a requested 'G1_G2' gets, before any fit."""
    from biobft.embed.table import make_table
    from biobft.perturb.predictors import PREDICTORS

    adata = _joined_training_data()
    table = make_table(np.eye(4), ["G1", "G2", "G3", "G4"], model="t", source="t")
    match = r"\['G1_G2'\] look like several genes joined by \['_'\].*pass sep=.*sep='_'"
    for name in ("ridge", "additive"):
        monkeypatch.setattr(PREDICTORS[name], "fit", lambda *a, **k: pytest.fail("fitted"))
    with pytest.raises(ValueError, match=match):  # the request: as before
        predict_perturbation(adata, embedding=table, perturbations=["G1_G2"], control="control")
    for predictor in ("ridge", "additive"):  # the training label: now the same error
        with pytest.raises(ValueError, match=match):
            predict_perturbation(adata, embedding=table, perturbations=["G3"], control="control",
                                 predictor=predictor)  # fmt: skip
    monkeypatch.undo()
    # with the right separator the double is read as a double and training works
    out = predict_perturbation(adata, embedding=table, perturbations=["G3"], control="control",
                               sep="_", predictor="additive")  # fmt: skip
    assert out.obs["n_train"].iloc[0] == 4


def test_one_predictor_name_is_one_predictor(toy):
    adata, table, _ = toy
    kw = dict(embedding=table, condition_key="guide", control="NTC", metrics=["pearson_delta"])
    one = evaluate_perturbation(adata, predictors="train_mean", **kw)
    assert set(one["predictor"]) == {"train_mean"}
    same = evaluate_perturbation(adata, predictors=["train_mean"], **kw)
    pd.testing.assert_frame_equal(one, same)
    with pytest.raises(ValueError, match="predictors is empty"):
        evaluate_perturbation(adata, predictors=[], **kw)
    with pytest.raises(TypeError, match=r"predictor must be one name \(str\).*evaluate_perturb"):
        predict_perturbation(adata, embedding=table, perturbations=["P1"], condition_key="guide",
                             control="NTC", predictor=["ridge"])  # fmt: skip
