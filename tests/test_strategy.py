"""CLIPStrategy: FT and Joint-FT with Avalanche's evaluation, optimizer handling, precision."""

import math

import pytest
import torch
from avalanche.evaluation.metrics import accuracy_metrics, forgetting_metrics, loss_metrics
from avalanche.logging import InteractiveLogger, TensorboardLogger, TextLogger
from avalanche.training.plugins import EvaluationPlugin, LRSchedulerPlugin

from avalanche_clip.benchmarks import mst_benchmark, ost_benchmark
from avalanche_clip.experiment import TrainingSpec, build_criterion
from avalanche_clip.training import (CLIPStrategy, SmoothedCrossEntropy, WarmupCosineLR, smoothed_cross_entropy,
                                     warmup_cosine_factor)
from conftest import CLASS_NAMES


def evaluator(*loggers):
    return EvaluationPlugin(
        accuracy_metrics(experience=True, stream=True), loss_metrics(epoch=True),
        forgetting_metrics(experience=True), loggers=list(loggers),
    )


def strategy_for(model, **kwargs):
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    args = dict(model=model, optimizer=optimizer, train_mb_size=16, train_epochs=1, evaluator=evaluator())
    return CLIPStrategy(**(args | kwargs))


def test_ft_over_three_sessions_reports_avalanche_accuracy_per_experience(make_model, generated, tmp_path):
    benchmark = mst_benchmark(*generated, CLASS_NAMES, n_sessions=3)
    log = open(tmp_path / "log.txt", "w")
    loggers = [InteractiveLogger(), TextLogger(log),
               TensorboardLogger(tb_log_dir=str(tmp_path / "tb"))]
    strategy = strategy_for(make_model(), evaluator=evaluator(*loggers))
    for exp in benchmark.train_stream:
        strategy.train(exp)
        results = strategy.eval(benchmark.test_stream)
    for i in range(3):
        accuracy = results[f"Top1_Acc_Exp/eval_phase/test_stream/Exp{i:03d}"]
        assert 0.0 <= accuracy <= 1.0
    assert "ExperienceForgetting/eval_phase/test_stream/Exp000" in results
    log.close()
    assert "Top1_Acc_Exp/eval_phase/test_stream/Exp002" in (tmp_path / "log.txt").read_text()
    assert any((tmp_path / "tb").iterdir())


def test_joint_ft_learns_the_generated_classes(make_model, generated):
    torch.manual_seed(0)
    benchmark = ost_benchmark(*generated, CLASS_NAMES)
    strategy = strategy_for(make_model(update="image"), train_epochs=8, seed=1)
    strategy.train(benchmark.train_stream[0])
    accuracy = strategy.eval(benchmark.test_stream)["Top1_Acc_Stream/eval_phase/test_stream"]
    assert accuracy >= 0.3  # chance is 0.1; 0.3 to 0.63 over the data orders of seeds 0-5 (seed 1: 0.63)


def test_training_sees_only_the_current_sessions_classes(make_model, generated):
    benchmark = mst_benchmark(*generated, CLASS_NAMES, n_sessions=2)
    seen_logits = []

    class Spy:
        def after_forward(self, strategy, **kwargs):
            seen_logits.append(strategy.mb_output.detach())

    strategy = strategy_for(make_model(), plugins=[Spy()])
    strategy.train(benchmark.train_stream[1])
    for logits in seen_logits:
        assert torch.isinf(logits[:, :5]).all() and torch.isfinite(logits[:, 5:]).all()


def test_optimizer_holds_exactly_the_trainable_parameters(make_model, generated):
    model = make_model(update="text")
    strategy = strategy_for(model)
    strategy.train(ost_benchmark(*generated, CLASS_NAMES).train_stream[0])
    held = {id(p) for group in strategy.optimizer.param_groups for p in group["params"]}
    assert held == {id(p) for p in model.parameters() if p.requires_grad}
    assert not any(id(p) in held for p in model.clip.visual.parameters())


def test_gradient_norm_is_clipped(make_model, generated):
    norms = []

    class NormSpy:
        def after_update(self, strategy, **kwargs):
            grads = [p.grad for g in strategy.optimizer.param_groups for p in g["params"] if p.grad is not None]
            norms.append(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])).item())

    strategy = strategy_for(make_model(), grad_clip_norm=0.01, plugins=[NormSpy()])
    strategy.train(ost_benchmark(*generated, CLASS_NAMES).train_stream[0])
    assert norms and max(norms) <= 0.01 + 1e-6


def test_bf16_autocast_runs_on_the_cpu(make_model, generated):
    dtypes = []

    class DtypeSpy:
        def after_forward(self, strategy, **kwargs):
            dtypes.append(strategy.mb_output.dtype)

    strategy = strategy_for(make_model(), precision="bf16", plugins=[DtypeSpy()])
    assert strategy.precision == "bf16" and not strategy.scaler.is_enabled()
    strategy.train(ost_benchmark(*generated, CLASS_NAMES).train_stream[0])
    assert dtypes and all(d == torch.bfloat16 for d in dtypes)


def test_auto_precision_is_fp32_on_the_cpu(make_model):
    assert strategy_for(make_model()).precision == "fp32"


def test_iterations_train_exactly_that_many_steps_per_experience_on_zscl_schedule(make_model, generated):
    # 30 images a session at batch 8: 4 steps an epoch; 9 steps = 2 epochs and 1 step of a third
    steps = []

    class StepSpy:
        def before_training_iteration(self, strategy, **kwargs):
            steps.append((strategy.clock.train_exp_counter, strategy.epoch, strategy.optimizer.param_groups[0]["lr"]))

    model = make_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    schedule = LRSchedulerPlugin(WarmupCosineLR(optimizer, warmup=2, total=9), step_granularity="iteration")
    strategy = strategy_for(model, optimizer=optimizer, train_mb_size=8, train_epochs=5, train_iterations=9,
                            plugins=[schedule, StepSpy()])
    for experience in mst_benchmark(*generated, CLASS_NAMES, n_sessions=2).train_stream:
        strategy.train(experience)
    assert [(e, epoch) for e, epoch, _ in steps] == [(e, epoch) for e in (0, 1) for epoch in (0,) * 4 + (1,) * 4 + (2,)]
    # ZSCL's cosine_lr: (i+1)/W during the warmup, then (1 + cos(pi (i-W)/(T-W)))/2; every experience starts again
    factors = [0.5, 1.0] + [(1 + math.cos(math.pi * k / 7)) / 2 for k in range(7)]
    assert [lr for _, _, lr in steps] == pytest.approx([1e-3 * f for f in factors] * 2, rel=1e-12)
    assert warmup_cosine_factor(8, warmup=2, total=9) == pytest.approx(0.0495155660)


@pytest.mark.parametrize("warmup, total, message", [
    (-1, 9, "warmup must be an integer >= 0"),
    (9, 9, "warmup must be below total=9"),
    (2, 0, "total must be an integer >= 1"),
    (True, 9, "warmup must be an integer >= 0"),
])
def test_warmup_cosine_schedule_refuses_warmup_outside_the_experience(warmup, total, message):
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    with pytest.raises(ValueError, match=message):
        WarmupCosineLR(optimizer, warmup=warmup, total=total)


@pytest.mark.parametrize("smoothing", [-0.1, 1.0, float("nan")])
def test_label_smoothing_outside_zero_to_one_is_refused(smoothing):
    with pytest.raises(ValueError, match=r"smoothing must be a number in \[0, 1\)"):
        SmoothedCrossEntropy(smoothing)


def hand_smoothed_loss(logits: list[list[float]], targets: list[int], smoothing: float) -> float:
    """Label smoothing over the finite logits, in plain Python."""
    losses = []
    for row, target in zip(logits, targets):
        kept = [x for x in row if x != float("-inf")]
        log_z = math.log(sum(math.exp(x) for x in kept))
        uniform = sum(log_z - x for x in kept) / len(kept)
        losses.append((1 - smoothing) * (log_z - row[target]) + smoothing * uniform)
    return sum(losses) / len(losses)


def test_the_loss_of_a_step_is_the_label_smoothed_cross_entropy_of_the_scored_classes(make_model, generated):
    seen = []

    class LossSpy:
        def before_backward(self, strategy, **kwargs):
            seen.append((strategy.mb_output.detach().tolist(), strategy.mb_y.tolist(), strategy.loss.item()))

    strategy = strategy_for(make_model(), criterion=build_criterion(TrainingSpec(label_smoothing=0.2)),
                            plugins=[LossSpy()])
    strategy.train(mst_benchmark(*generated, CLASS_NAMES, n_sessions=2).train_stream[1])  # classes 0-4 masked
    assert seen
    for logits, targets, loss in seen:
        assert sum(x == float("-inf") for x in logits[0]) == 5
        assert loss == pytest.approx(hand_smoothed_loss(logits, targets, 0.2), rel=1e-5)
    logits, targets = torch.randn(6, 4, generator=torch.Generator().manual_seed(0)), torch.tensor([0, 1, 2, 3, 0, 1])
    assert smoothed_cross_entropy(logits, targets, 0.2).item() == pytest.approx(
        torch.nn.functional.cross_entropy(logits, targets, label_smoothing=0.2).item(), rel=1e-6)  # PyTorch's, unmasked
    assert build_criterion(TrainingSpec()) is None  # no smoothing: the strategy's plain cross-entropy


def test_bad_arguments_are_refused(make_model):
    with pytest.raises(ValueError, match="precision='fp8'"):
        strategy_for(make_model(), precision="fp8")
    with pytest.raises(TypeError, match="CLIPClassifier"):
        CLIPStrategy(model=torch.nn.Linear(2, 2), optimizer=torch.optim.SGD(make_model().parameters(), lr=0.1))
    with pytest.raises(ValueError, match="train_iterations must be an integer >= 1, got 0"):
        strategy_for(make_model(), train_iterations=0)
