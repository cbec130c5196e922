"""CLIPStrategy: FT and Joint-FT with Avalanche's evaluation, optimizer handling, precision."""

import pytest
import torch
from avalanche.evaluation.metrics import accuracy_metrics, forgetting_metrics, loss_metrics
from avalanche.logging import InteractiveLogger, TensorboardLogger, TextLogger
from avalanche.training.plugins import EvaluationPlugin

from avalanche_clip.benchmarks import mst_benchmark, ost_benchmark
from avalanche_clip.training import CLIPStrategy
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


def test_bad_arguments_are_refused(make_model):
    with pytest.raises(ValueError, match="precision='fp8'"):
        strategy_for(make_model(), precision="fp8")
    with pytest.raises(TypeError, match="CLIPClassifier"):
        CLIPStrategy(model=torch.nn.Linear(2, 2), optimizer=torch.optim.SGD(make_model().parameters(), lr=0.1))
