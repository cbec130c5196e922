"""Accuracy on the updated task: OST top-1, the MST matrix, UT-Acc and BWT (PROTOCOL.md 8).

The metric observes the evaluation of the test stream that the user runs after each training
experience (``strategy.eval(benchmark.test_stream)``); it computes nothing itself. After
training experience ``t`` it records the row ``a[t][i]``: the mean per-class accuracy on the
classes of test experience ``i`` (session ``i``), predicting over all classes. A prediction is
correct when the true class scores strictly above every other class (ties count as errors, as
in :mod:`avalanche_clip.evaluation.ranking`).

"Session ``i`` trained by ``t``" means: all classes of test experience ``i`` belong to training
experiences ``0..t``. In MST that is ``i <= t``, the paper's definition; in Joint-FT (one training
experience with every class, evaluated on the MST test stream) every session is trained after
the first experience.
"""

from __future__ import annotations

import logging
from typing import Any, Iterable, Literal, Mapping, get_args

import torch
from avalanche.evaluation import PluginMetric
from avalanche.evaluation.metric_results import MetricValue
from torch import Tensor

from ..._checks import check_choice
from ..names import BWT, BWT_COMMON, ORIGINAL, UT_ACC, UT_SESSION_ACC, stream_value_name
from ..ranking import label_positives, positive_ranks

logger = logging.getLogger(__name__)

UTProtocol = Literal["auto", "ost", "mst"]


def session_accuracy(correct: Tensor, total: Tensor) -> float:
    """Mean per-class accuracy over the classes that have samples.

    Args:
        correct: ``[C]`` correct predictions per class.
        total: ``[C]`` samples per class.
    """
    present = total > 0
    return (correct[present].double() / total[present]).mean().item()


def updated_task_accuracy(row: Mapping[int, float], sessions: Iterable[int]) -> float:
    """UT-Acc: the mean of ``row[i]`` over ``sessions`` (MST: ``i <= t``)."""
    values = [row[i] for i in sessions]
    return sum(values) / len(values)


def backward_transfer(matrix: Mapping[int, Mapping[int, float]], first_trained: Mapping[int, int],
                      t: int, *, common: bool = False) -> float:
    """BWT after experience ``t`` from the accuracy matrix.

    Over the sessions ``i`` trained by ``t`` (``first_trained[i] <= t``; in MST ``first_trained[i]
    = i``), the change ``a[t][i] - a[first_trained[i]][i]`` since the session was learnt.

    Args:
        matrix: ``matrix[t][i] = a[t][i]``.
        first_trained: the experience after which each session counts as trained.
        t: the row.
        common: False: the authors' BWT, the sum divided by the number of trained sessions
            (the session just learnt adds 0 to the sum and 1 to the divisor). True: the common
            definition, the mean over sessions learnt before ``t`` (0 when there is none).
    """
    sessions = [i for i, first in first_trained.items() if (first < t if common else first <= t)]
    if not sessions:
        return 0.0
    return sum(matrix[t][i] - matrix[first_trained[i]][i] for i in sessions) / len(sessions)


class UpdatedTaskMetric(PluginMetric[dict[str, float]]):
    """UT-Acc (and, in MST, the matrix a[t][i] and BWT) from the evaluations of the test stream.

    After each evaluation of ``stream`` that follows training experience ``t`` (or precedes all
    training: the original model) it emits, at ``x_plot = strategy.clock.train_iterations``:

    - ``UT_Acc/eval_phase/<stream>_stream``: OST: sample-level top-1 over the stream. MST: the
      mean of ``a[t][i]`` over the sessions trained by ``t`` (the original model: all sessions).
    - MST only: ``UT_Session_Acc/eval_phase/<stream>_stream/Exp{i:03}`` = ``a[t][i]`` for every
      evaluated session, and after a training experience ``BWT/...`` (the authors', reported)
      and ``BWT_Common/...`` (mean over earlier sessions).

    Evaluations inside a training experience are ignored, with a warning: a periodic eval at
    the end of the last epoch runs before ``after_training_exp`` (and before an IMM merge), so it
    does not measure the model the experience leaves. Evaluating the stream twice after the same
    experience updates the row.

    Args:
        stream: the name of the test stream to observe (``"test"`` for ``test_stream``).
        protocol: ``"ost"``, ``"mst"``, or ``"auto"``: OST when the stream has one experience.
    """

    def __init__(self, *, stream: str = "test", protocol: UTProtocol = "auto"):
        super().__init__()
        self.stream = stream
        self.protocol = check_choice("protocol", protocol, get_args(UTProtocol))
        self.matrix: dict[int, dict[int, float]] = {}
        self.sample_accuracy: dict[int, float] = {}
        self.session_classes: dict[int, list[int]] = {}
        self.trained_classes: list[list[int] | None] = []  # cumulative, after each experience
        self._experience_classes: list[int] | None = None
        self._in_experience = False
        self._observing = False
        self._warned_mid_experience = False
        self._stream_length = 0
        self._counts: dict[int, tuple[Tensor, Tensor]] = {}  # test exp -> (correct [C], total [C])
        self._last: dict[str, float] = {}

    # --------------------------------------------------------------- training side

    def before_training(self, strategy: Any) -> None:
        self._in_experience = False  # a new train call: no experience is in progress

    def before_training_exp(self, strategy: Any) -> None:
        self._in_experience = True
        classes = getattr(strategy.experience, "classes_in_this_experience", None)
        self._experience_classes = None if classes is None else sorted(int(c) for c in classes)

    def after_training_exp(self, strategy: Any) -> None:
        previous = self.trained_classes[-1] if self.trained_classes else []
        if previous is None or self._experience_classes is None:
            self.trained_classes.append(None)
        else:
            self.trained_classes.append(sorted(set(previous) | set(self._experience_classes)))
        self._in_experience = False

    # ------------------------------------------------------------------- eval side

    def before_eval(self, strategy: Any) -> None:
        self._counts = {}

    def before_eval_exp(self, strategy: Any) -> None:
        stream = strategy.experience.origin_stream
        self._observing = not self._in_experience and stream.name == self.stream
        if self._observing:
            self._stream_length = len(stream)
        elif stream.name == self.stream and not self._warned_mid_experience:
            logger.warning(
                "The updated-task metric ignores evaluations of %s_stream during a training "
                "experience (a periodic eval): run strategy.eval(%s_stream) after each train() call.",
                self.stream, self.stream,
            )
            self._warned_mid_experience = True

    def after_eval_iteration(self, strategy: Any) -> None:
        if not self._observing:
            return
        logits, labels = strategy.mb_output.detach().float(), strategy.mb_y.detach()  # [B, C], [B]
        num_classes = logits.shape[1]
        correct = positive_ranks(logits, label_positives(labels, num_classes)) == 0  # [B]
        labels = labels.long().cpu()
        counts = (torch.bincount(labels, weights=correct.float().cpu(), minlength=num_classes),
                  torch.bincount(labels, minlength=num_classes).float())
        experience = strategy.experience.current_experience
        if experience in self._counts:
            counts = tuple(old + new for old, new in zip(self._counts[experience], counts))
        self._counts[experience] = counts

    def after_eval(self, strategy: Any) -> list[MetricValue] | None:
        if not self._counts:
            return None
        t = len(self.trained_classes) - 1  # ORIGINAL before any experience
        protocol = self.protocol if self.protocol != "auto" else ("ost" if self._stream_length == 1 else "mst")
        correct = sum(c for c, _ in self._counts.values())
        total = sum(n for _, n in self._counts.values())
        self.sample_accuracy[t] = (correct.sum().double() / total.sum()).item()
        if protocol == "ost":
            values = {stream_value_name(UT_ACC, self.stream): self.sample_accuracy[t]}
        else:
            values = self._mst_values(t)
        self._counts = {}
        self._last = values
        x_plot = strategy.clock.train_iterations
        return [MetricValue(self, name, value, x_plot) for name, value in values.items()]

    def _mst_values(self, t: int) -> dict[str, float]:
        row = self.matrix.setdefault(t, {})
        for i, (correct, total) in sorted(self._counts.items()):
            row[i] = session_accuracy(correct, total)
            self.session_classes[i] = total.nonzero().flatten().tolist()
        values = {stream_value_name(UT_SESSION_ACC, self.stream, i): row[i] for i in sorted(self._counts)}
        first_trained = self.first_trained(t)
        if not first_trained:
            logger.warning("UT-Acc after experience %d not computed: no evaluated session of the %s "
                           "stream is trained yet.", t, self.stream)
            return values
        missing = [i for i in first_trained if i not in row or i not in self.matrix.get(first_trained[i], {})]
        if missing:
            logger.warning(
                "UT-Acc/BWT after experience %d not computed: sessions %s were not evaluated after "
                "this experience or after the one that trained them. Evaluate the whole %s stream "
                "after every training experience.", t, missing, self.stream,
            )
            return values
        values[stream_value_name(UT_ACC, self.stream)] = updated_task_accuracy(row, first_trained)
        if t != ORIGINAL:
            values[stream_value_name(BWT, self.stream)] = backward_transfer(self.matrix, first_trained, t)
            values[stream_value_name(BWT_COMMON, self.stream)] = backward_transfer(
                self.matrix, first_trained, t, common=True)
        return values

    def first_trained(self, t: int) -> dict[int, int]:
        """Session -> the first experience ``<= t`` whose training covered all its classes.

        For the original model (``t = -1``) every evaluated session, at -1.
        """
        if t == ORIGINAL:
            return {i: ORIGINAL for i in self.matrix[ORIGINAL]}
        if any(classes is None for classes in self.trained_classes[: t + 1]):
            raise AttributeError(
                "The MST updated-task metric needs classes_in_this_experience on the training "
                "experiences (avalanche_clip benchmarks have it; for other benchmarks use "
                "Avalanche's with_classes_timeline), or protocol='ost'."
            )
        first = {}
        for i, classes in self.session_classes.items():
            covered = [s for s in range(t + 1) if set(classes) <= set(self.trained_classes[s])]
            if covered:
                first[i] = covered[0]
        return first

    # ---------------------------------------------------------------- Metric protocol

    def result(self) -> dict[str, float]:
        """The values of the latest observed evaluation, by full name."""
        return dict(self._last)

    def reset(self) -> None:
        """Drop the counts of an evaluation in progress (the matrix is kept)."""
        self._counts = {}

    def state_dict(self) -> dict[str, Any]:
        """The matrix, the sample accuracies and the class bookkeeping (of an experience in progress too)."""
        return {
            "matrix": {t: dict(row) for t, row in self.matrix.items()},
            "sample_accuracy": dict(self.sample_accuracy),
            "session_classes": {i: list(c) for i, c in self.session_classes.items()},
            "trained_classes": [None if c is None else list(c) for c in self.trained_classes],
            "in_experience": self._in_experience,
            "experience_classes": None if self._experience_classes is None else list(self._experience_classes),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (between experiences, or inside one)."""
        self.matrix = {int(t): {int(i): v for i, v in row.items()} for t, row in state["matrix"].items()}
        self.sample_accuracy = {int(t): v for t, v in state["sample_accuracy"].items()}
        self.session_classes = {int(i): list(c) for i, c in state["session_classes"].items()}
        self.trained_classes = [None if c is None else list(c) for c in state["trained_classes"]]
        self._in_experience = bool(state.get("in_experience", False))
        classes = state.get("experience_classes")
        self._experience_classes = None if classes is None else list(classes)

    def __str__(self) -> str:
        return f"UpdatedTaskMetric({self.stream}_stream)"


def updated_task_metrics(*, stream: str = "test", protocol: UTProtocol = "auto") -> list[UpdatedTaskMetric]:
    """The updated-task metric (UT-Acc; in MST also the matrix and BWT), for an ``EvaluationPlugin``.

    Run ``strategy.eval(benchmark.test_stream)`` after every training experience (and, for the
    original model's UT-Acc, once before training). See :class:`UpdatedTaskMetric`.

    Args:
        stream: the name of the test stream to observe.
        protocol: ``"ost"``, ``"mst"``, or ``"auto"`` (OST when the stream has one experience).
    """
    return [UpdatedTaskMetric(stream=stream, protocol=protocol)]


__all__ = [
    "UTProtocol",
    "UpdatedTaskMetric",
    "backward_transfer",
    "session_accuracy",
    "updated_task_accuracy",
    "updated_task_metrics",
]
