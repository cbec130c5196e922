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


# ------------------------------------------------------------ 3. Avalanche's evaluation parts

def metric_families():
    from avalanche.evaluation import metrics as m

    return {
        "accuracy": m.accuracy_metrics(minibatch=True, epoch=True, experience=True, stream=True),
        "loss": m.loss_metrics(minibatch=True, epoch=True, experience=True, stream=True),
        "class_accuracy": m.class_accuracy_metrics(epoch=True, experience=True, stream=True),
        "forgetting": m.forgetting_metrics(experience=True, stream=True),
        "bwt": m.bwt_metrics(experience=True, stream=True),
        "accuracy_matrix": m.accuracy_matrix_metrics(),
        "confusion_matrix": m.confusion_matrix_metrics(num_classes=10, stream=True, save_image=False),
        "mean_scores": m.mean_scores_metrics(on_train=True, on_eval=True),
        "labels_repartition": m.labels_repartition_metrics(on_train=True, on_eval=True),
        "images_samples": m.images_samples_metrics(n_rows=1, n_cols=2, on_train=False, on_eval=True),
        "timing": m.timing_metrics(epoch=True, experience=True, stream=True),
        "ram_usage": m.ram_usage_metrics(epoch=True, experience=True, stream=True),
        "cpu_usage": m.cpu_usage_metrics(epoch=True, experience=True, stream=True),
        "disk_usage": m.disk_usage_metrics(experience=True, stream=True),
        "MAC": m.MAC_metrics(epoch=True, experience=True),
    }


EXPECTED_NAMES = {
    "accuracy": "Top1_Acc_Stream/eval_phase/test_stream", "loss": "Loss_Stream/eval_phase/test_stream",
"class_accuracy": "Top1_ClassAcc_Stream/eval_phase/test_stream",
"forgetting": "StreamForgetting/eval_phase/test_stream",
    "bwt": "StreamBWT/eval_phase/test_stream",
    "accuracy_matrix": "EvalStream", "confusion_matrix": "ConfusionMatrix_Stream/eval_phase/test_stream",
    "mean_scores": "MeanScores", "labels_repartition": "Repartition", "images_samples": "images",
    "timing": "Time_Stream/eval_phase/test_stream", "ram_usage": "MaxRAMUsage_Stream/eval_phase/test_stream",
    "cpu_usage": "CPUUsage_Stream/eval_phase/test_stream", "disk_usage": "DiskUsage_Stream/eval_phase/test_stream",
    "MAC": "MAC_Epoch/train_phase/train_stream",
}


def test_every_classification_metric_family_runs_on_an_mst_benchmark(make_model, generated, tmp_path):
    from avalanche.logging import CSVLogger

    benchmark = mst_benchmark(*generated, CLASS_NAMES, n_sessions=2)
    families = metric_families()
    assert set(families) == set(EXPECTED_NAMES)
    csv = CSVLogger(log_folder=str(tmp_path / "csv"))
    strategy = clip_strategy(make_model(), evaluator=quiet_evaluator(*families.values(), loggers=[csv]))
    for experience in benchmark.train_stream:
        strategy.train(experience)
        strategy.eval(benchmark.test_stream)
    names = list(strategy.evaluator.get_all_metrics())
    for family, expected in EXPECTED_NAMES.items():
        assert any(name.startswith(expected) for name in names), (family, expected)
    confusion = strategy.evaluator.get_last_metrics()["ConfusionMatrix_Stream/eval_phase/test_stream"]
    assert confusion.shape == (10, 10) and int(confusion.sum()) == len(generated[1])  # every test sample once
    assert [exp.benchmark for exp in benchmark.test_stream] == [benchmark, benchmark]
    csv.close()
    assert len((tmp_path / "csv" / "eval_results.csv").read_text().splitlines()) == 1 + 2 * 2  # exp x evals


def test_a_validation_stream_drives_early_stopping_and_model_selection(make_model, generated):
    from avalanche.training.plugins import EarlyStoppingPlugin

    benchmark = mst_benchmark(*generated, CLASS_NAMES, n_sessions=2, validation_size=0.34, validation_seed=3)
    for train, valid, test in zip(benchmark.train_stream, benchmark.valid_stream, benchmark.test_stream):
        assert valid.classes_in_this_experience == train.classes_in_this_experience
        assert valid.class_names == tuple(CLASS_NAMES) and len(valid.dataset) == 2 * 5  # 2 of 6 per class
        assert len(train.dataset) == 4 * 5
    again = mst_benchmark(*generated, CLASS_NAMES, n_sessions=2, validation_size=0.34, validation_seed=3)
    assert list(again.valid_stream[0].dataset.targets) == list(benchmark.valid_stream[0].dataset.targets)
    epochs = []

    class Epochs:
        def after_training_epoch(self, strategy, **kwargs):
            epochs.append(strategy.epoch)

    stopper = EarlyStoppingPlugin(patience=1, val_stream_name="valid_stream", metric_name="Top1_Acc_Stream")
    model = make_model()
    strategy = clip_strategy(model, train_epochs=6, eval_every=1, plugins=[stopper, Epochs()],
                             optimizer=torch.optim.SGD(model.parameters(), lr=1e-12))  # accuracy cannot improve
    strategy.train(benchmark.train_stream[0], eval_streams=[benchmark.valid_stream[0]])
    assert epochs == [0] and stopper.best_val is not None  # no progress over the evaluation before training
    assert "Top1_Acc_Stream/eval_phase/valid_stream" in strategy.evaluator.get_all_metrics()
    with pytest.raises(ValueError, match="validation_size must be a fraction in \\(0, 1\\), got 1.5"):
        mst_benchmark(*generated, CLASS_NAMES, n_sessions=2, validation_size=1.5)
