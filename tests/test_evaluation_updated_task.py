"""The updated-task metric on scripted predictions, through Avalanche's real eval loop."""

import pytest
import torch
from avalanche.training.plugins import EvaluationPlugin
from avalanche.training.templates import SupervisedTemplate
from torch import nn
from torch.utils.data import Dataset

from avalanche_clip.benchmarks import mst_benchmark, ost_benchmark
from avalanche_clip.evaluation import updated_task_metrics

NAMES = ["cat", "dog", "bird", "fish", "horse", "sheep"]


class Indexed(Dataset):
    """Sample ``n`` is the tensor ``[n]``, so a scripted model knows which sample it sees."""

    def __init__(self, labels):
        self.targets = list(labels)

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, n):
        return torch.tensor([float(n)]), self.targets[n]


class Scripted(nn.Module):
    """Returns ``script[phase][n]`` as the logits of sample ``n``."""

    def __init__(self, script):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(()))
        self.script = script
        self.phase = -1

    def forward(self, x):
        return self.script[self.phase][x[:, 0].long()] + 0 * self.weight


def strategy_for(model, metrics):
    return SupervisedTemplate(
        model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.0), criterion=nn.CrossEntropyLoss(),
        train_mb_size=4, eval_mb_size=5, evaluator=EvaluationPlugin(*metrics, loggers=[]), device="cpu",
    )


def scripted_logits(accuracy_per_class):
    """Two test samples per class (2c, 2c+1); the first 2*acc of them are predicted right."""
    rows = []
    for c, accuracy in enumerate(accuracy_per_class):
        for j in range(2):
            prediction = c if j < round(2 * accuracy) else (c + 1) % len(accuracy_per_class)
            rows.append(torch.nn.functional.one_hot(torch.tensor(prediction), len(accuracy_per_class)).float())
    return torch.stack(rows)


ACCURACY = {  # phase -> per-class accuracy; sessions {0, 1}, {2, 3}, {4, 5}
    -1: [0.5, 0.0, 0.5, 0.5, 0.0, 1.0],
    0: [1.0, 1.0, 0.0, 0.0, 0.5, 0.0],
    1: [0.5, 1.0, 1.0, 0.5, 0.0, 0.0],
    2: [0.5, 0.5, 0.5, 1.0, 1.0, 0.5],
}


def test_mst_matrix_ut_acc_and_bwt_equal_a_hand_computation():
    labels = [c for c in range(6) for _ in range(2)]
    benchmark = mst_benchmark(Indexed(labels), Indexed(labels), NAMES, n_sessions=3)
    model = Scripted({phase: scripted_logits(acc) for phase, acc in ACCURACY.items()})
    strategy = strategy_for(model, updated_task_metrics())
    strategy.eval(benchmark.test_stream)  # the original model
    for t, experience in enumerate(benchmark.train_stream):
        strategy.train(experience)
        model.phase = t
        strategy.eval(benchmark.test_stream)

    values = {name: v for name, (_, v) in strategy.evaluator.get_all_metrics().items()}
    # a[t][i]: mean per-class accuracy on session i after session t
    matrix = [[0.25, 0.5, 0.5], [1.0, 0.0, 0.25], [0.75, 0.75, 0.0], [0.5, 0.75, 0.75]]  # original, t = 0, 1, 2
    for i in range(3):
        assert values[f"UT_Session_Acc/eval_phase/test_stream/Exp{i:03d}"] == pytest.approx([row[i] for row in matrix])
    # UT-Acc: original over all sessions, then mean over i <= t
    assert values["UT_Acc/eval_phase/test_stream"] == pytest.approx([1.25 / 3, 1.0, 0.75, 2 / 3])
    # authors' BWT: (1/(t+1)) sum_{i<=t} (a[t][i] - a[i][i]); common: mean over i < t
    assert values["BWT/eval_phase/test_stream"] == pytest.approx([0.0, -0.25 / 2, -0.5 / 3])
    assert values["BWT_Common/eval_phase/test_stream"] == pytest.approx([0.0, -0.25, -0.25])
    metric = strategy.evaluator.metrics[0]
    assert metric.matrix[1] == pytest.approx({0: 0.75, 1: 0.75, 2: 0.0})

    restored = updated_task_metrics()[0]
    restored.load_state_dict(metric.state_dict())
    assert restored.matrix == metric.matrix and restored.first_trained(2) == {0: 0, 1: 1, 2: 2}


def test_joint_training_counts_every_session_as_trained():
    labels = [c for c in range(6) for _ in range(2)]
    joint = ost_benchmark(Indexed(labels), Indexed(labels), NAMES)
    mst = mst_benchmark(Indexed(labels), Indexed(labels), NAMES, n_sessions=3)
    model = Scripted({-1: scripted_logits(ACCURACY[-1]), 0: scripted_logits(ACCURACY[2])})
    strategy = strategy_for(model, updated_task_metrics())
    strategy.train(joint.train_stream[0])
    model.phase = 0
    results = strategy.eval(mst.test_stream)
    assert results["UT_Acc/eval_phase/test_stream"] == pytest.approx((0.5 + 0.75 + 0.75) / 3)
    assert results["BWT/eval_phase/test_stream"] == 0.0


def test_ost_is_sample_level_top1_and_ties_count_as_errors():
    test_labels = [0, 0, 0, 1]
    logits = torch.tensor([[2.0, 0.0], [2.0, 0.0], [1.0, 1.0], [0.0, 3.0]])  # sample 2: a tie -> wrong
    benchmark = ost_benchmark(Indexed([0, 1]), Indexed(test_labels), NAMES[:2])
    model = Scripted({-1: logits, 0: logits})
    strategy = strategy_for(model, updated_task_metrics())
    strategy.train(benchmark.train_stream[0])
    results = strategy.eval(benchmark.test_stream)
    # sample level: 3 of 4 (per-class mean would be 0.83, argmax with its first-index tie 1.0)
    assert results["UT_Acc/eval_phase/test_stream"] == pytest.approx(0.75)
    assert not any(name.startswith(("BWT", "UT_Session")) for name in results)


def test_other_streams_are_not_observed():
    labels = [c for c in range(6) for _ in range(2)]
    benchmark = mst_benchmark(Indexed(labels), Indexed(labels), NAMES, n_sessions=3)
    model = Scripted({-1: scripted_logits(ACCURACY[-1])})
    strategy = strategy_for(model, updated_task_metrics())
    results = strategy.eval(benchmark.train_stream)
    assert not any(name.startswith("UT_") for name in results)
    assert strategy.evaluator.metrics[0].matrix == {}


def test_bad_protocol_is_refused():
    with pytest.raises(ValueError, match="protocol='both'.*Available: 'auto', 'ost', 'mst'"):
        updated_task_metrics(protocol="both")


def test_evaluations_inside_a_training_experience_are_ignored_with_a_warning(caplog):
    labels = [c for c in range(6) for _ in range(2)]
    benchmark = mst_benchmark(Indexed(labels), Indexed(labels), NAMES, n_sessions=3)
    model = Scripted({-1: scripted_logits(ACCURACY[-1])})
    strategy = SupervisedTemplate(
        model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.0), criterion=nn.CrossEntropyLoss(),
        train_mb_size=4, eval_mb_size=5, evaluator=EvaluationPlugin(*updated_task_metrics(), loggers=[]),
        device="cpu", eval_every=1,  # evaluates at the end of the epoch, inside the experience
    )
    strategy.train(benchmark.train_stream[0], eval_streams=[benchmark.test_stream])
    metric = strategy.evaluator.metrics[0]
    assert set(metric.matrix) == {-1}  # only the initial eval, before the experience began
    assert "ignores evaluations of test_stream during a training experience" in caplog.text
