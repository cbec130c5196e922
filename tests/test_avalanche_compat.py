"""Avalanche's own strategies, plugins, metrics and loggers composed with the library's parts.

Each test backs one row of the README's compatibility table.
"""

import copy
import io
import math
import pickle

import pytest
import torch
from avalanche.evaluation.metrics import accuracy_metrics, loss_metrics
from avalanche.training import LwF
from avalanche.training.plugins import AGEMPlugin, EvaluationPlugin, GEMPlugin, LwFPlugin, ReplayPlugin

from avalanche_clip.benchmarks import mst_benchmark
from avalanche_clip.training import CLIPStrategy
from conftest import CLASS_NAMES


def quiet_evaluator(*metrics, loggers=()):
    return EvaluationPlugin(*(metrics or (accuracy_metrics(stream=True),)), loggers=list(loggers))


def clip_strategy(model, **kwargs):
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    args = dict(model=model, optimizer=optimizer, train_mb_size=16, train_epochs=1, evaluator=quiet_evaluator())
    return CLIPStrategy(**(args | kwargs))


def assert_copies(model):
    """Deepcopy, pickle and state_dict of ``model`` work and give the same parameters."""
    copied = copy.deepcopy(model)
    restored = pickle.loads(pickle.dumps(model))
    state = model.state_dict()
    for name, value in model.clip.state_dict().items():
        assert torch.equal(copied.clip.state_dict()[name], value)
        assert torch.equal(restored.clip.state_dict()[name], value)
        assert torch.equal(state[f"clip.{name}"], value)
    assert copied.last_features is None and restored.last_features is None


# ------------------------------------------------------------------- 1. copies of the model


def test_the_model_deepcopies_pickles_and_saves_after_training(make_model, generated):
    benchmark = mst_benchmark(*generated, CLASS_NAMES, n_sessions=2)
    model = make_model()
    strategy = clip_strategy(model)
    strategy.train(benchmark.train_stream[0])
    assert model.last_features is not None and model.last_features.image.grad_fn is not None
    assert_copies(model)
    copied = copy.deepcopy(model).eval()
    images = torch.stack([generated[1][i][0] for i in range(4)])
    with torch.no_grad():
        assert torch.allclose(copied(images), model.eval()(images))


class Losses:
    """Records the loss of every training step."""

    def __init__(self):
        self.values = []

    def before_backward(self, strategy, **kwargs):
        self.values.append(float(strategy.loss))


@pytest.mark.parametrize("train_mask", ["current", "seen"])
def test_avalanche_lwf_strategy_trains_the_clip_classifier(make_model, generated, train_mask):
    benchmark = mst_benchmark(*generated, CLASS_NAMES, n_sessions=2)
    model, losses = make_model(train_mask=train_mask), Losses()
    strategy = LwF(model=model, optimizer=torch.optim.Adam(model.parameters(), lr=1e-4),
                   criterion=torch.nn.CrossEntropyLoss(), alpha=1.0, temperature=2.0, train_mb_size=16,
                   train_epochs=1, evaluator=quiet_evaluator(), plugins=[losses])
    for experience in benchmark.train_stream:
        strategy.train(experience)
    assert len(losses.values) == 4 and all(math.isfinite(loss) for loss in losses.values)
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert_copies(model)


def test_avalanche_lwf_plugin_runs_inside_clip_strategy(make_model, generated):
    benchmark = mst_benchmark(*generated, CLASS_NAMES, n_sessions=2)
    model, losses = make_model(train_mask="seen"), Losses()  # its KL reads the earlier classes' logits
    strategy = clip_strategy(model, plugins=[LwFPlugin(alpha=1.0, temperature=2.0), losses])
    for experience in benchmark.train_stream:
        strategy.train(experience)
    assert len(losses.values) == 4 and all(math.isfinite(loss) for loss in losses.values)
    assert strategy.nonfinite.skipped == 0
    assert_copies(model)


# --------------------------------------------------- 2. memory-based methods and the mask


MEMORY_PLUGINS = {
    "Replay": lambda: ReplayPlugin(mem_size=20),
    "GEM": lambda: GEMPlugin(patterns_per_experience=10, memory_strength=0.5),
    "AGEM": lambda: AGEMPlugin(patterns_per_experience=10, sample_size=10),
}


@pytest.mark.parametrize("name", MEMORY_PLUGINS)
def test_memory_plugins_under_the_current_mask_stop_at_the_first_batch_naming_seen(make_model, generated, name):
    benchmark = mst_benchmark(*generated, CLASS_NAMES, n_sessions=2)
    strategy = clip_strategy(make_model(), plugins=[MEMORY_PLUGINS[name]()])
    strategy.train(benchmark.train_stream[0])
    with pytest.raises(ValueError, match=r"train_mask='current'.*train_mask=\"seen\"") as error:
        strategy.train(benchmark.train_stream[1])
    assert "class" in str(error.value) and strategy.nonfinite.skipped == 0


@pytest.mark.parametrize("name", MEMORY_PLUGINS)
def test_memory_plugins_under_the_seen_mask_train_with_finite_losses(make_model, generated, name):
    benchmark = mst_benchmark(*generated, CLASS_NAMES, n_sessions=2)
    criterion_values = []

    class Spy(torch.nn.CrossEntropyLoss):
        def forward(self, logits, targets):
            value = super().forward(logits, targets)
            criterion_values.append(float(value))
            return value

    strategy = clip_strategy(make_model(train_mask="seen"), plugins=[MEMORY_PLUGINS[name]()], criterion=Spy())
    for experience in benchmark.train_stream:
        strategy.train(experience)
    assert criterion_values and all(math.isfinite(v) for v in criterion_values)
    assert strategy.nonfinite.skipped == 0
