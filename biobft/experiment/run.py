"""``run_experiment``: does BFT teach a small LLM gene knowledge that SFT misses?

One command:

1. gene instruction data ("Tell me about gene X." -> RefSeq summary) with a gene-disjoint
   train / held-out split that keeps every evaluation gene out of training (all Gene2vec test
   genes, the Gene2vec train genes used to fit the GGI classifier, Norman 2019's perturbed genes);
2. the base model plus one fine-tuned copy per loss type and seed, all with the same budget
   (steps, learning rate, batch, max length, LoRA rank or full fine-tuning);
3. for every model: held-out NLL and token accuracy; GGI ROC-AUC on Gene2vec test pairs from
   (a) mean-pooled LLM hidden states of the RefSeq text and (b) MiniLM embeddings of the model's
   own generated profiles; Norman 2019 Pearson delta with the ridge predictor on both tables;
4. mean ± sd over seeds: ``runs.csv``, ``summary.csv``, ``results.json``, ``results.md``,
   ``summary.png`` and the generated profiles in ``out_dir``.

Each finished arm is saved to ``out_dir/runs/<arm>.json`` (keyed by the settings): a rerun with the
same settings resumes after the last finished arm. The GGI evaluation scores the Gene2vec pairs
among a dense subset of genes (:func:`biobft.experiment.data.select_genes`), not all 21,448 test
pairs, so that every model can describe every scored gene on a CPU.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import platform
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .._paths import atomic_path
from .data import (
    LOSS_VARIANTS,
    check_loss_types,
    instruction_split,
    perturbation_genes,
    perturbqa_subset,
    select_genes,
    sizes_ok,
    strip_symbol_prefix,
    subset_pairs,
)
from .report import METRIC_LABELS, paired_differences, plot_summary, summarize, to_markdown

logger = logging.getLogger(__name__)

__all__ = ["PRESETS", "ExperimentResult", "ExperimentSettings", "run_experiment"]

PRESETS: dict[str, dict[str, Any]] = {
    "default": {
        "seeds": (0, 1, 2),
        "n_train_genes": 256,
        "n_eval_genes": 32,
        "n_ggi_train_genes": 192,
        "n_ggi_test_genes": 128,
        "max_steps": 32,
        "batch_size": 4,
        "gradient_accumulation_steps": 1,
        "max_length": 160,
        "max_new_tokens": 48,
        "embed_max_length": 160,
        "n_perturbqa_test": 267,
        "n_perturbqa_train": 400,
    },
    "quick": {
        "seeds": (0,),
        "n_train_genes": 48,
        "n_eval_genes": 12,
        "n_ggi_train_genes": 32,
        "n_ggi_test_genes": 24,
        "max_steps": 3,
        "batch_size": 2,
        "gradient_accumulation_steps": 1,
        "max_length": 96,
        "max_new_tokens": 16,
        "embed_max_length": 96,
        "n_perturbqa_test": 16,
        "n_perturbqa_train": 40,
    },
}
"""Size presets; ``quick=True`` picks ``"quick"`` (CI), else ``"default"``."""


@dataclass
class ExperimentSettings:
    """Every knob of :func:`run_experiment` (recorded in ``results.json``)."""

    model: str = "smollm2-135m"
    loss_types: tuple[str, ...] = ("sft", "dft", "bft", "bft_gn")
    seeds: tuple[int, ...] = (0, 1, 2)
    n_train_genes: int = 256
    n_eval_genes: int = 32
    n_ggi_train_genes: int = 192
    n_ggi_test_genes: int = 128
    max_steps: int = 32
    learning_rate: float = 2e-5
    batch_size: int = 4
    gradient_accumulation_steps: int = 1
    max_length: int = 160
    lora_r: int = 0
    group_size: int = 256
    max_new_tokens: int = 48
    gen_batch_size: int = 16
    embed_max_length: int = 160
    embed_batch_size: int = 16
    n_perturbqa_test: int = 267
    n_perturbqa_train: int = 400
    encoder: str = "minilm"
    prompt: str = "Tell me about gene {symbol}."
    dtype: str | None = None
    data_seed: int = 0
    quick: bool = False

    def key(self) -> str:
        """Hash of everything that changes one arm's result (for resuming finished arms).

        Which arms and seeds are requested does not change the result of one ``(arm, seed)``,
        so ``loss_types``, ``seeds`` and the ``quick`` flag (its preset values are recorded
        field by field) are left out: adding a seed or a loss type reuses the finished arms.
        """
        values = dataclasses.asdict(self)
        for name in ("loss_types", "seeds", "quick"):
            values.pop(name)
        blob = json.dumps(values, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass
class ExperimentResult:
    """Outcome of :func:`run_experiment`.

    Attributes
    ----------
    runs
        One row per model (``base`` and each ``<loss>`` x seed): metrics and wall times.
    summary
        Mean ± sd over seeds per arm (:func:`biobft.experiment.summarize`).
    baselines
        Reference numbers without a fine-tuned LLM (MiniLM on RefSeq text, random embeddings,
        embedding-free perturbation predictors).
    settings
        The :class:`ExperimentSettings`.
    out_dir
        Where the files were written.
    seconds
        Wall time of the whole run.
    info
        Data sizes, machine and timing facts.
    paired
        Each arm minus SFT, paired by seed (:func:`biobft.experiment.paired_differences`);
        empty without an SFT arm.
    """

    runs: pd.DataFrame
    summary: pd.DataFrame
    baselines: dict[str, Any]
    settings: ExperimentSettings
    out_dir: Path
    seconds: float
    info: dict[str, Any] = field(default_factory=dict)
    paired: pd.DataFrame = field(default_factory=pd.DataFrame)


# --------------------------------------------------------------------------- context
@dataclass
class _Context:
    settings: ExperimentSettings
    refseq: pd.Series  # symbol -> GenePT-style "Gene symbol X. <summary>"
    ggi_train: pd.DataFrame
    ggi_test: pd.DataFrame
    adata: Any
    genes: list[str]  # every gene embedded / described per model
    train_records: list[dict]
    eval_records: list[dict]
    info: dict[str, Any]
    perturbqa: pd.DataFrame | None = None  # PerturbQA K562 DE pairs of the sampled knockdowns


def _settings(quick: bool, overrides: dict[str, Any]) -> ExperimentSettings:
    preset = PRESETS["quick" if quick else "default"]
    values = {**preset, **{k: v for k, v in overrides.items() if v is not None}}
    values["quick"] = bool(quick)
    values["loss_types"] = tuple(check_loss_types(values.get("loss_types", ("sft",))))
    seeds = values["seeds"]
    seeds = (seeds,) if isinstance(seeds, int) else tuple(int(s) for s in seeds)
    if not seeds:
        raise ValueError("seeds is empty; pass at least one seed, e.g. seeds=(0,)")
    values["seeds"] = seeds
    names = [
        "n_train_genes", "n_eval_genes", "n_ggi_train_genes", "n_ggi_test_genes", "max_steps",
        "batch_size", "gradient_accumulation_steps", "max_length", "max_new_tokens",
        "gen_batch_size", "embed_max_length", "embed_batch_size",
    ]  # fmt: skip
    for name in ("n_perturbqa_test", "n_perturbqa_train"):  # 0 turns the PerturbQA score off
        if int(values.get(name, 0)) < 0 or int(values.get(name, 0)) == 1:
            raise ValueError(f"{name} must be 0 (off) or >= 2; got {values[name]}")
    sizes_ok([values.get(n, 1) for n in names], names)
    if values.get("n_ggi_train_genes", 2) < 2 or values.get("n_ggi_test_genes", 2) < 2:
        raise ValueError("n_ggi_train_genes and n_ggi_test_genes must be >= 2 (pairs need two)")
    if float(values.get("learning_rate", 1.0)) <= 0:
        raise ValueError(f"learning_rate must be > 0; got {values['learning_rate']}")
    if int(values.get("lora_r", 0)) < 0:
        raise ValueError(f"lora_r must be >= 0 (0 = full fine-tuning); got {values['lora_r']}")
    known = {f.name for f in dataclasses.fields(ExperimentSettings)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise TypeError(f"unknown experiment setting(s) {unknown}; valid: {sorted(known)}")
    return ExperimentSettings(**values)


def _prepare(settings: ExperimentSettings) -> _Context:
    """Load the data, pick the evaluation genes, build the gene-disjoint instruction data."""
    from biobft import datasets
    from biobft.ggi import clean_pairs
    from biobft.text import gene_texts

    refseq = gene_texts(None, source="refseq")
    have_text = set(refseq.index.astype(str))
    g2v_train, _ = clean_pairs(datasets.gene2vec_pairs("train"))
    g2v_test, _ = clean_pairs(datasets.gene2vec_pairs("test"))
    all_test_genes = set(g2v_test["gene_a"].astype(str)) | set(g2v_test["gene_b"].astype(str))
    s = settings
    train_genes = select_genes(
        g2v_train, s.n_ggi_train_genes, candidates=have_text, seed=s.data_seed
    )
    test_genes = select_genes(g2v_test, s.n_ggi_test_genes, candidates=have_text, seed=s.data_seed)
    ggi_train = subset_pairs(g2v_train, train_genes, name="Gene2vec train pairs")
    ggi_test = subset_pairs(g2v_test, test_genes, name="Gene2vec test pairs")

    adata = datasets.perturbench_devel("norman19")
    pert_genes = perturbation_genes(adata.obs["condition"].astype(str).unique())
    genes = list(dict.fromkeys([*train_genes, *test_genes, *pert_genes]))

    # PerturbQA K562 DE (non-commercial data): every test knockdown stays out of training
    pqa = datasets.perturbqa(cell_line="k562", task="de")
    pqa_test_all = set(pqa.loc[pqa["split"] == "test", "pert"].astype(str))
    pqa_pairs = None
    if s.n_perturbqa_test and s.n_perturbqa_train:
        pqa_pairs = perturbqa_subset(pqa, n_test=s.n_perturbqa_test, n_train=s.n_perturbqa_train,
                                     candidates=have_text, seed=s.data_seed)  # fmt: skip
        genes = list(dict.fromkeys([*genes, *sorted(set(pqa_pairs["pert"]))]))

    exclude = all_test_genes | set(genes) | pqa_test_all
    train_records, eval_records = instruction_split(
        strip_symbol_prefix(refseq),
        n_train_genes=s.n_train_genes,
        n_eval_genes=s.n_eval_genes,
        exclude_genes=exclude,
        prompt_template=s.prompt,
        seed=s.data_seed,
    )
    info = {
        "n_ggi_train_pairs": len(ggi_train),
        "n_ggi_test_pairs": len(ggi_test),
        "ggi_test_positive_share": float(ggi_test["label"].mean()),
        "n_gene2vec_test_pairs_total": len(g2v_test),
        "n_perturbation_genes": len(pert_genes),
        "n_perturbation_genes_with_refseq": len(set(pert_genes) & have_text),
        "n_genes_described": len(genes),
        "n_excluded_from_training": len(exclude),
        "n_train_records": len(train_records),
        "n_eval_records": len(eval_records),
        "n_perturbqa_pairs": 0 if pqa_pairs is None else len(pqa_pairs),
        "n_perturbqa_test_knockdowns": 0 if pqa_pairs is None else int(
            pqa_pairs.loc[pqa_pairs["split"] == "test", "pert"].nunique()),
        "n_perturbqa_train_knockdowns": 0 if pqa_pairs is None else int(
            pqa_pairs.loc[pqa_pairs["split"] == "train", "pert"].nunique()),
    }  # fmt: skip
    return _Context(s, refseq, ggi_train, ggi_test, adata, genes, train_records, eval_records,
                    info, pqa_pairs)  # fmt: skip


# --------------------------------------------------------------------------- processes
@dataclass(frozen=True)
class _Processes:
    """This process's place among those ``torchrun`` / ``accelerate launch`` started."""

    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()


def _processes(device: str | None) -> tuple[_Processes, str | None]:
    """Join the launcher's process group (a single process: nothing to do).

    Returns the process's place and its model device (``cuda:<LOCAL_RANK>`` on GPUs).
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return _Processes(), device
    import torch
    import torch.distributed as dist

    local = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available() and (device is None or device.startswith("cuda"))
    if cuda:
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    if not dist.is_initialized():  # the Trainer (accelerate) reuses this group
        dist.init_process_group("nccl" if cuda else "gloo")
    return _Processes(dist.get_rank(), world), device


# --------------------------------------------------------------------------- models
def _loader(settings: ExperimentSettings, device: str | None) -> Callable[[], tuple[Any, Any]]:
    from biobft.models import load_causal_lm

    def load():
        return load_causal_lm(settings.model, dtype=settings.dtype, device=device)

    return load


def _train(model, tokenizer, dataset, arm: str, seed: int, settings: ExperimentSettings, out: Path):
    """Fine-tune ``model`` with ``arm``'s loss; returns ``(model, train_loss, seconds)``."""
    import torch

    from biobft.train import BFTConfig, train

    s = settings
    cuda = torch.cuda.is_available() and next(model.parameters()).device.type == "cuda"
    cfg = BFTConfig(
        output_dir=str(out / "train" / f"{arm}-seed{seed}"),
        **LOSS_VARIANTS[arm],
        group_size=s.group_size,
        max_steps=s.max_steps,
        learning_rate=s.learning_rate,
        lr_scheduler_type="constant",
        warmup_steps=0,
        weight_decay=0.0,
        per_device_train_batch_size=s.batch_size,
        gradient_accumulation_steps=s.gradient_accumulation_steps,
        max_length=s.max_length,
        lora_r=s.lora_r,
        seed=seed,
        data_seed=seed,
        save_strategy="no",
        logging_steps=max(1, s.max_steps // 4),
        report_to="none",
        disable_tqdm=True,
        use_cpu=not cuda,
        bf16=bool(cuda and torch.cuda.is_bf16_supported() and s.dtype in (None, "bf16")),
        dataloader_num_workers=0,
    )
    t0 = time.perf_counter()
    trainer = train(cfg, model=model, tokenizer=tokenizer, train_dataset=dataset, save=False)
    seconds = time.perf_counter() - t0
    model = trainer.model
    if s.lora_r:
        model = model.merge_and_unload()
    losses = [h["train_loss"] for h in trainer.state.log_history if "train_loss" in h]
    model.eval()
    return model, (float(losses[-1]) if losses else float("nan")), seconds


def _model_id(model, arm: str) -> str:
    from biobft.embed.describe import weights_hash

    return f"{arm}:weights:{weights_hash(model)}"


def _hidden_states(model, tokenizer, ctx: _Context, genes: list[str], mid: str) -> pd.DataFrame:
    """Mean-pooled hidden states of the genes' RefSeq text (cached under ``mid``)."""
    from biobft.embed import embed_genes

    s = ctx.settings
    return embed_genes(genes, source=ctx.refseq, model=(model, tokenizer), pooling="mean",
                       max_length=s.embed_max_length, batch_size=s.embed_batch_size,
                       model_id=mid)  # fmt: skip


def _profiles(model, tokenizer, ctx: _Context, genes: list[str], mid: str) -> pd.Series:
    """The model's greedy profiles of the genes (cached under ``mid``)."""
    from biobft.embed.describe import describe_genes

    s = ctx.settings
    return describe_genes(genes, model=model, tokenizer=tokenizer, prompt=s.prompt,
                          max_new_tokens=s.max_new_tokens, batch_size=s.gen_batch_size,
                          model_id=mid)  # fmt: skip


def _share_work(model, tokenizer, ctx: _Context, arm: str, procs: _Processes) -> None:
    """Under several processes, each one embeds and describes its share of the genes.

    Both results land in the shared on-disk caches, so the main process's evaluation that
    follows finds every gene cached: generation, the slow part, is split across the processes.
    """
    if procs.world == 1:
        return
    share = ctx.genes[procs.rank :: procs.world]
    mid = _model_id(model, arm)
    if share:
        _hidden_states(model, tokenizer, ctx, share, mid)
        _profiles(model, tokenizer, ctx, share, mid)
    logger.info("experiment: process %d of %d described %d genes of %s", procs.rank,
                procs.world, len(share), arm)  # fmt: skip
    procs.barrier()


def _evaluate(model, tokenizer, ctx: _Context, arm: str, seed: int, eval_ds, out: Path):
    """All metrics of one model; writes its profiles to ``out/profiles/<arm>.csv``."""
    from biobft.embed import embed_genes

    from .evaluate import ggi_scores, perturbation_scores, perturbqa_scores, response_nll

    s = ctx.settings
    rec: dict[str, Any] = {}
    t = time.perf_counter()
    nll = response_nll(model, eval_ds, tokenizer, batch_size=s.embed_batch_size)
    rec.update(nll=nll["nll"], token_accuracy=nll["token_accuracy"], n_eval_tokens=nll["n_tokens"])
    rec["nll_seconds"] = time.perf_counter() - t

    mid = _model_id(model, arm)
    t = time.perf_counter()
    hidden = _hidden_states(model, tokenizer, ctx, ctx.genes, mid)
    rec["embed_seconds"] = time.perf_counter() - t
    t = time.perf_counter()
    profiles = _profiles(model, tokenizer, ctx, ctx.genes, mid)
    rec["describe_seconds"] = time.perf_counter() - t
    (out / "profiles").mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "profiles" / f"{arm}.csv") as tmp:
        profiles.to_frame().to_csv(tmp)
    words = profiles.str.split().str.len()
    rec["mean_profile_words"] = float(words.mean())
    # an empty profile (the model stopped at once) is embedded as the bare symbol: a name-only
    # floor instead of a gene silently missing from the table
    empty = words == 0
    rec["n_empty_profiles"] = int(empty.sum())
    texts = profiles.where(~empty, pd.Series(profiles.index, index=profiles.index))
    prof_table = embed_genes(source=texts.rename("profile"), model=s.encoder)

    t = time.perf_counter()
    for name, table, texts in (("hidden", hidden, ctx.refseq), ("profile", prof_table, profiles)):
        g = ggi_scores(table, ctx.ggi_train, ctx.ggi_test, seed=seed, texts=texts)
        rec[f"ggi_{name}_roc_auc"] = g["roc_auc"]
        rec[f"ggi_{name}_random_roc_auc"] = g["random_roc_auc"]
        rec[f"ggi_{name}_leakage"] = g["leakage"]
        p = perturbation_scores(ctx.adata, embedding=table, predictors=("ridge",))
        rec[f"pert_{name}_pearson_delta"] = p["ridge"]["mean"]
        rec[f"pert_{name}_n_missing_genes"] = p["ridge"]["n_missing_genes"]
        if ctx.perturbqa is not None:
            q = perturbqa_scores(table, ctx.perturbqa, seed=seed)
            rec[f"pqa_{name}_auroc_per_gene"] = q["auroc_per_gene"]
            rec[f"pqa_{name}_random_auroc_per_gene"] = q["random_auroc_per_gene"]
            rec[f"pqa_{name}_n_test_knockdowns"] = q["n_test_perturbations"]
    rec["score_seconds"] = time.perf_counter() - t
    return rec


def _baselines(ctx: _Context) -> dict[str, Any]:
    """Reference numbers without any LLM: MiniLM on the RefSeq text, embedding-free predictors."""
    from biobft.embed import embed_genes

    from .evaluate import ggi_scores, perturbation_scores, perturbqa_scores

    table = embed_genes(ctx.genes, source=ctx.refseq, model=ctx.settings.encoder)
    g = ggi_scores(table, ctx.ggi_train, ctx.ggi_test, seed=0, texts=ctx.refseq)
    p = perturbation_scores(ctx.adata, embedding=table,
                            predictors=("ridge", "additive", "train_mean"))  # fmt: skip
    pqa: dict[str, Any] = {}
    if ctx.perturbqa is not None:
        q = perturbqa_scores(table, ctx.perturbqa, seed=0)
        pqa = {
            "pqa_refseq_minilm_auroc_per_gene": q["auroc_per_gene"],
            "pqa_random_auroc_per_gene": q["random_auroc_per_gene"],
            "pqa_n_test_knockdowns": q["n_test_perturbations"],
        }
    return {
        **pqa,
        "ggi_refseq_minilm_roc_auc": g["roc_auc"],
        "ggi_random_roc_auc": g["random_roc_auc"],
        "ggi_refseq_leakage": g["leakage"],
        "pert_refseq_minilm_ridge_pearson_delta": p["ridge"]["mean"],
        "pert_additive_pearson_delta": p["additive"]["mean"],
        "pert_train_mean_pearson_delta": p["train_mean"]["mean"],
        "n_perturbation_conditions": p["ridge"]["n_conditions"],
    }


# --------------------------------------------------------------------------- runner
def _cached(path: Path, key: str) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data.get("record") if data.get("key") == key else None


def _store(path: Path, key: str, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps({"key": key, "record": record}, indent=1, default=float))


def run_experiment(
    *,
    model: str | os.PathLike = "smollm2-135m",
    loss_types: Iterable[str] | str = ("sft", "dft", "bft", "bft_gn"),
    seeds: Iterable[int] | int | None = None,
    quick: bool = False,
    out_dir: str | os.PathLike = "results/experiment",
    device: str | None = None,
    **overrides: Any,
) -> ExperimentResult:
    """Run the BFT-vs-DFT-vs-SFT experiment end to end and write its report.

    Parameters
    ----------
    model
        Causal LM: ``"smollm2-135m"`` (packaged SmolLM2-135M-Instruct) or a Hugging Face folder
        (a larger model on a GPU: same command). Training runs through the HF ``Trainer``;
        under ``accelerate launch`` / ``torchrun`` every process trains (data parallel), each
        process embeds and describes its share of the genes into the shared caches, and the
        main process scores the models and writes the report.
    loss_types
        Arms to train (names in :data:`biobft.experiment.data.LOSS_VARIANTS`); the base model is
        always evaluated too.
    seeds
        Training seeds; each arm is trained once per seed (same data, same budget). ``None``:
        the preset's (``(0, 1, 2)``; ``(0,)`` for ``quick``).
    quick
        Use the ``"quick"`` size preset (a few steps, ~100 genes): a CI smoke run.
    out_dir
        Output folder (created).
    device
        Model device (default: CUDA when available; ``cuda:<LOCAL_RANK>`` under a launcher).
    **overrides
        Any :class:`ExperimentSettings` field, e.g. ``max_steps=100``, ``learning_rate=1e-5``,
        ``lora_r=16``, ``n_train_genes=2000``, ``max_new_tokens=128``, ``dtype="bf16"``. Values of
        ``None`` keep the preset.

    Returns
    -------
    :class:`ExperimentResult` (also written as ``runs.csv``, ``summary.csv``, ``results.json``,
    ``results.md``, ``summary.png`` and ``profiles/<arm>.csv`` into ``out_dir``).

    Raises
    ------
    ValueError
        Unknown loss type, non-positive sizes, too few genes for the requested sizes.
    TypeError
        An unknown setting.
    FileNotFoundError
        A model path that does not exist.
    """
    import torch

    from biobft.train.data import load_instruction_dataset

    t_start = time.perf_counter()
    settings = _settings(
        quick, {"model": str(model), "loss_types": loss_types, "seeds": seeds, **overrides}
    )
    out = Path(out_dir)
    procs, device = _processes(device)
    load = _loader(settings, device)
    base_model, tokenizer = load()  # fails early on a bad model path, before any output
    out.mkdir(parents=True, exist_ok=True)
    key = settings.key()
    t = time.perf_counter()
    ctx = _prepare(settings)
    ctx.info["prepare_seconds"] = time.perf_counter() - t
    train_ds = load_instruction_dataset(
        ctx.train_records, tokenizer, max_length=settings.max_length
    )
    eval_ds = load_instruction_dataset(ctx.eval_records, tokenizer, max_length=settings.max_length)

    baselines = _cached(out / "runs" / "baselines.json", key)
    if baselines is None:
        if procs.main:
            _store(out / "runs" / "baselines.json", key, _baselines(ctx))
        procs.barrier()
        baselines = _cached(out / "runs" / "baselines.json", key)

    records = []
    arms = [("base", None)] + [(a, sd) for sd in settings.seeds for a in settings.loss_types]
    for arm, seed in arms:
        name = arm if seed is None else f"{arm}-seed{seed}"
        path = out / "runs" / f"{name}.json"
        rec = _cached(path, key)
        if rec is None:
            logger.info("experiment: %s", name)
            t0, c0 = time.perf_counter(), time.process_time()
            if seed is None:
                model, loss, train_s = base_model, float("nan"), 0.0
            else:
                model, tok = load()
                model, loss, train_s = _train(model, tok, train_ds, arm, seed, settings, out)
            _share_work(model, tokenizer, ctx, name, procs)
            if procs.main:
                rec = {"arm": arm, "seed": seed, "train_loss": loss, "train_seconds": train_s}
                rec.update(_evaluate(model, tokenizer, ctx, name, 0 if seed is None else seed,
                                     eval_ds, out))  # fmt: skip
                rec["seconds"] = time.perf_counter() - t0
                rec["cpu_seconds"] = time.process_time() - c0  # all threads; contention-free
                _store(path, key, rec)
            if model is not base_model:
                del model
            procs.barrier()
            if not procs.main:
                rec = _cached(path, key)
        else:
            logger.info("experiment: %s already done (resumed)", name)
        records.append(rec)

    runs = pd.DataFrame(records)
    summary = summarize(runs, metrics=[m for m in METRIC_LABELS if m in runs])
    seconds = time.perf_counter() - t_start
    info = {
        **ctx.info,
        "device": str(next(base_model.parameters()).device),
        "torch_threads": torch.get_num_threads(),
        "processes": procs.world,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "wall_seconds": seconds,
        "arms_seconds_total": float(runs["seconds"].sum()),
    }
    paired = paired_differences(runs, reference="sft")
    result = ExperimentResult(runs, summary, baselines, settings, out, seconds, info, paired)
    if procs.main:
        _write(result)
    procs.barrier()
    return result


def _notes(result: ExperimentResult) -> list[str]:
    s, info = result.settings, result.info
    notes = [
        f"Wall time {result.seconds / 60:.1f} min for this invocation; the models' train + "
        f"evaluation time sums to {info.get('arms_seconds_total', float('nan')) / 60:.1f} min "
        f"(arms resumed from an earlier invocation included); device {info.get('device')}, "
        f"{info.get('torch_threads')} torch threads, {info.get('platform')}.",
        f"GGI: Gene2vec pairs among {s.n_ggi_train_genes} train-split and {s.n_ggi_test_genes} "
        "test-split genes, taken as the genes of uniformly sampled pairs (labels never used): "
        f"{info.get('n_ggi_train_pairs')} train / {info.get('n_ggi_test_pairs')} test pairs "
        f"(of {info.get('n_gene2vec_test_pairs_total')} test pairs in the full benchmark); "
        "logistic regression on summed pair embeddings.",
        f"Perturbation: Norman 2019 (PerturBench devel), leave-one-perturbation-out, ridge on the "
        f"embedding; {info.get('n_perturbation_genes')} perturbed genes, "
        f"{info.get('n_perturbation_genes_with_refseq')} with a RefSeq summary (the others get "
        "the mean embedding in the hidden-state table).",
        f"Training: {s.max_steps} steps x {s.batch_size} x {s.gradient_accumulation_steps} "
        f"samples, lr {s.learning_rate} (constant), "
        f"{'LoRA r=' + str(s.lora_r) if s.lora_r else 'full fine-tuning'}, max length "
        f"{s.max_length}; {info.get('n_train_records')} training records. Every evaluation gene "
        f"({info.get('n_excluded_from_training')} genes incl. all Gene2vec test genes and all "
        "PerturbQA K562 test knockdowns) is excluded from training; held-out NLL genes are "
        "disjoint from training genes.",
        "PerturbQA K562 DE (non-commercial licence): knn on each table, "
        f"{info.get('n_perturbqa_test_knockdowns')} test and "
        f"{info.get('n_perturbqa_train_knockdowns')} training knockdowns with a RefSeq summary "
        f"({info.get('n_perturbqa_pairs')} pairs), AUROC per readout gene.",
        "Profiles: greedy decoding with the chat template, prompt "
        f"'{s.prompt}', at most {s.max_new_tokens} new tokens.",
        "sd is over training seeds (ddof=1); the base model has no seed. No setting was tuned on "
        "test metrics.",
    ]
    return notes


def _write(result: ExperimentResult) -> None:
    out = result.out_dir
    with atomic_path(out / "runs.csv") as tmp:
        result.runs.to_csv(tmp, index=False)
    with atomic_path(out / "summary.csv") as tmp:
        result.summary.to_csv(tmp)
    payload = {
        "settings": dataclasses.asdict(result.settings),
        "info": result.info,
        "baselines": result.baselines,
        "summary": json.loads(result.summary.to_json(orient="index")),
        "runs": json.loads(result.runs.to_json(orient="records")),
        "paired_vs_sft": json.loads(result.paired.to_json(orient="records")),
    }
    with atomic_path(out / "results.json") as tmp:
        tmp.write_text(json.dumps(payload, indent=1, default=str))
    md = to_markdown(
        result.summary,
        settings={k: v for k, v in dataclasses.asdict(result.settings).items()},
        baselines=result.baselines,
        notes=_notes(result),
        paired=result.paired,
    )
    with atomic_path(out / "results.md") as tmp:
        tmp.write_text(md + "\n![summary](summary.png)\n")
    b = result.baselines
    ggi = (b.get("ggi_refseq_minilm_roc_auc"), "MiniLM on RefSeq text")
    pert = (b.get("pert_train_mean_pearson_delta"), "train mean (no embedding)")
    pqa = (b.get("pqa_refseq_minilm_auroc_per_gene"), "MiniLM on RefSeq text")
    refs = {"ggi_hidden_roc_auc": ggi, "ggi_profile_roc_auc": ggi,
            "pert_hidden_pearson_delta": pert, "pert_profile_pearson_delta": pert,
            "pqa_hidden_auroc_per_gene": pqa, "pqa_profile_auroc_per_gene": pqa}  # fmt: skip
    plot_summary(result.summary, out / "summary.png",
                 baselines={k: v for k, v in refs.items() if v[0] is not None})  # fmt: skip
