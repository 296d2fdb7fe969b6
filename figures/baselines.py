"""The dense baseline that every training figure shows: dense SGD of the ``ep-vs-dense`` sweep.

One definition for figures 0, 4, 6-9 and 11: the dense runs (method ``dense``) of the same dataset and
model as the figure's runs, their mean test accuracy in percent and its spread over seeds, drawn as a
horizontal line with a ±1 s.d. band. Figures whose own sweep has no dense arm declare ``ep-vs-dense``
among their experiments, so ``slth reproduce`` runs it first. Also the per-epoch accuracy curves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from figures.records import (
    MissingRecordsError,
    SeedStats,
    TrainingRun,
    accuracy_percent,
    seed_stats,
    training_runs,
)
from figures.style import REFERENCE_COLOR, PlotRecorder

#: The sweep that holds the dense baselines.
BASELINE_EXPERIMENT = "ep-vs-dense"


def dense_runs(runs_root: Path, dataset: str | None, model: str | None) -> list[TrainingRun]:
    """Finished dense runs of ``dataset`` and ``model`` in the baseline sweep (empty when none)."""
    try:
        runs = training_runs(runs_root, BASELINE_EXPERIMENT, metrics=False)
    except MissingRecordsError:
        return []
    return [
        r
        for r in runs
        if r.get("method") == "dense"
        and (dataset is None or r.get("dataset") == dataset)
        and (model is None or r.get("model") == model)
    ]


def dense_baseline(runs_root: Path, like: list[TrainingRun]) -> SeedStats | None:
    """Dense test accuracy (%) over seeds for the dataset and model of the runs ``like`` (None if none)."""
    if not like:
        return None
    dataset, model = like[0].get("dataset"), like[0].get("model")
    runs = dense_runs(runs_root, dataset, model)
    return seed_stats(accuracy_percent(r) for r in runs) if runs else None


def draw_dense(rec: PlotRecorder, ax: Any, panel: str, stats: SeedStats | None) -> str:
    """Draw the dense baseline on an accuracy axis (%) and return its summary line."""
    if stats is None or stats.n == 0:
        return "dense baseline: not recorded (run slth run ep-vs-dense)"
    rec.hline(
        ax,
        panel,
        "dense baseline",
        stats.mean,
        label=f"dense SGD {stats.mean:.1f}% ± {stats.std:.1f} ({stats.n} seeds)",
        linestyle="--",
    )
    ax.axhspan(stats.lo, stats.hi, color=REFERENCE_COLOR, alpha=0.08, lw=0)
    return f"dense baseline: {stats.mean:.2f}% ± {stats.std:.2f} over {stats.n} seeds"


def epoch_curves(runs: list[TrainingRun]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each run's test accuracy (%) after every epoch (epoch 1 = after the first); runs without it skipped."""
    curves = []
    for run in runs:
        x, y = run.series("test_acc", x="epoch")
        if x.size:
            curves.append((x + 1, y * 100.0))
    return curves
