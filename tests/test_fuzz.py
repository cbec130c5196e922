"""Fuzzing: malformed configs and data files are refused by the library's own checks.

A malformed input may be accepted (when it happens to be valid) or refused; when refused, the
error must be the parser's (``SystemExit`` with a message) or a ``ValueError`` / ``TypeError`` /
``OSError`` (``FileNotFoundError``, ``UnreadableImageError``) raised by a ``raise`` statement of
avalanche_clip, never an exception from deep inside a dependency or a builtin (a ``KeyError``, an
``IndexError``, a ``TypeError`` of ``sorted``...). ``AVALANCHE_CLIP_FUZZ_EXAMPLES=2000`` fuzzes
harder than CI's default.
"""

import json
import os
import tempfile
import traceback
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from avalanche_clip.benchmarks.datasets import (
    COCOCrops,
    KarpathyRetrieval,
    ZeroShotImages,
    resolve_templates,
    zeroshot_dataset,
)
from avalanche_clip.cli import parse_run_arguments, run_parser
from avalanche_clip.experiment import check_run_arguments
from data_files import TRAIN_ANNOTATIONS, coco_file_name, instances, karpathy_coco, write_image

LIBRARY = str(Path(__file__).resolve().parents[1] / "avalanche_clip")
FUZZ = settings(max_examples=int(os.environ.get("AVALANCHE_CLIP_FUZZ_EXAMPLES", 50)), deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def refused_clearly(call) -> str:
    """Run ``call``; return "accepted", "parser" or "refused"; fail on an unclear error."""
    try:
        call()
    except SystemExit as error:
        assert error.code not in (0, None), "the parser exited with success on a bad input"
        return "parser"
    except (ValueError, TypeError, OSError) as error:
        frame = traceback.extract_tb(error.__traceback__)[-1]
        assert frame.filename.startswith(LIBRARY) and frame.line.lstrip().startswith("raise"), (
            f"{type(error).__name__} raised at {frame.filename}:{frame.lineno} ({frame.line!r}): {error}")
        assert str(error), "an error without a message"
        return "refused"
    return "accepted"


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 10**6) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=12,
)


def mutated(value, data, depth=0):
    """``value`` (a JSON document) with one random part replaced, deleted or kept."""
    if isinstance(value, dict) and value and depth < 5:
        key = data.draw(st.sampled_from(sorted(value)))
        action = data.draw(st.sampled_from(["replace", "delete", "descend"]))
        copy = dict(value)
        if action == "delete":
            del copy[key]
        elif action == "replace":
            copy[key] = data.draw(JSON)
        else:
            copy[key] = mutated(value[key], data, depth + 1)
        return copy
    if isinstance(value, list) and value and depth < 5:
        index = data.draw(st.integers(0, len(value) - 1))
        copy = list(value)
        copy[index] = data.draw(JSON) if data.draw(st.booleans()) else mutated(value[index], data, depth + 1)
        return copy
    return data.draw(JSON) if data.draw(st.booleans()) else value


# ------------------------------------------------------------------------------ configs

OPTIONS = ["--seed", "--output_dir", "--model.name", "--model.update", "--model.train_mask", "--model.pretrained",
           "--protocol.name", "--protocol.n_sessions", "--protocol.class_order", "--training.epochs",
           "--training.lr", "--training.batch_size", "--training.precision", "--training.grad_clip_norm",
           "--training.num_workers", "--training.threads", "--training.lr_milestones",
           "--training.max_consecutive_nonfinite", "--evaluation.zeroshot_top_k", "--evaluation.batch_size",
           "--checkpoint.every_iterations", "--checkpoint.keep", "--plugins", "--plugins.alpha", "--data",
           "--data.train_per_class", "--resume", "--overwrite", "--config"]
VALUES = st.one_of(
    st.integers(-3, 3).map(str), st.floats(allow_nan=True, allow_infinity=True).map(str), st.text(max_size=12),
    st.sampled_from(["", "null", "[]", "[1, -2]", "[1, 1]", "{}", "true", "both", "mst", "ViT-B-32", "nan", "-1e-3",
                     '{"class_path": "avalanche_clip.training.LwFPlugin", "init_args": {"alpha": -1}}',
                     '[{"class_path": "avalanche_clip.training.NoPlugin"}]', '{"class_path": "os.system"}',
                     '{"class_path": "avalanche_clip.benchmarks.PaperData"}', "/nonexistent.yaml"]),
    JSON.map(json.dumps),
)


@pytest.fixture(scope="module")
def parser():
    return run_parser()


def parse_and_check(parser, args, monkeypatch):
    monkeypatch.setattr("avalanche_clip.models.loading._reachable", lambda host, timeout=3.0: False)
    arguments, _ = parse_run_arguments(parser, args)
    arguments.pop("verbose", None)  # a console choice, not part of the run
    check_run_arguments(**{**arguments, "plugins": arguments.get("plugins") or []})


@FUZZ
@given(args=st.lists(st.tuples(st.sampled_from(OPTIONS), VALUES), max_size=4))
def test_malformed_command_lines_are_refused_clearly(parser, args, monkeypatch, capsys):
    flat = [part for option, value in args for part in ((option,) if option in ("--resume", "--overwrite")
                                                         else (option, value))]
    refused_clearly(lambda: parse_and_check(parser, flat, monkeypatch))
    capsys.readouterr()  # the parser's usage messages


@FUZZ
@given(document=st.one_of(JSON, st.text(max_size=40)), as_text=st.booleans())
def test_malformed_config_files_are_refused_clearly(parser, document, as_text, monkeypatch, capsys, tmp_path):
    path = Path(tempfile.mkdtemp(dir=tmp_path)) / "config.yaml"
    path.write_text(document if as_text and isinstance(document, str) else yaml.safe_dump(document))
    refused_clearly(lambda: parse_and_check(parser, ["--config", str(path)], monkeypatch))
    capsys.readouterr()


# -------------------------------------------------------------------------- data files


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """A COCO root with the train images of data_files, and a folder of two images."""
    root = tmp_path_factory.mktemp("fuzz")
    for image_id in sorted({a[1] for a in TRAIN_ANNOTATIONS}):
        write_image(root / "train2014" / coco_file_name("train", image_id))
    for name in ("a.jpg", "b.jpg"):
        write_image(root / "list" / name, size=(8, 8))
    return root


def new_file(tmp_path, name, content) -> Path:
    path = Path(tempfile.mkdtemp(dir=tmp_path)) / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


@FUZZ
@given(data=st.data())
def test_malformed_coco_instances_are_refused_clearly(images, data, tmp_path):
    document = mutated(instances("train", TRAIN_ANNOTATIONS), data)
    path = new_file(tmp_path, "instances_train2014.json", document)
    refused_clearly(lambda: COCOCrops(images, path, "train", cache_dir=path.parent / "cache"))


@FUZZ
@given(data=st.data())
def test_malformed_karpathy_files_are_refused_clearly(images, data, tmp_path):
    document = mutated(karpathy_coco(), data)
    path = new_file(tmp_path, "dataset_coco.json", document)
    refused_clearly(lambda: KarpathyRetrieval(images, path, "train"))


ZEROSHOT_LIST = {"image_names": ["a.jpg", "b.jpg"], "image_labels": [1, 0], "label_names": ["apple", "pear"]}


@FUZZ
@given(data=st.data())
def test_malformed_zeroshot_lists_and_specs_are_refused_clearly(images, data, tmp_path):
    path = new_file(tmp_path, "list.json", mutated(ZEROSHOT_LIST, data))
    refused_clearly(lambda: ZeroShotImages.from_json(path, images_root=images / "list"))
    spec = mutated({"kind": "json", "path": str(path), "images_root": str(images / "list")}, data)
    refused_clearly(lambda: zeroshot_dataset(spec))


@FUZZ
@given(document=st.one_of(JSON, st.text(max_size=30)), as_set_file=st.booleans())
def test_malformed_templates_are_refused_clearly(document, as_set_file, tmp_path):
    if as_set_file:
        path = new_file(tmp_path, "set.json", {"templates": document})
        refused_clearly(lambda: resolve_templates(str(path)))
    else:
        refused_clearly(lambda: resolve_templates(document))


@FUZZ
@given(content=st.binary(max_size=64), on_error=st.sampled_from(["skip", "raise"]))
def test_undecodable_images_are_refused_clearly(content, on_error, tmp_path):
    path = Path(tempfile.mkdtemp(dir=tmp_path)) / "image.jpg"
    path.write_bytes(content)
    dataset = ZeroShotImages(image_paths=[path], labels=[0], classes=["thing"], on_error=on_error)
    assert refused_clearly(lambda: dataset[0]) == "refused"


def test_the_checker_flags_an_error_from_deep_inside():
    with pytest.raises(AssertionError, match="KeyError|raised at"):
        refused_clearly(lambda: sorted([1, "a"]))
    assert refused_clearly(lambda: resolve_templates("no-such-set")) == "refused"
