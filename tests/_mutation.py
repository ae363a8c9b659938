"""Mutation testing of biobft's core modules with mutmut (``make mutation``; not run by pytest).

Each core module is mutated on its own, in a scratch copy of the project, and only against its
own test files (mutmut runs, per mutant, just the tests that reach the mutated function), so a
module's run is minutes, not hours. The project's pytest configuration is kept except the
notebook plugin (``--nbmake``) and the ``tutorials`` test path, which mutmut must not collect.

Usage::

    python tests/_mutation.py                        # every module in MODULES
    python tests/_mutation.py perturb/metrics.py     # one or more modules
    python tests/_mutation.py --list                 # the modules and their test files

Results (``mutmut results`` per module, plus a summary line with the score) are printed and kept
under ``data/mutation/<module>/`` (git-ignored); inspect a survivor with
``cd data/mutation/<module> && mutmut show <mutant-name>``. Mutants too slow for mutmut's own
runner (the torch modules) can be checked in one process with ``tests/_mutation_check.py``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: core module (relative to biobft/) -> the test files that exercise it
MODULES: dict[str, list[str]] = {
    "perturb/metrics.py": ["tests/perturb/test_metrics.py"],
    "embed/pooling.py": ["tests/embed/test_pooling.py"],
    "ggi/features.py": ["tests/ggi/test_features.py"],
    "perturb/splits.py": ["tests/perturb/test_splits.py"],
    "train/losses.py": ["tests/train/test_losses.py"],
    "train/terms.py": ["tests/train/test_terms.py", "tests/train/test_losses.py"],
    "train/logprobs.py": ["tests/train/test_logprobs.py", "tests/train/test_losses.py"],
    "train/confidence.py": ["tests/train/test_confidence.py", "tests/train/test_losses.py"],
    "perturb/predictors.py": ["tests/perturb/test_predictors.py"],
    "perturb/embeddings.py": [
        "tests/perturb/test_embeddings.py",
        "tests/perturb/test_predictors.py",
    ],
    "perturb/evaluate.py": ["tests/perturb/test_evaluate.py", "tests/perturb/test_predictors.py"],
    "embed/genes.py": ["tests/embed/test_genes.py"],
    "embed/encoding.py": [
        "tests/embed/test_encoding.py",
        "tests/embed/test_encoders.py",
        "tests/embed/test_runtime.py",
    ],
    "ggi/evaluate.py": ["tests/ggi/test_evaluate.py"],
    "ggi/leakage.py": ["tests/ggi/test_leakage.py"],
}

#: tests left out of every mutation run (``-m``): slow ones have a fast twin, gpu ones need CUDA
MARKERS = "not slow and not gpu"
#: modules whose real-data tests would be re-run for every surviving mutant at minutes each (the
#: packaged MiniLM on the RefSeq corpus); their synthetic tests cover the same code paths
EXTRA_MARKERS: dict[str, str] = {
    "embed/genes.py": "not realdata",
    "embed/encoding.py": "not realdata",
}

PYTEST_ARGS = [
    "-p",
    "no:nbmake",
    "-p",
    "no:cacheprovider",
    # the project's addopts without --nbmake (the plugin is off) and without --durations
    "-o",
    "addopts=--strict-markers --import-mode=importlib",
    "-q",
    "-x",
]

#: one BLAS / OpenMP thread in mutmut and every test process: the machine's cores are shared, and
#: an OpenMP thread pool started before a fork makes the forked test process hang (the losses run
#: of issue 15 timed out that way)
THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


#: modules whose tests run torch: torch is not fork-safe once its thread pools have started, so
#: their mutants are forked from a clean fork server (slower: ~2 s per mutant instead of ~0.1 s)
TORCH_MODULES = {
    "embed/pooling.py",
    "embed/genes.py",
    "embed/encoding.py",
    "train/losses.py",
    "train/terms.py",
    "train/logprobs.py",
    "train/confidence.py",
}


#: appended to the scratch copy's tests/conftest.py: tqdm's default write lock is a
#: multiprocessing semaphore shared by every forked test process; one process killed while
#: holding it (a timeout) leaves it taken, and every later mutant that draws a progress bar then
#: hangs until its own timeout (seen in the embed/genes.py run: a cascade of "timeouts").
#: A process-local lock makes each forked test process independent.
TQDM_LOCK = """

import threading as _threading

import tqdm as _tqdm

_tqdm.tqdm.set_lock(_threading.RLock())  # added by tests/_mutation.py: no lock shared across forks
"""


def _pytest_args(module: str) -> list[str]:
    extra = EXTRA_MARKERS.get(module)
    return [*PYTEST_ARGS, "-m", f"{MARKERS} and {extra}" if extra else MARKERS]


def _config(
    module: str, tests: list[str], isolation: str | None = None, timeout_multiplier: float = 15.0
) -> str:
    def toml_list(xs: list[str]) -> str:
        return "[" + ", ".join(f'"{x}"' for x in xs) + "]"

    return (
        "\n[tool.mutmut]\n"
        'source_paths = ["biobft"]\n'
        f'only_mutate = ["biobft/{module}"]\n'
        f"pytest_add_cli_args = {toml_list(_pytest_args(module))}\n"
        f"pytest_add_cli_args_test_selection = {toml_list(tests)}\n"
        f"timeout_multiplier = {float(timeout_multiplier)}\n"
    ) + f'process_isolation = "{isolation or _isolation(module)}"\n'


def _isolation(module: str) -> str:
    return "forkserver" if module in TORCH_MODULES else "fork"


def _pyproject(
    module: str, tests: list[str], isolation: str | None = None, timeout_multiplier: float = 15.0
) -> str:
    text = (ROOT / "pyproject.toml").read_text()
    # mutmut must not collect the notebooks: tests only
    text = re.sub(r"testpaths = \[[^\]]*\]", 'testpaths = ["tests"]', text)
    return text + _config(module, tests, isolation, timeout_multiplier)


def run_module(
    module: str,
    workdir: Path,
    *,
    max_children: int = 1,
    isolation: str | None = None,
    timeout_multiplier: float = 15.0,
) -> dict[str, int]:
    """Mutate ``biobft/<module>`` in a scratch copy under ``workdir``; return status counts."""
    tests = MODULES[module]
    dest = workdir / module.replace("/", "__").removesuffix(".py")
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    shutil.copytree(ROOT / "biobft", dest / "biobft", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "tests", dest / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    (dest / "pyproject.toml").write_text(_pyproject(module, tests, isolation, timeout_multiplier))
    with open(dest / "tests" / "conftest.py", "a") as fh:  # the scratch copy only
        fh.write(TQDM_LOCK)
    mutmut = [sys.executable, "-m", "mutmut"]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # import the mutants
    env.update(THREAD_ENV)
    run = [*mutmut, "run", "--max-children", str(max_children)]
    subprocess.run(run, cwd=dest, env=env, check=False)
    res = subprocess.run(
        [*mutmut, "results", "--all", "true"], cwd=dest, env=env, capture_output=True, text=True
    )
    (dest / "results.txt").write_text(res.stdout)
    counts: dict[str, int] = {}
    for line in res.stdout.splitlines():
        if ":" in line:
            status = line.rsplit(":", 1)[1].strip()
            counts[status] = counts.get(status, 0) + 1
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help="paths under biobft/ (default: all)")
    parser.add_argument("--workdir", default=str(ROOT / "data" / "mutation"))
    parser.add_argument("--max-children", type=int, default=1)
    parser.add_argument(
        "--isolation",
        choices=["fork", "forkserver"],
        help="mutmut process isolation (default: forkserver for TORCH_MODULES, else fork); with "
        "one OpenMP thread (THREAD_ENV) plain fork is safe for torch too and much faster when "
        "the tests import transformers",
    )
    parser.add_argument(
        "--timeout-multiplier",
        type=float,
        default=15.0,
        help="mutmut's wall-clock limit per mutant is (test time + 1 s) x this (default 15); "
        "raise it on a loaded machine, where a slow surviving mutant otherwise reads as a timeout",
    )
    parser.add_argument("--list", action="store_true")
    args = parser.parse_args(argv)
    if args.list:
        for m, t in MODULES.items():
            print(f"biobft/{m}: {' '.join(t)}")
        return 0
    unknown = [m for m in args.modules if m not in MODULES]
    if unknown:
        parser.error(f"unknown module(s) {unknown}; choose from {list(MODULES)}")
    for module in args.modules or list(MODULES):
        counts = run_module(
            module,
            Path(args.workdir),
            max_children=args.max_children,
            isolation=args.isolation,
            timeout_multiplier=args.timeout_multiplier,
        )
        killed = counts.get("killed", 0) + counts.get("timeout", 0)
        total = sum(counts.values())
        print(f"biobft/{module}: {counts} -> killed {killed}/{total}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
