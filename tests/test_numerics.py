"""Non-finite losses and gradients: caught at their step, skipped, counted, and fatal in a streak."""

import json

import pytest
import torch
from avalanche.training.plugins import EvaluationPlugin, SupervisedPlugin

from avalanche_clip.benchmarks import ost_benchmark
from avalanche_clip.checkpointing import CheckpointFiles, RunCheckpointing
from avalanche_clip.evaluation import SKIPPED_STEPS_NAME, skipped_steps_metrics
from avalanche_clip.experiment import CheckpointSpec, TrainingSpec
from avalanche_clip.training import CLIPStrategy
from avalanche_clip.training.numerics import NonFiniteGuard, NonFiniteLossError
from conftest import CLASS_NAMES
from test_runner import small_run


class PoisonSteps(SupervisedPlugin):
    """Makes the loss (or one gradient) of chosen steps (1-based, counted over the run) NaN.

    It also records the trainable parameters after every step, so a test sees what a step changed.
    """

    def __init__(self, steps, *, where="loss"):
        super().__init__()
        self.steps, self.where, self.count, self.updated = set(steps), where, 0, []

    def before_training_iteration(self, strategy, **kwargs):
        self.count += 1

    def before_backward(self, strategy, **kwargs):
        if self.where == "loss" and self.count in self.steps:
            strategy.loss = strategy.loss + float("nan")

    def after_backward(self, strategy, **kwargs):
        if self.where == "gradient" and self.count in self.steps:
            next(p for p in strategy.model.parameters() if p.grad is not None).grad.view(-1)[0] = float("inf")

    def after_update(self, strategy, **kwargs):
        self.updated.append(self.snapshot(strategy.model))

    @staticmethod
    def snapshot(model):
        return torch.cat([p.detach().flatten() for p in model.parameters() if p.requires_grad]).clone()


def train(make_model, generated, poison, **kwargs):
    model = make_model(update="image")
    strategy = CLIPStrategy(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), train_mb_size=12,
                            train_epochs=1, plugins=[poison], evaluator=EvaluationPlugin(*skipped_steps_metrics()),
                            **kwargs)
    start = PoisonSteps.snapshot(model)
    strategy.train(ost_benchmark(*generated, CLASS_NAMES).train_stream[0])  # 60 samples: 5 steps
    return strategy, start


@pytest.mark.parametrize("where", ["loss", "gradient"])
def test_a_non_finite_step_is_skipped_and_counted(make_model, generated, where):
    poison = PoisonSteps({2, 4}, where=where)
    strategy, start = train(make_model, generated, poison)
    assert strategy.nonfinite.skipped == 2 and strategy.nonfinite.streak == 0
    if where == "loss":  # no update, and none of the callbacks after the loss: 3 iterations counted
        assert len(poison.updated) == 3 and strategy.clock.train_iterations == 3
    else:  # the backward ran, the update did not
        assert len(poison.updated) == 5 and torch.equal(poison.updated[1], poison.updated[0])
        assert torch.equal(poison.updated[3], poison.updated[2])
    assert not torch.equal(poison.updated[0], start) and all(torch.isfinite(p).all() for p in poison.updated)
    assert strategy.evaluator.metrics[0].result() == 2


def test_a_streak_of_non_finite_steps_stops_training_with_a_clear_error(make_model, generated):
    with pytest.raises(NonFiniteLossError, match=r"loss was not finite \(nan\) at experience 0, epoch 0, batch 3: "
                                                 r"3 training steps in a row .*\(3 skipped in all\)"):
        train(make_model, generated, PoisonSteps({2, 3, 4}), max_consecutive_nonfinite=3)
    strategy, _ = train(make_model, generated, PoisonSteps({2, 3, 5}), max_consecutive_nonfinite=3)
    assert strategy.nonfinite.skipped == 3  # two in a row, then a good step: the streak restarts


def test_the_guard_counts_and_round_trips():
    guard = NonFiniteGuard(max_consecutive=2)
    assert guard.check(torch.tensor(1.0), what="loss", where="here")
    assert not guard.check(torch.tensor([1.0, float("inf")]), what="loss", where="here")
    state = guard.state_dict()
    fresh = NonFiniteGuard(max_consecutive=2)
    fresh.load_state_dict(state)
    with pytest.raises(NonFiniteLossError):
        fresh.check(torch.tensor(float("nan")), what="loss", where="there")
    with pytest.raises(ValueError, match="max_consecutive must be an integer >= 1"):
        NonFiniteGuard(max_consecutive=0)


def test_a_run_reports_its_skipped_steps_and_a_fatal_streak_keeps_the_last_good_checkpoint(paper_files, tmp_path):
    results = small_run(paper_files, tmp_path / "ok", plugins=[PoisonSteps({1, 2})],
                        checkpoint=CheckpointSpec(every_iterations=1))
    assert results["skipped_steps"] == 2
    assert f"{SKIPPED_STEPS_NAME},2," in (tmp_path / "ok" / "metrics.csv").read_text()

    run_dir = tmp_path / "fatal"
    with pytest.raises(NonFiniteLossError, match="2 training steps in a row"):
        small_run(paper_files, run_dir, plugins=[PoisonSteps({2, 3})], checkpoint=CheckpointSpec(every_iterations=1),
                  training=TrainingSpec(epochs=1, batch_size=4, lr=1e-4, max_consecutive_nonfinite=2))
    good = CheckpointFiles(run_dir / "checkpoints").load_latest()  # after session 1, its step skipped
    assert (good.state["strategy"]["experiences_completed"], good.state["strategy"]["position"]) == (2, None)
    assert good.state["clock"]["train_iterations"] == 1 and good.state["nonfinite"] == {"skipped": 1, "streak": 1}
    assert all(torch.isfinite(t).all() for t in good.state["model"].values() if isinstance(t, torch.Tensor))
    assert json.loads((run_dir / "results.json").read_text())["experiences_completed"] == 2


def test_a_model_with_non_finite_parameters_is_never_checkpointed(make_model, tmp_path, caplog):
    model = make_model()
    strategy = CLIPStrategy(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    checkpointing = RunCheckpointing(CheckpointFiles(tmp_path), config={})
    good = checkpointing.save(strategy)
    model.clip.logit_scale.data.fill_(float("nan"))
    assert checkpointing.save(strategy) is None
    assert "parameters ['clip.logit_scale'] hold non-finite values" in caplog.text and good.name in caplog.text
    assert CheckpointFiles(tmp_path).numbers() == [1]
