"""A run killed in the middle of an MST session resumes to exactly the uninterrupted run's results.

One configuration throughout: tiny CLIP (its image tower trains, which keeps checkpoints small), a
small COCO of 4 classes, 2 MST sessions of 2 classes x 3 crops, 2 epochs at batch size 2 (3 steps an
epoch, 6 a session), VR-LwF (a teacher, a pseudo-sentence generator) with mode-IMM (saved weights
and Fishers), a step LR schedule, a checkpoint every 4 iterations. On the CPU, with one thread, the
same seed gives the same bits. The same configuration with each of WiSE-FT, ZSCL and MoE-Adapters
instead gets the same guarantee, killed where the state the first session's end left matters.
"""

import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from avalanche_clip.cli import run_command
from avalanche_clip.checkpointing import CheckpointFiles
from data_files import coco_file_name, write_folder, write_image, write_json

CATEGORIES = {1: ("cat", (220, 40, 40)), 2: ("dog", (40, 200, 40)), 3: ("bird", (40, 40, 220)),
              4: ("fish", (220, 220, 40))}


def write_four_class_coco(root):
    """A COCO root of 12 train images (3 per class) and 4 Karpathy-test val images, one box each."""
    files = {"train": [], "val": []}
    for split, count in (("train", 12), ("val", 4)):
        for index in range(count):
            image_id = 100 * (split == "val") + index + 1
            category = index % 4 + 1
            box = [4 + 3 * (index // 4), 6 + 2 * index % 9, 30, 24]
            left, top, width, height = box
            write_image(root / f"{split}2014" / coco_file_name(split, image_id),
                        [((left, top, left + width, top + height), CATEGORIES[category][1])])
            files[split].append((image_id, category, box))
    for split, entries in files.items():
        write_json(root / "annotations" / f"instances_{split}2014.json", {
            "images": [{"id": i, "file_name": coco_file_name(split, i)} for i, _, _ in entries],
            "annotations": [{"id": i, "image_id": i, "category_id": c, "bbox": b, "iscrowd": 0} for i, c, b in entries],
            "categories": [{"id": c, "name": name} for c, (name, _) in CATEGORIES.items()],
        })
    karpathy = [{"filepath": f"{split}2014", "filename": coco_file_name(split, i), "cocoid": i,
                 "split": "test" if split == "val" else "train",
                 "sentences": [{"raw": f"a {CATEGORIES[c][0]} picture number {k}"} for k in range(5)]}
                for split, entries in files.items() for i, c, _ in entries]
    return write_json(root / "dataset_coco.json", {"images": karpathy})

STOP_AT_STEP = 10
"""The child process stops (and is killed) in this optimizer step: session 1, epoch 1, batch 1 (the
4th step of the session) — after the checkpoint of iteration 8 (session 1, epoch 0, after its
2nd batch) and before the one of iteration 12."""

CHILD = """
import os, signal, sys
from avalanche_clip.cli import run_command
from avalanche_clip.training import CLIPStrategy

step, steps = CLIPStrategy.optimizer_step, []
def step_then_stop(self):
    steps.append(1)
    if len(steps) == int(os.environ["STOP_AT_STEP"]):
        os.kill(os.getpid(), signal.SIGSTOP)  # the parent SIGKILLs us here, in the middle of a step
    return step(self)
CLIPStrategy.optimizer_step = step_then_stop
run_command(sys.argv[1:])
"""


VRLWF_IMM = [{"class_path": "avalanche_clip.training.VRLwFPlugin", "init_args": {"num_pseudo": 8}},
             {"class_path": "avalanche_clip.training.IMMPlugin", "init_args": {"mode": "mode"}}]


def write_config(root, plugins):
    """The run's configuration in ``root`` (with its COCO), with ``plugins``."""
    karpathy_json = write_four_class_coco(root / "coco")
    paper = {"coco_root": str(root / "coco"), "coco_karpathy_json": str(karpathy_json),
             "zeroshot": {"shapes": {"kind": "folder", "root": str(write_folder(root / "zs"))}},
             "cache_dir": str(root / "cache"), "coco_folds": 1}
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump({
        "seed": 3,
        "model": {"name": "tiny-clip", "update": "image"},
        "data": {"class_path": "avalanche_clip.benchmarks.PaperData", "init_args": paper},
        "protocol": {"name": "mst", "n_sessions": 2},
        "training": {"epochs": 2, "batch_size": 2, "lr": 1e-3, "lr_milestones": [1], "threads": 1},
        "evaluation": {"batch_size": 8, "tensorboard": False},
        "checkpoint": {"every_iterations": 4},
        "plugins": plugins,
    }))
    return path


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    return write_config(tmp_path_factory.mktemp("resume"), VRLWF_IMM)


def outputs(run_dir):
    """What a run leaves that must not depend on a crash: the long file and the results."""
    return (run_dir / "metrics.csv").read_text(), json.loads((run_dir / "results.json").read_text())


@pytest.fixture(scope="module")
def uninterrupted(config, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "uninterrupted"
    run_command(["--config", str(config), "--output_dir", str(run_dir)])
    return (*outputs(run_dir), run_dir)


def final_model(run_dir):
    """The model's tensors in a run's newest checkpoint (written after its last session)."""
    state = CheckpointFiles(run_dir / "checkpoints").load_latest().state
    assert state["strategy"]["experiences_completed"] == 2
    return {name: value for name, value in state["model"].items() if isinstance(value, torch.Tensor)}


def assert_same_final_model(run_dir, expected_run_dir):
    """The two runs end with the same model, to the bit (all of it, also what the results do not show)."""
    model, expected = final_model(run_dir), final_model(expected_run_dir)
    assert model.keys() == expected.keys()
    assert all(torch.equal(value, expected[name]) for name, value in model.items())


def kill_in_the_middle(config, run_dir, log, stop_at_step=STOP_AT_STEP, position=(1, 0, 2)):
    """Run the config in a child process, SIGKILL it in optimizer step ``stop_at_step``; its newest checkpoint.

    That checkpoint must be at ``position`` (experience, epoch, batch): by default mid-session 2, mid-epoch.
    """
    repo = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [repo, os.environ.get("PYTHONPATH")])),
           "OMP_NUM_THREADS": "1", "STOP_AT_STEP": str(stop_at_step)}
    with open(log, "w") as output:
        child = subprocess.Popen([sys.executable, "-c", CHILD, "--config", str(config), "--output_dir", str(run_dir)],
                                 env=env, stdout=output, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while True:
        pid, status = os.waitpid(child.pid, os.WUNTRACED | os.WNOHANG)
        if pid:
            break
        assert time.monotonic() < deadline, "the child never reached the step it stops in"
        time.sleep(0.1)
    assert os.WIFSTOPPED(status), f"the child ended before the kill:\n{log.read_text()[-3000:]}"
    child.send_signal(signal.SIGKILL)
    assert child.wait() == -signal.SIGKILL
    assert json.loads((run_dir / "results.json").read_text())["experiences_completed"] == 1
    newest = CheckpointFiles(run_dir / "checkpoints").load_latest()
    assert newest.state["strategy"]["position"] == dict(zip(("experience", "epoch", "batch"), position))
    assert newest.state["strategy"]["experiences_completed"] == 1
    return newest


def test_a_run_killed_mid_session_resumes_to_the_uninterrupted_results(config, uninterrupted, tmp_path, caplog,
                                                                      capsys):
    run_dir = tmp_path / "killed"
    newest = kill_in_the_middle(config, run_dir, tmp_path / "child.log")
    damaged = tmp_path / "damaged"
    shutil.copytree(run_dir, damaged)

    capsys.readouterr()
    run_command(["--config", str(config), "--output_dir", str(run_dir), "--resume"])
    assert outputs(run_dir) == uninterrupted[:2]
    assert_same_final_model(run_dir, uninterrupted[2])
    # the run's bar starts where training resumes: session 2 of 2, epoch 1 of 2, i.e. 2 of 4 epochs done
    bars = re.findall(r"run +(\d+)%\|[^|]*\| [^,\r\n]*(?:, ([^\r\n\[]*))?", capsys.readouterr().err)
    assert bars[0][0] == "50" and bars[-1][0] == "100"
    assert {where.strip() for _, where in bars} >= {"session 2/2, epoch 1/2", "session 2/2, epoch 2/2"}

    # the newest checkpoint is truncated on disk: detected, reported, set aside; the previous one
    # (after session 0 and its evaluation) is used, and the results are still exactly the uninterrupted run's
    newest_file = damaged / "checkpoints" / newest.path.name
    newest_file.write_bytes(newest_file.read_bytes()[:1000])
    with caplog.at_level(logging.WARNING):
        run_command(["--config", str(config), "--output_dir", str(damaged), "--resume"])
    assert f"{newest.path.name} is unusable" in caplog.text and "truncated or corrupted" in caplog.text
    assert outputs(damaged) == uninterrupted[:2]


def write_reference_set(root):
    """ZSCL's reference data as a user has it: image sub-folders (and a stray file), one caption a line."""
    for index in range(6):
        box = (2 * index, 3 + index, 18 + 2 * index, 28)
        write_image(root / "images" / f"n0{index % 2}" / f"{index}.jpg", [(box, CATEGORIES[index % 4 + 1][1])],
                    size=(32, 32))
    (root / "images" / "README.txt").write_text("not an image")
    captions = root / "captions.txt"
    captions.write_text("a red square\n\n  something green on grey \na blue box\nfour fish\na yellow shape\n",
                        encoding="utf-8")
    return {"reference_images": str(root / "images"), "reference_captions": str(captions)}


def plugin_state(checkpoint):
    """The state of the run's one plugin in a checkpoint."""
    (entry,) = checkpoint["plugins"]
    return entry["state"]


def equal_weights(weights, model_state):
    """Whether every tensor of ``weights`` equals the model's of the same name."""
    return all(torch.equal(value, model_state[name]) for name, value in weights.items())


def check_wise_ft(newest, previous):
    """The anchor is session 0's merge (the model at its end), not the weights training now."""
    anchor = plugin_state(newest)["anchor"]
    assert len(anchor) > 10 and equal_weights(anchor, previous["model"])
    assert not equal_weights(anchor, newest["model"]) and plugin_state(newest)["trained"] is None


def check_zscl(newest, previous):
    """Session 1's running average is mid-way: its start and its step 0 (we_every 2), after 2 steps."""
    state = plugin_state(newest)
    session = state["session"]
    assert (session["experience"], session["step"], session["count"]) == (1, 2, 2)
    assert not equal_weights(session["average"], previous["model"])
    assert not equal_weights(session["average"], newest["model"])
    assert plugin_state(previous)["session"] == {"experience": 0, "step": None, "count": 0, "average": None}
    assert state["teacher"]["image"].shape[0] == 6 and state["teacher"]["text"].shape[0] == 5
    assert not torch.equal(state["generator"], plugin_state(previous)["generator"])  # session 1 drew references


def check_moe_adapters(newest, previous):
    """Task 0 froze one expert a block, both tasks' autoencoders are fitted, task 1's routing is being counted."""
    def buffers(checkpoint, suffix):
        return [value for name, value in checkpoint["model"].items() if name.endswith(suffix)]

    assert [v.tolist() for v in buffers(previous, ".learned")] == [[True, False]]
    assert [v.tolist() for v in buffers(newest, ".learned")] == [[True, True]]
    frozen = buffers(newest, ".frozen")
    assert frozen and all(int(v.sum()) == 1 for v in frozen)
    assert all(torch.equal(a, b) for a, b in zip(frozen, buffers(previous, ".frozen")))
    assert all(float(v.sum()) > 0 for v in buffers(newest, ".activations"))
    assert all(float(v.sum()) == 0 for v in buffers(previous, ".activations"))
    assert plugin_state(newest) == {}  # everything is the model's


NEW_METHODS = {
    "wise-ft": (lambda root: {"alpha": 0.5, "anchor": "previous"}, "WiSEFTPlugin", check_wise_ft),
    "zscl": (lambda root: {"we_every": 2, "texts_per_step": 3, **write_reference_set(root)}, "ZSCLPlugin", check_zscl),
    "moe-adapters": (lambda root: {"num_experts": 3, "max_tasks": 2, "freeze_per_task": 1, "selector_steps": 10,
                                   "selector_batch_size": 4, "threshold": 100.0}, "MoEAdaptersPlugin",
                     check_moe_adapters),
}
"""Each new method: its arguments (given the config's folder), its class, the check of its checkpointed state.
MoE-Adapters' high DDAS threshold sends every evaluated image through the adapters of the task DDAS picks, so
that the results depend on its experts, routers and autoencoders."""


@pytest.fixture(scope="module", params=list(NEW_METHODS))
def new_method(request, tmp_path_factory):
    """A config with one new method, its uninterrupted run's folder, the check of its state."""
    arguments, name, check = NEW_METHODS[request.param]
    root = tmp_path_factory.mktemp(request.param)
    path = write_config(root, [{"class_path": f"avalanche_clip.training.{name}", "init_args": arguments(root)}])
    run_command(["--config", str(path), "--output_dir", str(root / "uninterrupted")])
    return path, root / "uninterrupted", check


def test_each_new_method_killed_mid_session_resumes_to_the_uninterrupted_results(new_method, tmp_path):
    config, uninterrupted_dir, check_state = new_method
    run_dir = tmp_path / "killed"
    newest = kill_in_the_middle(config, run_dir, tmp_path / "child.log")
    files = CheckpointFiles(run_dir / "checkpoints")
    previous = torch.load(files.path(newest.number - 1), weights_only=True)
    assert previous["strategy"]["position"] is None and previous["strategy"]["experiences_completed"] == 1
    check_state(newest.state, previous)
    run_command(["--config", str(config), "--output_dir", str(run_dir), "--resume"])
    assert outputs(run_dir) == outputs(uninterrupted_dir)
    assert_same_final_model(run_dir, uninterrupted_dir)


def test_the_same_seed_and_config_give_identical_results(config, uninterrupted, tmp_path):
    run_command(["--config", str(config), "--output_dir", str(tmp_path / "again")])
    assert outputs(tmp_path / "again") == uninterrupted[:2]
    run_command(["--config", str(config), "--output_dir", str(tmp_path / "seed4"), "--seed", "4"])
    assert outputs(tmp_path / "seed4")[0] != uninterrupted[0]  # the seed does govern the run


def test_resuming_a_finished_run_changes_nothing_and_trains_nothing(config, uninterrupted, tmp_path, monkeypatch):
    run_dir = shutil.copytree(uninterrupted[2], tmp_path / "finished")
    monkeypatch.setattr("avalanche_clip.training.CLIPStrategy.training_epoch",
                        lambda *args, **kwargs: pytest.fail("a finished run was trained again"))
    run_command(["--config", str(config), "--output_dir", str(run_dir), "--resume"])
    assert outputs(run_dir) == uninterrupted[:2]


def test_a_checkpoint_of_another_configuration_is_refused(config, uninterrupted, tmp_path):
    run_dir = shutil.copytree(uninterrupted[2], tmp_path / "run")
    with pytest.raises(ValueError, match=r"another configuration \(.*training.epochs: 2 -> 1.*config.yaml"):
        run_command(["--config", str(config), "--output_dir", str(run_dir), "--resume", "--training.epochs", "1"])


def test_resume_without_a_checkpoint_starts_the_run_again(config, tmp_path, caplog):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "results.json").write_text("{}")  # what a run killed before its first checkpoint leaves
    with caplog.at_level(logging.WARNING):
        run_command(["--config", str(config), "--output_dir", str(run_dir), "--resume", "--protocol.n_sessions",
                     "1", "--training.epochs", "1", "--checkpoint.every_iterations", "null"])
    assert "No usable checkpoint" in caplog.text and "starts from the beginning" in caplog.text
    assert json.loads((run_dir / "results.json").read_text())["experiences_completed"] == 1
    assert [p.name for p in (run_dir / "checkpoints").glob("*.pt")] == ["ckpt-000001.pt"]  # after the session
    assert torch.load(run_dir / "checkpoints" / "ckpt-000001.pt", weights_only=True)["strategy"]["position"] is None


def test_a_run_of_iterations_killed_mid_session_resumes_to_the_uninterrupted_results(config, tmp_path, capsys):
    """5 steps a session (3 steps an epoch: a full epoch, then 2 steps of the next), ZSCL's schedule and smoothing.

    The checkpoint of iteration 9 is in the cut-short epoch of session 1; the child is killed in step 10.
    """
    settings = yaml.safe_load(config.read_text())
    settings["training"] = {"iterations": 5, "lr_schedule": "cosine", "warmup_iterations": 1, "label_smoothing": 0.2,
                            "batch_size": 2, "lr": 1e-3, "threads": 1}
    settings["checkpoint"] = {"every_iterations": 9}
    (tmp_path / "iterations.yaml").write_text(yaml.safe_dump(settings))
    iterations = ["--config", str(tmp_path / "iterations.yaml")]
    run_command([*iterations, "--output_dir", str(tmp_path / "uninterrupted")])

    run_dir = tmp_path / "killed"
    kill_in_the_middle(tmp_path / "iterations.yaml", run_dir, tmp_path / "child.log", stop_at_step=10,
                       position=(1, 1, 1))
    capsys.readouterr()
    run_command([*iterations, "--output_dir", str(run_dir), "--resume"])
    assert outputs(run_dir) == outputs(tmp_path / "uninterrupted")
    final = CheckpointFiles(run_dir / "checkpoints").load_latest().state
    assert final["clock"]["train_iterations"] == 10 and final["clock"]["train_exp_counter"] == 2  # 5 steps a session
    # the bar counts steps: it starts at the resumed epoch's start, 8 of 10 steps, in epoch 2 of the session's 2
    bars = re.findall(r"run +(\d+)%\|[^|]*\| [^,\r\n]*(?:, ([^\r\n\[]*))?", capsys.readouterr().err)
    assert bars[0][0] == "80" and bars[-1][0] == "100"
    assert "session 2/2, epoch 2/2" in {where.strip() for _, where in bars}
