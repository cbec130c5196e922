"""The README's example and the example scripts, run as a user runs them (small world sets)."""

import json
import os
import re
import subprocess
import sys

from avalanche_clip.benchmarks import world

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
