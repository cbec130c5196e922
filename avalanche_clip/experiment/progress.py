"""The console of a run: one progress bar over the whole run, and Avalanche's metric blocks when asked.

The bar counts epochs, ``experiences × epochs`` in all, advanced a fraction at every training
iteration (with ``training.iterations`` it counts steps, ``experiences × iterations``); its
estimate is the run's average pace so far (evaluations included), not a recent one, because a
run alternates training with evaluations. A resumed run's bar starts where
training resumes and estimates from the work done since. The bars of the zero-shot and retrieval
encodings (:mod:`avalanche_clip.evaluation.encoding`) appear under it while they run.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from avalanche.logging import BaseLogger, TextLogger
from tqdm import tqdm
from tqdm.contrib import DummyTqdmFile

from .._checks import check_positive_int
from ..training import CLIPStrategy

BAR_FORMAT = "{desc} {percentage:3.0f}%|{bar}| {elapsed}<{remaining}{postfix}"
"""The run bar: percentage, elapsed time < estimated time left, then the experience and epoch in words."""


class RunProgress(BaseLogger):
    """A progress bar over a run's ``experiences × epochs``, on stderr, updated at every training iteration.

    With ``iterations`` the bar's unit is a step (``experiences × iterations`` in all); the
    epoch on it is then out of the experience's own count (:attr:`CLIPStrategy.experience_epochs`).

    An Avalanche logger (it receives the strategy's callbacks from the ``EvaluationPlugin``) that
    logs no metric; build it on the main process only, like every Avalanche logger.

    Args:
        experiences: training experiences in the run (MST sessions, MTIL tasks).
        epochs: epochs of each experience.
        iterations: steps of each experience, when it trains a number of steps instead of epochs.
        unit: what an experience is called on the bar (``session``, ``task``).
        file: where the bar is drawn.
    """

    def __init__(self, *, experiences: int, epochs: int, iterations: int | None = None, unit: str = "session",
                 file: TextIO | None = None):
        super().__init__()
        self.experiences = check_positive_int("experiences", experiences)
        self.epochs = check_positive_int("epochs", epochs)
        self.iterations = None if iterations is None else check_positive_int("iterations", iterations)
        self.per_experience = self.epochs if iterations is None else iterations
        """The bar's units in an experience: epochs, or steps."""
        self.unit = unit
        self.file = file
        self.bar: tqdm | None = None
        self._trained = False  # whether this process has trained an iteration yet (the bar's start is set then)

    def log_single_metric(self, name, value, x_plot) -> None:
        """Metrics are not shown on the bar."""

    def position(self, strategy: CLIPStrategy) -> float:
        """Epochs done in the run, fractions of the current one included (with ``iterations``: steps done)."""
        if self.iterations is not None:
            return strategy.clock.train_exp_counter * self.iterations + strategy.experience_steps
        done = strategy.clock.train_exp_counter * self.epochs + strategy.epoch
        return done + strategy.epoch_batches / max(1, len(strategy.dataloader))

    def _one_step(self, strategy: CLIPStrategy) -> float:
        """What a training step advances the bar."""
        return 1.0 if self.iterations is not None else 1 / max(1, len(strategy.dataloader))

    def _open(self, done: float) -> tqdm:
        """The bar, drawn at ``done`` (epochs, or steps) when it is new."""
        if self.bar is None:
            self.bar = tqdm(total=self.experiences * self.per_experience, initial=done, desc="run",
                            bar_format=BAR_FORMAT, smoothing=0, file=self.file if self.file is not None else sys.stderr,
                            dynamic_ncols=True)
        return self.bar

    def before_eval(self, strategy: CLIPStrategy, metric_values: list) -> None:
        self._open(strategy.clock.train_exp_counter * self.per_experience).set_postfix_str("evaluating")

    def before_training_epoch(self, strategy: CLIPStrategy, metric_values: list) -> None:
        bar = self._open(self.position(strategy))  # the epoch's start: no batch of it is counted yet
        bar.set_postfix_str(f"{self.unit} {strategy.clock.train_exp_counter + 1}/{self.experiences}, "
                            f"epoch {strategy.epoch + 1}/{strategy.experience_epochs}")

    def after_training_iteration(self, strategy: CLIPStrategy, metric_values: list) -> None:
        position = self.position(strategy)
        bar = self._open(position)
        if not self._trained:  # the estimate counts from here: a resumed run's earlier work took no time now
            self._trained = True
            bar.initial = bar.n = position - self._one_step(strategy)
        bar.update(min(position, bar.total) - bar.n)

    def after_training_epoch(self, strategy: CLIPStrategy, metric_values: list) -> None:
        self._open(self.position(strategy)).refresh()  # the epoch's end is drawn, however fast its last steps were

    def close(self) -> None:
        """Close the bar (it stays on screen at its last value)."""
        if self.bar is not None:
            self.bar.close()


def console_loggers(*, experiences: int, epochs: int, iterations: int | None = None, unit: str = "session",
                    verbose: bool = False) -> list[BaseLogger]:
    """The console's loggers: the run bar, and with ``verbose`` Avalanche's metric blocks on stdout above it."""
    loggers: list[BaseLogger] = [RunProgress(experiences=experiences, epochs=epochs, iterations=iterations, unit=unit)]
    if verbose:
        loggers.append(TextLogger(DummyTqdmFile(sys.stdout)))  # through tqdm.write: the bar is redrawn below
    return loggers


__all__ = ["BAR_FORMAT", "RunProgress", "console_loggers"]
