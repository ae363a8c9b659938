"""The outcome of :func:`biobft.experiment.run_experiment` and the files it is written to:
``runs.csv``, ``summary.csv``, ``results.json``, ``results.md`` (with the run's notes) and
``summary.png``."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .._paths import atomic_path
from .report import plot_summary, to_markdown
from .settings import ExperimentSettings

__all__ = ["ExperimentResult"]


@dataclass
class ExperimentResult:
    """Outcome of :func:`biobft.experiment.run_experiment`.

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
