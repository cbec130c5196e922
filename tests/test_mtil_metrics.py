"""MTIL's Transfer / Avg / Last equal a hand computation; the metric builds the matrix from evaluations."""

from types import SimpleNamespace

import pytest
import torch

from avalanche_clip.evaluation import MTILMatrixMetric, mtil_average, mtil_last, mtil_transfer
from avalanche_clip.results import MetricRow
from avalanche_clip.results.mtil_summary import summarize_mtil

# rows: after task 0, 1, 2; columns: the datasets in training order
MATRIX = torch.tensor([[0.90, 0.40, 0.30],
                       [0.70, 0.80, 0.20],
                       [0.60, 0.50, 0.95]], dtype=torch.float64)


def test_transfer_avg_last_equal_a_hand_computation():
    # Transfer(1) = A[0,1] = 0.40; Transfer(2) = (A[0,2] + A[1,2]) / 2 = 0.25; dataset 0 has none
    assert mtil_transfer(MATRIX).tolist() == pytest.approx([0.40, 0.25])
    assert mtil_transfer(MATRIX).mean().item() == pytest.approx(0.325)
    # Avg(d): column means over the 3 rows after each task (no original row, as ZSCL)
    assert mtil_average(MATRIX).tolist() == pytest.approx([2.2 / 3, 1.7 / 3, 1.45 / 3])
    assert mtil_last(MATRIX).tolist() == pytest.approx([0.60, 0.50, 0.95])
    assert mtil_transfer(MATRIX[:1, :1]).numel() == 0  # one task: nothing learned before it


def test_a_matrix_that_is_not_square_is_refused():
    with pytest.raises(ValueError, match=r"must be \[T, T\].*\[2, 3\]"):
        mtil_average(MATRIX[:2])


class FakeStrategy(SimpleNamespace):
    """What the metric reads from a strategy: the experience, the minibatch's outputs and labels, the clock."""


def evaluate(metric, strategy, scores):
    """One evaluation of the stream: ``scores[name] = (logits [B, C], labels [B])`` per dataset."""
    metric.before_eval(strategy)
    stream = SimpleNamespace(name="test")
    for name, (logits, labels) in scores.items():
        strategy.experience = SimpleNamespace(task_name=name, origin_stream=stream)
        metric.before_eval_exp(strategy)
        strategy.mb_output, strategy.mb_y = logits, labels
        metric.after_eval_iteration(strategy)
    emitted = metric.after_eval(strategy)
    return None if emitted is None else {v.name: v.value for v in emitted}


def batch(correct: int, total: int, classes: int = 3):
    """Logits of ``total`` samples of label 0, the first ``correct`` right; a wrong one is a tie at the top."""
    logits = torch.zeros(total, classes)
    logits[:correct, 0] = 1.0
    logits[correct:, 1] = 1.0
    if correct < total:
        logits[-1, 0] = 1.0  # tied with class 1: argmax would call it right, a tie is an error
    return logits, torch.zeros(total, dtype=torch.long)


def train(metric, strategy, name):
    strategy.experience = SimpleNamespace(task_name=name)
    metric.before_training(strategy)
    metric.before_training_exp(strategy)
    metric.after_training_exp(strategy)


def test_the_metric_builds_the_matrix_and_reports_zscl_scores_after_the_last_task():
    metric, strategy = MTILMatrixMetric(), FakeStrategy(clock=SimpleNamespace(train_iterations=0))
    accuracies = {-1: (5, 4, 3), 0: (9, 4, 3), 1: (7, 8, 2), 2: (6, 5, 10)}  # tenths, as MATRIX (+ original)
    names = ["a", "b", "c"]
    values = evaluate(metric, strategy, {n: batch(k, 10) for n, k in zip(names, accuracies[-1])})
    assert values["MTIL_Acc/eval_phase/test_stream/b"] == 0.4
    assert values["MTIL_Acc/eval_phase/test_stream"] == pytest.approx(0.4)
    for t, name in enumerate(names):
        train(metric, strategy, name)
        values = evaluate(metric, strategy, {n: batch(k, 10) for n, k in zip(names, accuracies[t])})
        assert ("MTIL_Transfer/eval_phase/test_stream" in values) == (t == 2)
    assert values["MTIL_Transfer/eval_phase/test_stream"] == pytest.approx(0.325)
    assert values["MTIL_Transfer/eval_phase/test_stream/c"] == pytest.approx(0.25)
    assert "MTIL_Transfer/eval_phase/test_stream/a" not in values  # no task before the first
    assert values["MTIL_Avg/eval_phase/test_stream"] == pytest.approx((2.2 + 1.7 + 1.5) / 9)
    assert values["MTIL_Last/eval_phase/test_stream/c"] == 1.0
    assert metric.matrix[-1] == {"a": 0.5, "b": 0.4, "c": 0.3} and metric.learned == names

    restored = MTILMatrixMetric()
    restored.load_state_dict(metric.state_dict())
    assert restored.matrix == metric.matrix and restored.learned == metric.learned


def test_an_eval_inside_a_training_experience_is_ignored_and_the_summary_reads_the_rows(caplog):
    metric, strategy = MTILMatrixMetric(), FakeStrategy(clock=SimpleNamespace(train_iterations=0))
    strategy.experience = SimpleNamespace(task_name="a")
    metric.before_training_exp(strategy)
    assert evaluate(metric, strategy, {"a": batch(3, 4)}) is None
    assert metric.matrix == {} and "ignores evaluations" in caplog.text

    rows = [MetricRow("MTIL_Acc/eval_phase/test_stream/a", -1, 0, 0.5),
            MetricRow("MTIL_Acc/eval_phase/test_stream/b", -1, 0, 0.4),
            MetricRow("MTIL_Acc/eval_phase/test_stream/a", 0, 5, 0.9),
            MetricRow("MTIL_Acc/eval_phase/test_stream/b", 0, 5, 0.3),
            MetricRow("MTIL_Transfer/eval_phase/test_stream/b", 1, 9, 0.4),
            MetricRow("MTIL_Transfer/eval_phase/test_stream", 1, 9, 0.4)]
    summary = summarize_mtil(rows)["test_stream"]
    assert summary["datasets"] == ["a", "b"] and summary["original"] == [0.5, 0.4]
    assert summary["after"] == [[0.9, 0.3]]
    assert summary["transfer"] == {"mean": 0.4, "per_dataset": {"b": 0.4}}
    assert summary["avg"] == {"mean": None, "per_dataset": {}}
