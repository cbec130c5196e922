"""Small runs of the protocol for test_distributed.py: generated data and the tiny CLIP, world tasks and the world CLIP.

Launched by torchrun, every process runs :func:`main`; the test also calls it in its own
process to get the single-process reference. Each process writes what the run directory does
not hold: per session a digest of its model's parameters, per step a digest of VR-LwF's
pseudo-sentence generator, and (rank 0) the final parameters.

    torchrun --standalone --nproc_per_node=2 tests/distributed_run.py OUT_DIR --batch_size 5
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from avalanche.core import SupervisedPlugin

sys.path.insert(0, str(Path(__file__).resolve().parent))  # conftest's generated sets
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout of avalanche_clip

from avalanche_clip.benchmarks import ExperimentData, MTILData, MTILSource, MTILTask  # noqa: E402
from avalanche_clip.benchmarks.world.concepts import COLOURS, UPDATE_CATEGORIES  # noqa: E402
from avalanche_clip.benchmarks.world.image_sets import WorldObjects  # noqa: E402
from avalanche_clip.benchmarks.world.prompt_templates import COLOUR_TEMPLATES, UPDATE_TEMPLATES  # noqa: E402
from avalanche_clip.benchmarks.world.scene_transforms import world_eval_transform  # noqa: E402
from avalanche_clip.experiment import EvaluationSpec, ModelSpec, ProtocolSpec, TrainingSpec, run  # noqa: E402
from avalanche_clip.training import IMMPlugin, LwFPlugin, RKRPlugin, VRLwFPlugin, ZSCLPlugin  # noqa: E402
from conftest import (  # noqa: E402
    CLASS_NAMES,
    ZEROSHOT_CLASSES,
    ZEROSHOT_TEMPLATES,
    GeneratedImages,
    GeneratedRetrieval,
    GeneratedZeroShot,
)


@dataclass(frozen=True)
class GeneratedData:
    """The conftest's generated sets as a run's data source.

    Each MST session trains on 30 images (an even number, so two processes hold 15 each and no
    training sample is repeated); the evaluation sets have odd sizes (15 test images per session,
    25 zero-shot images, 13 retrieval images with 65 captions), so their shards are padded.
    """

    def build(self, model) -> ExperimentData:
        return ExperimentData(
            train=GeneratedImages(10, 6, seed=1), test=GeneratedImages(10, 3, seed=2),
            class_names=tuple(CLASS_NAMES), templates=("a photo of a {} .", "a {} ."),
            zeroshot={"colours": GeneratedZeroShot(ZEROSHOT_CLASSES, 5, templates=ZEROSHOT_TEMPLATES, seed=3)},
            retrieval={"captions": GeneratedRetrieval(13, 5, seed=4)},
        )


@dataclass(frozen=True)
class WorldTasks(MTILSource):
    """Two MTIL tasks of world images, each with its own classes and templates, for the world's CLIP.

    "crops": 3 update categories as crops, 12 training images (batches of 10 and 2, or 5 and 1 per
    process), 9 test images; "colours": 5 colours, 10 training images, 15 test images. Even
    training sets, odd test sets (their shards are padded). Training images get the evaluation
    transform: the world's training transform shifts at random, drawn from each process's global
    generator, which two processes do not share with one. No zero-shot or retrieval sets: the
    ``vrlwf`` run covers those.
    """

    def build(self, model) -> MTILData:
        crops = dict(classes=UPDATE_CATEGORIES[:3], view="crop", distractors=UPDATE_CATEGORIES)
        colours = dict(classes=tuple(COLOURS)[:5], label="colour")
        tasks = (world_task("crops", crops, UPDATE_TEMPLATES, train=4, test=3, stream=40),
                 world_task("colours", colours, COLOUR_TEMPLATES, train=2, test=3, stream=42))
        transform = world_eval_transform()
        return MTILData(tasks=tasks, train_transform=transform, eval_transform=transform)


def world_task(name: str, spec: dict, templates: tuple[str, ...], *, train: int, test: int, stream: int) -> MTILTask:
    """An MTIL task of ``WorldObjects(**spec)``: ``train`` and ``test`` images per class, on streams ``stream``, +1."""
    train_set, test_set = (WorldObjects(per_class=count, seed=0, stream=stream + offset, **spec)
                           for offset, count in enumerate((train, test)))
    return MTILTask(name, train_set, test_set, tuple(spec["classes"]), templates)


def digest(tensors) -> str:
    """SHA-256 of the tensors' bytes, in order."""
    hasher = hashlib.sha256()
    for tensor in tensors:
        hasher.update(tensor.detach().cpu().reshape(-1).contiguous().view(torch.uint8).numpy().tobytes())
    return hasher.hexdigest()


class Recorder(SupervisedPlugin, supports_distributed=True):
    """Digests of the model after every session and of VR-LwF's generator after every step."""

    label = "Rec"

    def __init__(self, vr_lwf: VRLwFPlugin | None):
        super().__init__()
        self.vr_lwf = vr_lwf
        self.sessions: list[str] = []
        self.steps: list[str] = []
        self.state: dict[str, torch.Tensor] = {}
        self.iterations = 0

    def after_training_iteration(self, strategy, **kwargs):
        self.iterations += 1
        if self.vr_lwf is not None:
            self.steps.append(digest([self.vr_lwf.generator.get_state()]))

    def after_training_exp(self, strategy, **kwargs):  # after the IMM merge: plugins run in list order
        self.state = {n: t.detach().cpu().clone() for n, t in strategy.model.state_dict().items()
                      if isinstance(t, torch.Tensor)}
        self.sessions.append(digest(self.state.values()))


SCENARIOS = ("vrlwf", "rkr", "mtil")
"""``vrlwf``: MST, WM, VR-LwF + mean-IMM, 1 epoch. ``rkr``: OST, TO, RKR + LwF + mode-IMM, 8 iterations
(at batch size 5 on each of two processes, an epoch is 6 steps: one, then 2 steps of the next); both
the tiny CLIP. ``mtil``: MTIL, WM, ZSCL, the world's CLIP (the random tiny CLIP scores every image
alike: chance accuracy).

ZSCL runs with ``text_weight=0``: its image→text term is a mean over the reference images, so
processes distilling on slices 0..4 and 5..9 of one draw take the single process's step on 0..9;
its text→image term is a softmax over each process's own slice, which two processes of 5 images
do not share with one process of 10.
"""


def scenario_setup(scenario: str) -> tuple[list, ModelSpec, ProtocolSpec, object]:
    """``(plugins, model, protocol, data)`` of ``scenario``."""
    if scenario == "vrlwf":
        plugins = [VRLwFPlugin(num_pseudo=6, pseudo_length=5, seed=7), IMMPlugin()]
        return plugins, ModelSpec(name="tiny-clip"), ProtocolSpec(name="mst", n_sessions=2), GeneratedData()
    if scenario == "rkr":
        plugins = [RKRPlugin(), LwFPlugin(), IMMPlugin(mode="mode")]
        return plugins, ModelSpec(name="tiny-clip", update="text"), ProtocolSpec(name="ost"), GeneratedData()
    zscl = ZSCLPlugin(text_weight=0.0, we_every=1, max_reference_images=16)
    return [zscl], ModelSpec(name="world"), ProtocolSpec(name="mtil"), WorldTasks()


def run_scenario(output_dir: Path, scenario: str, batch_size: int) -> None:
    """One run into ``output_dir/run``; writes ``output_dir/rank<r>.json`` and (rank 0) ``rank0_state.pt``."""
    plugins, model, protocol, data = scenario_setup(scenario)
    recorder = Recorder(next((p for p in plugins if isinstance(p, VRLwFPlugin)), None))
    iterations = 8 if scenario == "rkr" else None
    results = run(
        output_dir=str(output_dir / "run"), seed=3, model=model,
        data=data, protocol=protocol, plugins=[*plugins, recorder],
        training=TrainingSpec(epochs=1, iterations=iterations, batch_size=batch_size, lr=1e-3, threads=1),
        evaluation=EvaluationSpec(batch_size=4, tensorboard=True),
    )
    rank = int(os.environ.get("RANK", 0))  # the process group is closed when run returns
    record = {"sessions": recorder.sessions, "steps": recorder.steps, "iterations": recorder.iterations,
              "results": results}
    (output_dir / f"rank{rank}.json").write_text(json.dumps(record))
    if rank == 0:
        torch.save(recorder.state, output_dir / "rank0_state.pt")


def main(output_dir: str, *, batch_size: int, scenarios: tuple[str, ...] = SCENARIOS) -> None:
    """Run each scenario into ``output_dir/<scenario>``."""
    for scenario in scenarios:
        run_scenario(Path(output_dir) / scenario, scenario, batch_size)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output_dir")
    parser.add_argument("--batch_size", type=int, required=True)
    parser.add_argument("--scenarios", nargs="+", choices=SCENARIOS, default=SCENARIOS)
    args = parser.parse_args()
    main(args.output_dir, batch_size=args.batch_size, scenarios=tuple(args.scenarios))
