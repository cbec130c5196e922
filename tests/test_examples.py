"""The README's example and the example scripts, run as a user runs them (small world sets)."""

import importlib.util
import json
import os
import re
import subprocess
import sys

import yaml

from avalanche_clip.benchmarks import world
from avalanche_clip.cli import parse_run_arguments, run_parser

SMALL_WORLD = dict(train_per_class=4, test_per_class=2, zeroshot_per_class=2, retrieval_size=12)


def test_the_readme_example_runs_as_written(repo_root, monkeypatch):
    readme = (repo_root / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", readme, re.S).group(1)
    assert "world.load()" in code and "CLIPStrategy" in code and "EvaluationPlugin" in code
    load = world.load
    monkeypatch.setattr(world, "load", lambda **kwargs: load(**SMALL_WORLD, **kwargs))
    namespace = {}
    exec(compile(code, "README.md", "exec"), namespace)
    results = namespace["strategy"].evaluator.get_last_metrics()
    assert "UT_Acc/eval_phase/test_stream" in results and "BWT/eval_phase/test_stream" in results
    assert any(name.startswith("ZeroShot_Top1_Acc/") for name in results)


def test_the_main_job_runs_and_writes_every_metric(repo_root, tmp_path):
    small = [f"--data.{key}={value}" for key, value in SMALL_WORLD.items()]
    command = [sys.executable, str(repo_root / "examples" / "mst_vrlwf.py"), "--output_dir", str(tmp_path / "run"),
               "--training.epochs", "1", "--plugins.num_pseudo", "8", *small]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(repo_root), os.environ.get("PYTHONPATH", "")])}
    subprocess.run(command, check=True, cwd=tmp_path, env=env, capture_output=True, timeout=600)
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    names = (tmp_path / "run" / "metrics.csv").read_text()
    for name in ("UT_Acc", "BWT", "ZeroShot_Top1_Acc", "ZeroShot_Top1_Acc_Forgetting", "Retrieval_TR@1",
                 "Retrieval_IR@1", "Retrieval_TR@5_Forgetting"):
        assert name in names, name
    assert results["experiences_completed"] == 4
    assert (tmp_path / "run" / "config.yaml").is_file() and (tmp_path / "run" / "report" / "results.md").is_file()


def load_example(repo_root, name: str):
    """An example script as a module (examples/ is not a package)."""
    spec = importlib.util.spec_from_file_location(name, repo_root / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_reproduction_run_parses_into_its_protocol_variant_method_and_learning_rate(repo_root, tmp_path):
    reproduce = load_example(repo_root, "reproduce")
    planned = reproduce.runs(tuple(reproduce.PLUGINS), ("ost", "mst"), ("whole", "image", "text"))
    # Joint-FT once per variant; neither MoE-Adapters routing has a TO run
    assert len(planned) == 2 * 3 * len(reproduce.PLUGINS) - 4 + 3
    planned += reproduce.runs(tuple(reproduce.PLUGINS), ("mtil",), ("whole",))
    for protocol, variant, method in planned:
        command = reproduce.arguments(protocol, variant, method, 3, tmp_path / "run", 10.0, 1)
        parsed, _ = parse_run_arguments(run_parser(reproduce.config_path(protocol)), command)
        config = yaml.safe_load(reproduce.config_path(protocol).read_text())
        assert parsed["overwrite"] and parsed["seed"] == 3 and parsed["training"].threads == 1
        assert parsed["protocol"].name == protocol and parsed["model"].update == variant
        assert [p.label for p in parsed["plugins"]] == ([] if method in ("FT", "Joint-FT") else [method])
        assert parsed["training"].lr == config["training"]["lr"] * reproduce.lr_factor(method, 10.0)
        if method == "ZSCL":
            assert parsed["plugins"][0].we_every == reproduce.ZSCL_WE_EVERY[protocol]
