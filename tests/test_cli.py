"""The command line as a user meets it: shipped configs by name, ``python -m``, and one-line errors.

A user's mistake ends the command with exactly one ``error: ...`` line and exit status 2;
``--debug`` gives the traceback instead.
"""

import json
import os
import subprocess
import sys
import zipfile

import pytest
import yaml

from avalanche_clip.cli import main, run_parser
from avalanche_clip.configs import config_path, list_configs
from data_files import write_coco

SMALL = ["--data.train_per_class=4", "--data.test_per_class=2", "--data.zeroshot_per_class=2",
         "--data.retrieval_size=12", "--training.epochs=1", "--evaluation.tensorboard=false"]
SHIPPED = ["mst_vrlwf", "mtil", "ost_finetune", "paper_mst_vrlwf", "paper_mtil_ft", "paper_ost_ft"]


def one_error_line(capsys, args) -> str:
    """Run ``avalanche-clip ARGS`` in this process; return its only stderr line, after checking exit status 2."""
    with pytest.raises(SystemExit) as exit_:
        main(args)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert exit_.value.code == 2 and len(lines) == 1, lines
    assert lines[0].startswith("error: ") and "Traceback" not in lines[0]
    return lines[0]


def paper_data(**init_args) -> str:
    return json.dumps({"class_path": "avalanche_clip.benchmarks.PaperData", "init_args": init_args})


# ------------------------------------------------------------------------- shipped configs


def test_the_shipped_configs_are_listed_and_each_parses(capsys):
    assert list_configs() == SHIPPED
    main(["configs"])
    listed = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in listed] == SHIPPED and "The main job" in listed[0]
    parser = run_parser()
    for name in SHIPPED:
        config = parser.parse_args(["--config", name])  # a name, not a path
        expected = yaml.safe_load(config_path(name).read_text())
        assert config.output_dir == expected["output_dir"] and config.protocol.name == expected["protocol"]["name"]
        assert config.training.lr == expected["training"]["lr"]


def test_run_without_a_config_is_the_main_job():
    from avalanche_clip.cli import MAIN_CONFIG, parse_run_arguments

    parsed, _ = parse_run_arguments(run_parser(MAIN_CONFIG), [])
    assert [type(p).__name__ for p in parsed["plugins"]] == ["VRLwFPlugin"] and parsed["training"].lr == 3e-05
    assert parsed["protocol"].name == "mst" and parsed["output_dir"] == "runs/mst_vrlwf"


def test_the_wheel_holds_the_configs(repo_root, tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path),
                    str(repo_root)], check=True, capture_output=True, timeout=300, cwd=tmp_path)
    wheel = next(tmp_path.glob("avalanche_clip-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for name in SHIPPED:
        assert f"avalanche_clip/configs/{name}.yaml" in names, name
    assert "avalanche_clip/__main__.py" in names and "avalanche_clip/configs/__init__.py" in names


@pytest.mark.parametrize("module", ["avalanche_clip", "avalanche_clip.cli"])
def test_python_dash_m_is_the_console_script(repo_root, module, tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(repo_root), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", module, "run", "--help"], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=120)
    assert done.returncode == 0 and "--plugins" in done.stdout and "usage: avalanche-clip run" in done.stdout
    done = subprocess.run([sys.executable, "-m", module, "report", str(tmp_path)], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=120)
    assert done.returncode == 2 and done.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "Traceback" not in done.stderr


# ------------------------------------------------------------------------- one-line errors


def test_an_existing_run_directory_is_one_line(capsys, tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "results.json").write_text("{}")
    line = one_error_line(capsys, ["run", "--output_dir", str(tmp_path / "run")])
    assert str(tmp_path / "run") in line and "--overwrite" in line


def test_an_unknown_model_is_one_line(capsys, tmp_path):
    line = one_error_line(capsys, ["run", "--output_dir", str(tmp_path / "x"), "--model.name", "ViT-B-33"])
    assert "Unknown OpenCLIP model 'ViT-B-33'. Closest: ViT-B-32" in line


def test_more_sessions_than_classes_is_one_line(capsys, tmp_path):
    line = one_error_line(capsys, ["run", "--output_dir", str(tmp_path / "x"), "--protocol.n_sessions", "1000",
                                   *SMALL])
    assert "n_sessions=1000 is larger than the number of classes" in line


def test_missing_and_broken_coco_files_are_one_line(capsys, tmp_path, paper_files):
    missing = {**paper_files, "coco_root": str(tmp_path / "nowhere")}
    line = one_error_line(capsys, ["run", "--config", "ost_finetune", "--output_dir", str(tmp_path / "x"),
                                   "--data", paper_data(**missing), "--model.name", "tiny-clip"])
    assert str(tmp_path / "nowhere") in line
    coco = write_coco(tmp_path / "coco")
    coco.train_json.write_text('{"images": [')
    broken = {**paper_files, "coco_root": str(coco.root), "coco_karpathy_json": str(coco.karpathy_json),
              "cache_dir": str(tmp_path / "cache")}
    line = one_error_line(capsys, ["run", "--config", "ost_finetune", "--output_dir", str(tmp_path / "y"),
                                   "--data", paper_data(**broken), "--model.name", "tiny-clip"])
    assert "instances_train2014.json" in line


def test_an_unwritable_output_directory_is_one_line(capsys, tmp_path):
    (tmp_path / "a_file").write_text("")
    line = one_error_line(capsys, ["run", "--output_dir", str(tmp_path / "a_file" / "run")])
    assert "a_file/run' cannot be written" in line


def test_report_on_an_empty_or_foreign_directory_is_one_line(capsys, tmp_path):
    assert "run.json not found" in one_error_line(capsys, ["report", str(tmp_path)])
    (tmp_path / "notes.txt").write_text("not a run")
    assert str(tmp_path) in one_error_line(capsys, ["report", str(tmp_path), "--output", str(tmp_path / "r")])


def test_report_on_a_damaged_results_file_names_the_file(capsys, tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "run.json").write_text(json.dumps({"method": "FT", "variant": "whole", "protocol": "MST", "seed": 0}))
    (run_dir / "results.json").write_text("{garbage")
    line = one_error_line(capsys, ["report", str(run_dir), "--output", str(tmp_path / "r")])
    assert f"{run_dir / 'results.json'} is damaged" in line


def test_a_plugins_own_check_reaches_the_user(capsys, tmp_path):
    line = one_error_line(capsys, ["run", "--output_dir", str(tmp_path / "x"), "--plugins.alpha", "-1"])
    assert "alpha must be a finite number >= 0, got -1.0" in line and "Union subtypes" not in line
    assert not (tmp_path / "x").exists()


def test_debug_shows_the_traceback(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="Unknown OpenCLIP model"):
        main(["run", "--debug", "--output_dir", str(tmp_path / "x"), "--model.name", "ViT-B-33"])
    monkeypatch.setenv("AVALANCHE_CLIP_DEBUG", "1")
    with pytest.raises(FileNotFoundError):
        main(["report", str(tmp_path)])
