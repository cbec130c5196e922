"""experiment.run and the run command: a whole run, its files, its config, its refusals."""

import json

import pytest
import torch
import yaml

from avalanche_clip.benchmarks import PaperData, world
from avalanche_clip.checkpointing import CheckpointFiles
from avalanche_clip.cli import main, run_command, run_parser
from avalanche_clip.configs import config_path, list_configs
from avalanche_clip.experiment import (
    EvaluationSpec,
    ModelSpec,
    ProtocolSpec,
    TrainingSpec,
    method_label,
    run,
)
from avalanche_clip.training import IMMPlugin, VRLwFPlugin


def small_run(paper_files, output_dir, **kwargs):
    args = dict(
        output_dir=str(output_dir), seed=3, model=ModelSpec(name="tiny-clip"), data=PaperData(**paper_files),
        protocol=ProtocolSpec(name="mst", n_sessions=3), training=TrainingSpec(epochs=1, batch_size=4, lr=1e-4),
        evaluation=EvaluationSpec(batch_size=8, tensorboard=True),
    )
    return run(**(args | kwargs))


def test_an_mst_run_writes_every_file_with_every_metric(paper_files, tmp_path):
    results = small_run(paper_files, tmp_path / "run", plugins=[VRLwFPlugin(num_pseudo=8), IMMPlugin()])
    run_dir = tmp_path / "run"
    for name in ("run.json", "metrics.csv", "results.json", "log.txt"):
        assert (run_dir / name).is_file(), name
    assert any((run_dir / "tb").iterdir()) and (run_dir / "report" / "results.md").is_file()
    info = json.loads((run_dir / "run.json").read_text())
    assert (info["method"], info["variant"], info["protocol"], info["seed"]) == ("VR-LwF+IMM", "WM", "MST", 3)
    assert results == json.loads((run_dir / "results.json").read_text())
    names = (run_dir / "metrics.csv").read_text()
    for metric in ("UT_Acc/eval_phase/test_stream", "BWT/eval_phase/test_stream", "ZeroShot_Top1_Acc/eval_phase/shapes",
                   "ZeroShot_Top1_Acc_Forgetting/eval_phase/shapes", "Retrieval_TR@1/eval_phase/coco5k",
                   "Retrieval_IR@1_Forgetting/eval_phase/coco5k", "Top1_Acc_Exp/eval_phase/test_stream/Exp002"):
        assert metric in names, metric


def test_an_existing_run_is_refused_unless_overwritten(paper_files, tmp_path):
    small_run(paper_files, tmp_path / "run", protocol=ProtocolSpec(name="ost"))
    with pytest.raises(FileExistsError, match="already holds a run's results .*--overwrite"):
        small_run(paper_files, tmp_path / "run", protocol=ProtocolSpec(name="ost"))
    small_run(paper_files, tmp_path / "run", protocol=ProtocolSpec(name="ost"), overwrite=True)
    assert json.loads((tmp_path / "run" / "run.json").read_text())["protocol"] == "OST"


def test_method_labels():
    assert method_label([], ProtocolSpec(name="mst")) == "FT"
    assert method_label([], ProtocolSpec(name="joint")) == "Joint-FT"
    assert method_label([VRLwFPlugin(), IMMPlugin()], ProtocolSpec()) == "VR-LwF+IMM"


def test_the_run_command_saves_a_config_that_reproduces_the_run(paper_files, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({
        "model": {"name": "tiny-clip", "update": "image"}, "protocol": {"name": "ost"},
        "data": {"class_path": "avalanche_clip.benchmarks.PaperData", "init_args": paper_files},
        "training": {"epochs": 1, "batch_size": 4}, "evaluation": {"batch_size": 8, "tensorboard": False},
        "plugins": [{"class_path": "avalanche_clip.training.LwFPlugin", "init_args": {"alpha": 0.25}}],
    }))
    run_command(["--config", str(config), "--output_dir", str(tmp_path / "a"), "--seed", "5",
                 "--plugins.alpha", "0.75"])
    saved = yaml.safe_load((tmp_path / "a" / "config.yaml").read_text())
    assert saved["seed"] == 5 and saved["model"]["update"] == "image"
    assert saved["plugins"][0]["init_args"]["alpha"] == 0.75
    run_command(["--config", str(tmp_path / "a" / "config.yaml"), "--output_dir", str(tmp_path / "b")])
    first, second = (json.loads((tmp_path / d / "results.json").read_text()) for d in "ab")
    assert first["table"] == second["table"]


@pytest.mark.parametrize("train_logit_scale", [True, False])
def test_the_logit_scale_trains_unless_the_model_spec_keeps_it(tmp_path, train_logit_scale):
    run_command(["--output_dir", str(tmp_path / "run"), "--protocol.name", "ost", "--training.epochs", "1",
                 "--training.lr", "1e-3", "--evaluation.tensorboard", "false", "--data.train_per_class=2",
                 "--data.test_per_class=1", "--data.zeroshot_per_class=1", "--data.retrieval_size=6",
                 "--plugins", "[]", "--model.train_logit_scale", str(train_logit_scale).lower()])
    trained = CheckpointFiles(tmp_path / "run" / "checkpoints").load_latest().state["model"]
    pretrained = world.load_model().state_dict()
    assert torch.equal(trained["clip.logit_scale"], pretrained["clip.logit_scale"]) is not train_logit_scale
    assert not torch.equal(trained["clip.text_projection"], pretrained["clip.text_projection"])


def test_every_shipped_config_parses():
    parser = run_parser()
    for name in list_configs():
        config = parser.parse_args(["--config", str(config_path(name))])
        assert config.model.name and config.protocol.name in ("ost", "mst", "joint", "mtil"), name


def test_help_lists_the_options_a_user_needs(capsys):
    with pytest.raises(SystemExit):
        run_command(["--help"])
    text = capsys.readouterr().out
    for option in ("--output_dir", "--seed", "--model.name", "--model.update", "--data", "--plugins",
                   "--protocol.name", "--training.epochs", "--training.lr", "--training.batch_size",
                   "--training.device", "--training.precision", "--overwrite"):
        assert option in text, option
    assert "Which part trains" in text  # attribute docstrings are the help


def test_bad_config_values_are_refused_before_anything_runs(tmp_path):
    with pytest.raises(ValueError, match="both"):
        run_command(["--output_dir", str(tmp_path / "x"), "--model.update", "both"])
    with pytest.raises(ValueError, match="training.epochs must be an integer >= 1"):
        TrainingSpec(epochs=0)
    assert not (tmp_path / "x").exists()


def test_main_without_a_command_prints_usage(capsys):
    with pytest.raises(SystemExit) as exit_:
        main([])
    assert exit_.value.code == 2 and "avalanche-clip {run | report | configs}" in capsys.readouterr().err


def test_bad_iteration_schedule_and_smoothing_values_are_refused():
    with pytest.raises(ValueError, match="training.label_smoothing must be a number in \\[0, 1\\), got 1.0"):
        TrainingSpec(label_smoothing=1.0)
    with pytest.raises(ValueError, match="training.iterations must be an integer >= 1, got 0"):
        TrainingSpec(iterations=0)
    with pytest.raises(ValueError, match="lr_schedule='cosine' needs training.iterations"):
        TrainingSpec(lr_schedule="cosine")
    with pytest.raises(ValueError, match="training.lr_schedule='linear' is not valid. Available: 'step', 'cosine'"):
        TrainingSpec(lr_schedule="linear")
    with pytest.raises(ValueError, match="warmup_iterations=5 is given with training.lr_schedule='step'"):
        TrainingSpec(warmup_iterations=5)
    with pytest.raises(ValueError, match="warmup_iterations must be below training.iterations=10, got 10"):
        TrainingSpec(iterations=10, lr_schedule="cosine", warmup_iterations=10)
    with pytest.raises(ValueError, match="lr_milestones=\\[3\\] are given with training.lr_schedule='cosine'"):
        TrainingSpec(iterations=10, lr_schedule="cosine", lr_milestones=(3,))
