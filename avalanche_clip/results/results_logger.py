"""ResultsLogger: every metric value of a run in a long file, and the results table beside it.

A logger rather than a plugin: Avalanche's ``EvaluationPlugin`` hands every logger exactly the
values its metrics publish (ours and Avalanche's, with names and ``x_plot``) through
``log_single_metric``, and calls the logger's own callbacks at the points where a file should
be written; it composes with the Interactive, Text and TensorBoard loggers in
``EvaluationPlugin(loggers=[...])``, and replaces Avalanche's ``CSVLogger``, which drops every
metric it does not know by name. A plugin would have to read the evaluator's private record.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import torch
from avalanche.logging import BaseLogger

from .._atomic import atomic_write_text
from .layout import METRICS_FILE, RESULTS_FILE
from .run_files import MetricRow, RunInfo, read_metric_rows, write_metric_rows, write_run_info
from .summary import summarize

logger = logging.getLogger(__name__)


class ResultsLogger(BaseLogger):
    """Write a run's values to ``metrics.csv`` and its results table to ``results.json``.

    Both files are rewritten atomically before training (the original model's values), after
    every training experience, after every evaluation and after training, so a crash loses
    nothing already measured. Each value is tagged with the training experience it belongs to
    (-1: before any training). Only scalar values are kept (int, float, one-element tensors);
    others (images, histograms) are counted and reported at warning level.

    Args:
        run_dir: the run directory (created if needed); see :mod:`.run_files`.
        run_info: written to ``run.json`` when given (method, variant, protocol, seed).
        resume_after: None for a new run (existing result files are refused, never overwritten);
            ``n`` to continue a run from its files after its ``n``-th training experience: the
            values of the original model and of experiences ``0..n-1`` are kept, later ones
            (an experience that did not finish) dropped.
    """

    def __init__(self, run_dir: str | os.PathLike, *, run_info: RunInfo | None = None,
                 resume_after: int | None = None):
        super().__init__()
        self.run_dir = Path(run_dir)
        self.metrics_path = self.run_dir / METRICS_FILE
        self.results_path = self.run_dir / RESULTS_FILE
        if resume_after is None:
            existing = [p for p in (self.metrics_path, self.results_path) if p.exists()]
            if existing:
                raise FileExistsError(
                    f"{existing[0]} exists: choose a new run directory, or pass resume_after=N to "
                    "continue that run after its N-th training experience."
                )
            self.rows: list[MetricRow] = []
            self.experiences_completed = 0
        else:
            if isinstance(resume_after, bool) or not isinstance(resume_after, int) or resume_after < 0:
                raise ValueError(f"resume_after must be None or an integer >= 0, got {resume_after!r}.")
            self.rows = [row for row in read_metric_rows(self.metrics_path) if row.experience < resume_after]
            self.experiences_completed = resume_after
        self._experience = self.experiences_completed - 1  # ORIGINAL (-1) before any experience
        self._skipped: dict[str, str] = {}  # name -> type of values that are not scalars
        self._skipped_reported = 0
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if run_info is not None:
            write_run_info(self.run_dir, run_info)

    def log_single_metric(self, name: str, value: Any, x_plot: int) -> None:
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self._skipped[name] = type(value).__name__
            return
        self.rows.append(MetricRow(name, self._experience, int(x_plot), float(value)))

    def results(self) -> dict[str, Any]:
        """The content of ``results.json`` now (see :func:`~.summary.summarize`)."""
        return summarize(self.rows, experiences_completed=self.experiences_completed)

    def write(self) -> None:
        """Rewrite ``metrics.csv`` and ``results.json`` atomically."""
        write_metric_rows(self.metrics_path, self.rows)
        atomic_write_text(self.results_path, json.dumps(self.results(), indent=2) + "\n")
        if len(self._skipped) > self._skipped_reported:
            logger.warning(
                "ResultsLogger keeps scalar values only: %d metrics with other values were not "
                "written to %s, e.g. %s.", len(self._skipped), self.metrics_path,
                ", ".join(f"{n} ({t})" for n, t in list(self._skipped.items())[:3]),
            )
            self._skipped_reported = len(self._skipped)

    def state_dict(self) -> dict[str, Any]:
        """The rows logged so far and the experience bookkeeping, to resume a run exactly."""
        return {"rows": [[r.name, r.experience, r.step, r.value] for r in self.rows],
                "experiences_completed": self.experiences_completed, "experience": self._experience}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`; the files are rewritten at the next write."""
        self.rows = [MetricRow(str(n), int(e), int(s), float(v)) for n, e, s, v in state["rows"]]
        self.experiences_completed = int(state["experiences_completed"])
        self._experience = int(state["experience"])

    # ---------------------------------------------------------- EvaluationPlugin callbacks

    def before_training(self, strategy: Any, metric_values: list, **kwargs) -> None:
        self.write()

    def before_training_exp(self, strategy: Any, metric_values: list, **kwargs) -> None:
        self._experience = self.experiences_completed

    def after_training_exp(self, strategy: Any, metric_values: list, **kwargs) -> None:
        self.experiences_completed += 1
        self.write()

    def after_eval(self, strategy: Any, metric_values: list, **kwargs) -> None:
        self.write()

    def after_training(self, strategy: Any, metric_values: list, **kwargs) -> None:
        self.write()


__all__ = ["ResultsLogger"]
