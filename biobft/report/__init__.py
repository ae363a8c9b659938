"""The main job: embed genes, run the GGI and perturbation benchmarks, write a report."""

from __future__ import annotations

from .benchmark import BenchmarkResult, run_benchmark
from .write import write_report

__all__ = ["BenchmarkResult", "run_benchmark", "write_report"]
