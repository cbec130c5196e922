"""MTIL's accuracy matrix and ZSCL's Transfer, Avg and Last (Zheng et al., ICCV 2023).

``A[t, d]`` is the sample-level top-1 accuracy on dataset ``d``, among ``d``'s own classes, after
training task ``t``; row -1 is the original model. With the datasets in training order (column
``j`` is the ``j``-th task learned, ``T`` tasks), as ZSCL's ``results.ipynb`` computes them:

- Transfer(j) = mean of ``A[t, j]`` over ``t < j`` (the dataset before it is learned), for
  ``j >= 1``; reported as the mean over those ``T - 1`` datasets.
- Avg(j) = mean of ``A[t, j]`` over the ``T`` rows after each task. ZSCL's ``arr.mean(axis=0)``
  runs over its 11 rows after the 11 tasks: the original model's row is *not* included.
- Last(j) = ``A[T - 1, j]``.

The zero-shot model's values are these functions applied to the original row repeated ``T``
times (Avg = Last = its mean accuracy). A prediction is correct when the true class scores
strictly above every other class (ties are errors, as in :mod:`avalanche_clip.evaluation.ranking`).
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from avalanche.evaluation import PluginMetric
from avalanche.evaluation.metric_results import MetricValue
from torch import Tensor

from ..names import MTIL_ACC, MTIL_AVG, MTIL_LAST, MTIL_TRANSFER, check_set_name, dataset_value_name
from ..ranking import label_positives, positive_ranks

logger = logging.getLogger(__name__)


def _check_square(matrix: Tensor) -> Tensor:
    if matrix.dim() != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] == 0:
        raise ValueError(f"The MTIL matrix must be [T, T] (a row after each task, a column per task in training "
                         f"order), got shape {list(matrix.shape)}.")
    return matrix.double()


def mtil_transfer(matrix: Tensor) -> Tensor:
    """Transfer of datasets ``1..T-1``, ``[T - 1]``: column ``j``'s mean over the rows ``t < j``.

    Args:
        matrix: ``[T, T]``, ``matrix[t, j]`` = accuracy on the ``j``-th task learned after task ``t``.
    """
    matrix = _check_square(matrix)
    columns = [matrix[:j, j].mean() for j in range(1, len(matrix))]
    return torch.stack(columns) if columns else matrix.new_zeros(0)


def mtil_average(matrix: Tensor) -> Tensor:
    """Avg of every dataset, ``[T]``: each column's mean over the ``T`` rows after each task."""
    return _check_square(matrix).mean(dim=0)


def mtil_last(matrix: Tensor) -> Tensor:
    """Last of every dataset, ``[T]``: the row after the last task."""
    return _check_square(matrix)[-1]


class MTILMatrixMetric(PluginMetric[dict[str, float]]):
    """The MTIL matrix from the evaluations of the test stream, and Transfer / Avg / Last at the end.

    Observes ``strategy.eval(test_stream)`` after each training experience (and before any: the
    original model's row); the experiences must carry ``task_name`` (``mtil_benchmark``). After
    each such evaluation following task ``t`` it emits, at ``x_plot = strategy.clock.train_iterations``:

    - ``MTIL_Acc/eval_phase/<stream>_stream/<dataset>`` = ``A[t, dataset]`` for every evaluated
      dataset, and ``MTIL_Acc/eval_phase/<stream>_stream``, their mean;
    - once every dataset of the stream is learned and each row has all of them:
      ``MTIL_Transfer``, ``MTIL_Avg`` and ``MTIL_Last``, each per dataset (``.../<dataset>``) and as
      the mean over datasets (``.../<stream>_stream``).

    Evaluations inside a training experience (periodic evals) are ignored, with a warning.

    Args:
        stream: the name of the test stream to observe (``"test"`` for ``test_stream``).
    """

    def __init__(self, *, stream: str = "test"):
        super().__init__()
        self.stream = stream
        self.matrix: dict[int, dict[str, float]] = {}  # row t (ORIGINAL: -1) -> dataset -> A[t, d]
        self.learned: list[str] = []  # task names in training order
        self._current: str | None = None  # the task of the training experience in progress
        self._observing = False
        self._warned_mid_experience = False
        self._counts: dict[str, tuple[int, int]] = {}  # dataset -> (correct, total)
        self._last: dict[str, float] = {}

    @staticmethod
    def _task_name(strategy: Any) -> str:
        name = getattr(strategy.experience, "task_name", None)
        if name is None:
            raise AttributeError(f"{type(strategy.experience).__name__} has no task_name: the MTIL metric needs the "
                                 "experiences of avalanche_clip.benchmarks.mtil_benchmark.")
        return check_set_name(name)

    def before_training(self, strategy: Any) -> None:
        self._current = None

    def before_training_exp(self, strategy: Any) -> None:
        self._current = self._task_name(strategy)

    def after_training_exp(self, strategy: Any) -> None:
        self.learned.append(self._current)
        self._current = None

    def before_eval(self, strategy: Any) -> None:
        self._counts = {}

    def before_eval_exp(self, strategy: Any) -> None:
        stream = strategy.experience.origin_stream.name
        self._observing = self._current is None and stream == self.stream
        if self._current is not None and stream == self.stream and not self._warned_mid_experience:
            logger.warning("The MTIL metric ignores evaluations of %s_stream during a training experience "
                           "(a periodic eval): run strategy.eval(%s_stream) after each train() call.",
                           self.stream, self.stream)
            self._warned_mid_experience = True

    def after_eval_iteration(self, strategy: Any) -> None:
        if not self._observing:
            return
        logits, labels = strategy.mb_output.detach().float(), strategy.mb_y.detach()  # [B, C], [B]
        correct = positive_ranks(logits, label_positives(labels, logits.shape[1])) == 0  # [B]
        name = self._task_name(strategy)
        right, total = self._counts.get(name, (0, 0))
        self._counts[name] = (right + int(correct.sum()), total + len(labels))

    def after_eval(self, strategy: Any) -> list[MetricValue] | None:
        if not self._counts:
            return None
        t = len(self.learned) - 1  # -1, the original model's row, before any task
        row = self.matrix.setdefault(t, {})
        row |= {name: right / total for name, (right, total) in self._counts.items()}
        values = {dataset_value_name(MTIL_ACC, self.stream, name): row[name] for name in self._counts}
        values[dataset_value_name(MTIL_ACC, self.stream)] = sum(row.values()) / len(row)
        values |= self._final_values(list(row))
        self._counts = {}
        self._last = values
        return [MetricValue(self, name, value, strategy.clock.train_iterations) for name, value in values.items()]

    def _final_values(self, datasets: list[str]) -> dict[str, float]:
        """Transfer / Avg / Last when every evaluated dataset is learned once and every row is complete."""
        if sorted(self.learned) != sorted(datasets):
            return {}
        rows = [self.matrix.get(t, {}) for t in range(len(self.learned))]
        if any(set(row) != set(datasets) for row in rows):
            logger.warning("MTIL Transfer/Avg/Last not computed: the %s stream was not evaluated on every dataset "
                           "after every task. Evaluate the whole stream after each train() call.", self.stream)
            return {}
        matrix = torch.tensor([[row[name] for name in self.learned] for row in rows], dtype=torch.float64)  # [T, T]
        per_dataset = {MTIL_TRANSFER: dict(zip(self.learned[1:], mtil_transfer(matrix).tolist())),
                       MTIL_AVG: dict(zip(self.learned, mtil_average(matrix).tolist())),
                       MTIL_LAST: dict(zip(self.learned, mtil_last(matrix).tolist()))}
        values = {}
        for metric, by_dataset in per_dataset.items():
            if by_dataset:
                values[dataset_value_name(metric, self.stream)] = sum(by_dataset.values()) / len(by_dataset)
            values |= {dataset_value_name(metric, self.stream, name): v for name, v in by_dataset.items()}
        return values

    def result(self) -> dict[str, float]:
        """The values of the latest observed evaluation, by full name."""
        return dict(self._last)

    def reset(self) -> None:
        """Drop the counts of an evaluation in progress (the matrix is kept)."""
        self._counts = {}

    def state_dict(self) -> dict[str, Any]:
        """The matrix, the tasks learned and the task in progress."""
        return {"matrix": {t: dict(row) for t, row in self.matrix.items()}, "learned": list(self.learned),
                "current": self._current}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (between experiences, or inside one)."""
        self.matrix = {int(t): dict(row) for t, row in state["matrix"].items()}
        self.learned = list(state["learned"])
        self._current = state["current"]

    def __str__(self) -> str:
        return f"MTILMatrixMetric({self.stream}_stream)"


def mtil_metrics(*, stream: str = "test") -> list[MTILMatrixMetric]:
    """The MTIL matrix, Transfer, Avg and Last (:class:`MTILMatrixMetric`), for an ``EvaluationPlugin``.

    Run ``strategy.eval(benchmark.test_stream)`` once before training (the original model's row)
    and after every task of an ``mtil_benchmark``.

    Args:
        stream: the name of the test stream to observe.
    """
    return [MTILMatrixMetric(stream=stream)]


__all__ = ["MTILMatrixMetric", "mtil_average", "mtil_last", "mtil_metrics", "mtil_transfer"]
