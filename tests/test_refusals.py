"""Bad input is refused before any training, with an error that names the problem.

Configuration errors (types, names, flags, weights) are refused before the run directory is even
created; errors in the data files are refused when the data is read, before the run's first
result is written.
"""

import errno
import json
import os
import time

import pytest

from avalanche_clip import _atomic
from avalanche_clip.benchmarks import PaperData, ost_benchmark
from avalanche_clip.cli import run_command
from avalanche_clip.experiment import ModelSpec, TrainingSpec, run
from avalanche_clip.models import check_model_source
from avalanche_clip.training import VRLwFPlugin
from conftest import CLASS_NAMES
from data_files import write_json
from test_runner import small_run


def test_an_unknown_method_is_refused_by_the_parser(tmp_path):
    with pytest.raises(ValueError, match="VRLwfPlugin"):
        run_command(["--output_dir", str(tmp_path / "x"), "--plugins",
                     '[{"class_path": "avalanche_clip.training.VRLwfPlugin"}]'])
    with pytest.raises(TypeError, match=r"plugins\[0\] must be an Avalanche plugin such as VRLwFPlugin\(\), got str"):
        run(output_dir=str(tmp_path / "x"), plugins=["VR-LwF"])
    with pytest.raises(TypeError, match=r"plugins\[0\] is the class VRLwFPlugin, not an instance"):
        run(output_dir=str(tmp_path / "x"), plugins=[VRLwFPlugin])
    assert not (tmp_path / "x").exists()


def test_an_unknown_variant_is_refused(tmp_path):
    with pytest.raises(ValueError, match="model.update='both' is not valid. Available: 'whole', 'image', 'text'"):
        ModelSpec(update="both")
    with pytest.raises(ValueError, match="both"):
        run_command(["--output_dir", str(tmp_path / "x"), "--model.update", "both"])
    assert not (tmp_path / "x").exists()


def test_a_negative_alpha_is_refused_before_the_run_starts(tmp_path):
    with pytest.raises(ValueError, match="alpha must be a finite number >= 0, got -0.5"):
        VRLwFPlugin(alpha=-0.5)
    with pytest.raises(ValueError, match="alpha must be a finite number >= 0, got -0.5"):
        run_command(["--output_dir", str(tmp_path / "x"), "--plugins",
                     '[{"class_path": "avalanche_clip.training.LwFPlugin", "init_args": {"alpha": -0.5}}]'])
    assert not (tmp_path / "x").exists()


def test_a_prompt_template_without_braces_is_refused(tmp_path, paper_files):
    with pytest.raises(ValueError, match=r"exactly one '\{\}' for the class name; got \['a photo of'\]"):
        PaperData(**paper_files, templates=("a photo of",))
    with pytest.raises(ValueError, match=r"exactly one '\{\}' for the class name; got \['a photo'\]"):
        run_command(["--output_dir", str(tmp_path / "x"), "--data", json.dumps(
            {"class_path": "avalanche_clip.benchmarks.PaperData",
             "init_args": {**paper_files, "templates": ["a photo"]}})])
    with pytest.raises(ValueError, match="Unknown template set 'a photo'. Available: openai_imagenet, paper"):
        PaperData(**paper_files, templates="a photo")
    assert not (tmp_path / "x").exists()


def test_an_unknown_model_is_refused_with_the_closest_names(tmp_path):
    started = time.monotonic()
    with pytest.raises(ValueError, match="Unknown OpenCLIP model 'ViT-B-33'. Closest: ViT-B-32"):
        run(output_dir=str(tmp_path / "x"), model=ModelSpec(name="ViT-B-33"))
    with pytest.raises(ValueError, match="model.pretrained='openai' is given with model.name='world'"):
        run(output_dir=str(tmp_path / "x"), model=ModelSpec(pretrained="openai"))
    assert not (tmp_path / "x").exists() and time.monotonic() - started < 30


def test_a_pretrained_tag_not_available_offline_fails_at_once(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    started = time.monotonic()
    with pytest.raises(FileNotFoundError, match=r"weights of 'RN50' pretrained='openai' are not in the local cache "
                                                r"and HF_HUB_OFFLINE is set.*pass the file's path as pretrained"):
        run(output_dir=str(tmp_path / "x"), model=ModelSpec(name="RN50", pretrained="openai"))
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr("avalanche_clip.models.loading._reachable", lambda host, timeout=3.0: False)
    with pytest.raises(FileNotFoundError, match="huggingface.co cannot be reached"):
        check_model_source("ViT-B-32", "laion2b_s34b_b79k")
    with pytest.raises(FileNotFoundError, match="neither a file nor a pretrained tag of 'ViT-B-32'. Tags of"):
        check_model_source("ViT-B-32", "opneai")
    assert not (tmp_path / "x").exists() and time.monotonic() - started < 30

    # the same tag with its weights in the local (Hugging Face) cache is accepted, offline too
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    snapshot = tmp_path / "hub" / "models--timm--resnet50_clip.openai" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot / "open_clip_pytorch_model.bin").write_bytes(b"weights")
    (tmp_path / "hub" / "models--timm--resnet50_clip.openai" / "refs").mkdir()
    (tmp_path / "hub" / "models--timm--resnet50_clip.openai" / "refs" / "main").write_text("abc123")
    check_model_source("RN50", "openai", cache_dir=str(tmp_path / "hub"))


def write_coco_categories(paper_files, tmp_path, categories):
    """A copy of the test COCO whose train and val instances list ``categories``."""
    annotations = tmp_path / "annotations"
    source = os.path.join(paper_files["coco_root"], "annotations")
    for name in ("instances_train2014.json", "instances_val2014.json"):
        data = json.loads(open(os.path.join(source, name)).read())
        data["categories"] = categories
        write_json(annotations / name, data)
    return {**paper_files, "coco_annotations": str(annotations), "cache_dir": str(tmp_path / "cache")}


@pytest.mark.parametrize("categories, message", [
    ([], "class_names is empty"),
    ([{"id": 9, "name": "cat"}, {"id": 1, "name": "cat"}, {"id": 5, "name": "dog"}],
     r"class_names has duplicates \['cat'\]"),
])
def test_a_bad_class_list_in_the_data_is_refused_before_training(paper_files, tmp_path, categories, message):
    files = write_coco_categories(paper_files, tmp_path, categories)
    with pytest.raises(ValueError, match=message):
        small_run(files, tmp_path / "run", data=PaperData(**files))
    assert not (tmp_path / "run" / "results.json").exists()


def test_class_names_that_do_not_match_the_labels_are_refused(paper_files, generated, tmp_path):
    with pytest.raises(ValueError, match=r"labels \[9\] outside class_names, which names 9 classes"):
        ost_benchmark(*generated, CLASS_NAMES[:9])
    with pytest.raises(ValueError, match=r"names 11 classes but the train dataset has no sample of classes \[10\]"):
        ost_benchmark(*generated, [*CLASS_NAMES, "extra"])
    zeroshot = {"shapes": {**paper_files["zeroshot"]["shapes"], "class_names": ["one", "two", "three"]}}
    files = {**paper_files, "zeroshot": zeroshot}
    with pytest.raises(ValueError, match="class_names has 3 names but .* has 2 class folders"):
        small_run(files, tmp_path / "run", data=PaperData(**files))
    assert not (tmp_path / "run" / "results.json").exists()


def test_contradictory_flags_and_unwritable_directories_are_refused(paper_files, tmp_path):
    with pytest.raises(ValueError, match="resume and overwrite are both set"):
        small_run(paper_files, tmp_path / "run", resume=True, overwrite=True)
    (tmp_path / "a_file").write_text("")
    with pytest.raises(PermissionError, match="output directory .*a_file/run' cannot be written"):
        small_run(paper_files, tmp_path / "a_file" / "run")
    with pytest.raises(TypeError, match="training must be a TrainingSpec, got dict"):
        run(output_dir=str(tmp_path / "x"), training={"epochs": 1})
    with pytest.raises(ValueError, match="training.max_consecutive_nonfinite must be an integer >= 1, got 0"):
        TrainingSpec(max_consecutive_nonfinite=0)


class HalfWritten:
    """A binary file on a disk that fills up: a write stores half its data, then raises ENOSPC."""

    def __init__(self, file):
        self.file = file

    def write(self, data):
        self.file.write(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name):  # flush, fileno, close
        return getattr(self.file, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.file.close()


class FullDisk:
    """``os.fdopen`` of the atomic writer, where the disk is full from the ``fail_from``-th write of ``target`` on."""

    def __init__(self, target, fail_from):
        self.target, self.fail_from, self.writes = target, fail_from, 0
        self.fdopen = os.fdopen  # the real one: the test patches os.fdopen itself

    def __call__(self, fd, mode):
        file = self.fdopen(fd, mode)
        if f".{self.target}." not in os.readlink(f"/proc/self/fd/{fd}"):
            return file
        self.writes += 1
        return file if self.writes < self.fail_from else HalfWritten(file)


def test_a_full_disk_while_writing_results_keeps_the_previous_results_file(paper_files, tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    full_disk = FullDisk("results.json", fail_from=2)
    monkeypatch.setattr(_atomic.os, "fdopen", full_disk)
    with pytest.raises(OSError, match=r"No space left on device while writing .*results.json; the previous "
                                      r"results.json \(if any\) is unchanged") as error:
        small_run(paper_files, run_dir)
    assert error.value.errno == errno.ENOSPC and full_disk.writes == 2
    results = json.loads((run_dir / "results.json").read_text())  # the first write, whole
    assert results["experiences_completed"] == 0 and results["table"]["UT-Acc"]["test_stream"]["original"] is not None
    assert not [p.name for p in run_dir.iterdir() if p.name.endswith(".tmp")]
