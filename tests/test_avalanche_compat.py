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


# ------------------------------------------------- 4. Avalanche's plugins from the command line

PLUGIN_ARGUMENTS = {
    "ReplayPlugin": (["--plugins.mem_size", "7"], {"mem_size": 7}),
    "GEMPlugin": (["--plugins.patterns_per_experience", "3", "--plugins.memory_strength", "0.25"],
                  {"patterns_per_experience": 3, "memory_strength": 0.25}),
    "AGEMPlugin": (["--plugins.patterns_per_experience", "3", "--plugins.sample_size", "5"],
                   {"patterns_per_experience": 3, "sample_size": 5}),
    "EWCPlugin": (["--plugins.ewc_lambda", "1", "--plugins.mode", "online", "--plugins.decay_factor", "0.5"],
                  {"ewc_lambda": 1.0, "mode": "online", "decay_factor": 0.5}),
    "SynapticIntelligencePlugin": (["--plugins.si_lambda", "0.5"], {"si_lambda": [0.5]}),
    "MASPlugin": (["--plugins.lambda_reg", "2"], {"_lambda": 2.0}),
    "RWalkPlugin": (["--plugins.ewc_lambda", "0.3"], {"ewc_lambda": 0.3}),
    "avalanche_clip.training.avalanche_plugins.AvalancheLwFPlugin": (["--plugins.alpha", "2"], {}),
    "LFLPlugin": (["--plugins.lambda_e", "0.5"], {"lambda_e": 0.5}),
    "FeatureDistillationPlugin": (["--plugins.alpha", "0.5", "--plugins.mode", "mse"], {"alpha": 0.5, "mode": "mse"}),
    "GDumbPlugin": (["--plugins.mem_size", "9"], {"mem_size": 9}),
    "MIRPlugin": (["--plugins.batch_size_mem", "4"], {"batch_size_mem": 4}),
    "CoPEPlugin": (["--plugins.n_classes", "10", "--plugins.p_size", "32"], {"n_classes": 10, "p_size": 32}),
    "GSS_greedyPlugin": (["--plugins.mem_size", "5", "--plugins.input_size", "[3, 32, 32]"],
                         {"mem_size": 5, "mem_strength": 5}),
    "EarlyStoppingPlugin": (["--plugins.patience", "2", "--plugins.val_stream_name", "valid"],
                            {"patience": 2, "val_stream_name": "valid"}),
    "FromScratchTrainingPlugin": (["--plugins.reset_optimizer", "false"], {"reset_optimizer": False}),
}


def test_every_avalanche_training_plugin_is_in_the_table():
    from avalanche_clip.training.avalanche_plugins import AVALANCHE_PLUGINS

    assert sorted(p.__name__.removeprefix("Avalanche") for p in AVALANCHE_PLUGINS) == sorted(
        name.rsplit(".", 1)[-1].removeprefix("Avalanche") for name in PLUGIN_ARGUMENTS)


@pytest.mark.parametrize("name", PLUGIN_ARGUMENTS)
def test_avalanche_plugins_parse_from_the_command_line(name, tmp_path):
    from avalanche_clip.cli import parse_run_arguments, run_parser

    arguments, expected = PLUGIN_ARGUMENTS[name]
    parsed, resolved = parse_run_arguments(run_parser("mst_vrlwf"), [f"--plugins+={name}", *arguments])
    vrlwf, plugin = parsed["plugins"]
    assert type(vrlwf).__name__ == "VRLwFPlugin" and type(plugin).__name__ == name.rsplit(".", 1)[-1]
    for attribute, value in expected.items():
        assert getattr(plugin, attribute) == value, attribute
    if name.endswith("AvalancheLwFPlugin"):
        assert plugin.lwf.alpha == 2.0
    assert name.rsplit(".", 1)[-1] in resolved  # the saved config names it, so it parses again


def test_help_lists_training_plugins_not_loggers_or_checkpoints(capsys):
    from avalanche_clip.cli import run_parser

    with pytest.raises(SystemExit):
        run_parser("mst_vrlwf").parse_args(["--help"])
    text = capsys.readouterr().out
    for name in ("VRLwFPlugin", "GeoDLPlugin", "EWCPlugin", "ReplayPlugin", "GEMPlugin", "EarlyStoppingPlugin"):
        assert name in text, name
    for name in ("InteractiveLogger", "TextLogger", "CSVLogger", "Clock", "EvaluationPlugin", "CheckpointPlugin",
                 "ResultsLogger", "RunCheckpointing", "LRSchedulerPlugin"):
        assert name not in text, name
