"""What the benchmarks share: arguments, models, OST-like data, interleaved timing, peak memory, results.

Timing. A machine's speed drifts (this project's 2-core CPU swings 2-3x between runs and within
one), so a benchmark compares its configurations in ONE process, interleaved: each configuration
runs its own training loop in its own thread, but a baton lets only one thread run at a time,
round robin, one step per turn, the order rotating every round. Drift then hits every
configuration alike. The first ``--warmup`` steps of each are dropped (the first includes the
session start: teacher snapshot, optimizer state, cached teacher prompts); the figures are medians
over the ``--repeats`` steps that follow, and a ratio is the median over rounds of the ratio of
the two steps measured in the same round. A step is timed from the moment its thread gets the
baton to the end of its ``after_training_iteration``: fetching the batch, every callback, forward,
losses, backward, clipping and the optimizer step. On CUDA the clock is read after a synchronize.

Peak memory (CPU). The kernel keeps the high-water mark of a process's resident set (``VmHWM`` in
``/proc/self/status``); writing ``5`` to ``/proc/self/clear_refs`` resets it to the current
resident set. A probe resets it after the warm-up steps and reads it after the measured steps:
the exact peak RSS during those steps, with no sampling to miss a short peak. It includes
everything resident then: the Python runtime, the model, gradients, the optimizer state, the
teacher and the step's activations. Each configuration is probed in a fresh subprocess, so
nothing of another configuration is resident. On CUDA: ``torch.cuda.reset_peak_memory_stats`` and
``torch.cuda.max_memory_allocated`` (tensors only, the allocator's cache excluded).
"""

from __future__ import annotations

import argparse
import copy
import ctypes
import ctypes.util
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Sequence

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout: `python bench/<name>.py`
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from avalanche.core import SupervisedPlugin  # noqa: E402
from avalanche.evaluation.metrics import accuracy_metrics, loss_metrics  # noqa: E402
from avalanche.training.plugins import EvaluationPlugin  # noqa: E402
from torch.utils.data import Dataset  # noqa: E402

from avalanche_clip.benchmarks import ost_benchmark  # noqa: E402
from avalanche_clip.models import CLIPClassifier  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
_M_ARENA_MAX = -8  # glibc's mallopt parameter

COCO_CLASSES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard",
    "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
)
"""The 80 COCO categories: the class names of the paper's update task (OST prompts ~15 tokens)."""

WORLD = "world"
"""``--model world``: the embedded world's CLIP architecture (random weights; speed does not depend on them)."""


# ------------------------------------------------------------------------- arguments


def base_parser(description: str, *, batch: int = 32) -> argparse.ArgumentParser:
    """The options every benchmark takes; sizes are options so a GPU user can run bigger."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=WORLD,
                        help="'world' (the embedded world's CLIP), 'tiny-clip', or an OpenCLIP name such as ViT-B-32 "
                             "(random weights)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    parser.add_argument("--precision", default="fp32", choices=["auto", "fp32", "bf16", "fp16"])
    parser.add_argument("--batch", type=int, default=batch, help="training batch size")
    parser.add_argument("--classes", type=int, default=None,
                        help="classes of the OST task (default: 80 COCO names; 16 for the world)")
    parser.add_argument("--warmup", type=int, default=2, help="steps dropped before measuring")
    parser.add_argument("--repeats", type=int, default=5, help="measured steps (medians over these)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=None, help="JSON results file (default: bench/results/...)")
    return parser


def setup(args: argparse.Namespace) -> torch.device:
    """Threads and seed of the run; the device."""
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    return torch.device(args.device)


def arguments(args: argparse.Namespace) -> dict[str, Any]:
    """The run's arguments, JSON-ready."""
    return {name: str(value) if isinstance(value, Path) else value for name, value in vars(args).items()}


def default_output(name: str, args: argparse.Namespace) -> Path:
    """``bench/results/<name>-<model>-<device type>.json`` unless ``--output`` says otherwise."""
    if args.output is not None:
        return args.output
    return RESULTS / f"{name}-{args.model.replace('/', '-')}-{torch.device(args.device).type}.json"


# ---------------------------------------------------------------------- model and data


def build_model(name: str, *, update: str = "whole", device: torch.device) -> CLIPClassifier:
    """A randomly initialised CLIP classifier: the world's architecture or any OpenCLIP model."""
    if name != WORLD:
        return CLIPClassifier.from_pretrained(name, update=update, device=device)
    from avalanche_clip.benchmarks import world

    return world.world_classifier(world.build_world_clip().to(device), update=update)


def class_names(model: str, count: int | None) -> list[str]:
    """``count`` class names: the world's categories for the world model, else the COCO names."""
    if model == WORLD:
        from avalanche_clip.benchmarks import world

        names = list(world.UPDATE_CATEGORIES) if count is None else list(world.CATEGORIES)
    else:
        names = list(COCO_CLASSES)
    count = len(names) if count is None else count
    if count > len(names):
        names += [f"object number {i}" for i in range(len(names), count)]
    return names[:count]


class RandomImages(Dataset):
    """Seeded random images ``[3, S, S]`` with labels cycling over the classes (every class present)."""

    def __init__(self, count: int, *, num_classes: int, image_size: int, seed: int):
        generator = torch.Generator().manual_seed(seed)
        self.images = torch.randn(count, 3, image_size, image_size, generator=generator)
        order = torch.randperm(count, generator=generator)
        self.targets = [int(i) % num_classes for i in order]

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int):
        return self.images[index], self.targets[index]


def training_images(model: CLIPClassifier, names: Sequence[str], *, batch: int, steps: int,
                    seed: int) -> RandomImages:
    """Random training images for ``steps`` batches of ``batch``, at least one per class.

    With more classes than ``steps`` batches hold (the benchmark checks coverage), train with
    :class:`StopAfter`.
    """
    return RandomImages(max(batch * steps, len(names)), num_classes=len(names), image_size=model.image_size,
                        seed=seed)


def ost_experience(train: RandomImages, names: Sequence[str], *, seed: int):
    """The training experience of an OST benchmark over ``train``."""
    test = RandomImages(len(names), num_classes=len(names), image_size=train.images.shape[-1], seed=seed + 1)
    return ost_benchmark(train, test, names).train_stream[0]


def quiet_evaluator() -> EvaluationPlugin:
    """The per-iteration and per-epoch loss and accuracy of a run, logged nowhere (one per strategy)."""
    return EvaluationPlugin(accuracy_metrics(minibatch=True, epoch=True), loss_metrics(minibatch=True, epoch=True),
                            loggers=[])


# ------------------------------------------------------------------ interleaved timing


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA), so the clock measures it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Interleaved:
    """Run several training loops in turn, one step each, and time every step.

    ``loops`` maps a name to ``loop(tick)``: a function that trains and calls ``tick()`` after
    each step. Every loop runs in its own thread; only the thread holding the baton runs.
    ``tick`` records the step's time and hands the baton to the next loop; the order rotates by
    one every round. Setup before the first step and teardown after the last run with the
    baton too, untimed (the first step's time includes the setup: drop it as warm-up).

    On Linux the threads share one malloc arena (see :func:`one_malloc_arena`): glibc would give
    each thread its own, each keeping a whole step's freed activations (18 GiB for six ViT-B-32
    loops instead of ~7).

    Args:
        loops: name -> loop.
        device: where the loops compute (synchronized before each clock read).
        threads: torch CPU threads of every loop thread (None: the process's setting).
    """

    def __init__(self, loops: dict[str, Callable[[Callable[[], None]], None]], *, device: torch.device,
                 threads: int | None = None):
        self.loops = dict(loops)
        self.device = device
        self.threads = threads if threads is not None else torch.get_num_threads()
        self.times: dict[str, list[float]] = {name: [] for name in self.loops}
        self._order = list(self.loops)  # this round's order
        self._queue = list(self._order)  # who still runs in this round; the first holds the baton
        self._errors: dict[str, BaseException] = {}
        self._condition = threading.Condition()
        self._started = 0.0

    def _wait(self, name: str) -> None:
        with self._condition:
            self._condition.wait_for(lambda: self._queue and self._queue[0] == name)
        self._started = time.perf_counter()

    def _pass(self, name: str, *, finished: bool = False) -> None:
        with self._condition:
            self._queue.remove(name)
            if finished:
                self._order.remove(name)
            if not self._queue and self._order:  # next round, the order rotated by one
                self._order = self._order[1:] + self._order[:1]
                self._queue = list(self._order)
            self._condition.notify_all()

    def _run(self, name: str) -> None:
        torch.set_num_threads(self.threads)
        self._wait(name)

        def tick() -> None:
            synchronize(self.device)
            self.times[name].append(time.perf_counter() - self._started)
            self._pass(name)
            self._wait(name)

        try:
            self.loops[name](tick)
        except BaseException as error:  # re-raised in run()
            self._errors[name] = error
        finally:
            self._pass(name, finished=True)

    def run(self) -> dict[str, list[float]]:
        """Run every loop to its end; the step times of each, in order."""
        one_malloc_arena()
        threads = [threading.Thread(target=self._run, args=(name,), name=f"bench-{name}") for name in self.loops]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if self._errors:
            name, error = next(iter(self._errors.items()))
            raise RuntimeError(f"Loop {name!r} failed: {error!r}") from error
        return self.times


def one_malloc_arena() -> None:
    """Make threads started from now on allocate from the main malloc arena (glibc; elsewhere a no-op).

    Only one benchmark thread runs at a time, so sharing costs nothing, and memory one loop frees
    is reused by the next instead of staying resident in a per-thread arena.
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        if hasattr(libc, "mallopt"):
            libc.mallopt(_M_ARENA_MAX, 1)


class Tick(SupervisedPlugin):
    """Calls ``tick()`` at the end of every training iteration (the baton of :class:`Interleaved`)."""

    def __init__(self, tick: Callable[[], None]):
        super().__init__()
        self.tick = tick

    def after_training_iteration(self, strategy, **kwargs):
        self.tick()


class StopAfter(SupervisedPlugin):
    """Ends training after ``steps`` iterations (counted here: the strategy's clock ticks after the plugins)."""

    def __init__(self, steps: int):
        super().__init__()
        self.steps = steps
        self.done = 0

    def after_training_iteration(self, strategy, **kwargs):
        self.done += 1
        if self.done >= self.steps:
            strategy.stop_training()


def strategy_loop(make_strategy: Callable[[list], Any], experience: Any, steps: int, **loader: Any):
    """A loop for :class:`Interleaved`: build the strategy with :class:`Tick` and :class:`StopAfter`, train."""

    def loop(tick: Callable[[], None]) -> None:
        make_strategy([Tick(tick), StopAfter(steps)]).train(experience, **loader)

    return loop


def summarize(times: dict[str, list[float]], *, warmup: int, reference: str) -> dict[str, dict[str, float]]:
    """Median step time of each loop after ``warmup``, and the median per-round ratio to ``reference``."""
    kept = {name: samples[warmup:] for name, samples in times.items()}
    if not kept[reference]:
        raise ValueError(f"No measured step after {warmup} warm-up steps: raise --repeats.")
    summary = {}
    for name, samples in kept.items():
        ratios = [a / b for a, b in zip(samples, kept[reference])]
        summary[name] = {"median_s": statistics.median(samples), "min_s": min(samples), "max_s": max(samples),
                         "ratio": statistics.median(ratios), "steps": len(samples)}
    return summary


# ----------------------------------------------------------------------- peak memory


def _status_kib(field: str) -> int:
    text = Path("/proc/self/status").read_text()
    return int(re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE).group(1))


def reset_peak_memory(device: torch.device) -> None:
    """Start a new peak: the process's resident-set high-water mark (CPU) or CUDA's peak allocation."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    else:
        Path("/proc/self/clear_refs").write_text("5")


def peak_memory_mib(device: torch.device) -> float:
    """The peak since :func:`reset_peak_memory`, in MiB."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) / 2**20
    return _status_kib("VmHWM") / 1024


def current_memory_mib(device: torch.device) -> float:
    """Resident memory now (CPU) or CUDA memory allocated now, in MiB."""
    if device.type == "cuda":
        return torch.cuda.memory_allocated(device) / 2**20
    return _status_kib("VmRSS") / 1024


class PeakMemory(SupervisedPlugin):
    """Resets the peak after ``warmup`` iterations and reads it at the end of every later one."""

    def __init__(self, device: torch.device, *, warmup: int):
        super().__init__()
        self.device = device
        self.warmup = warmup
        self.before_mib: float | None = None
        self.peaks_mib: list[float] = []
        self.done = 0

    def after_training_iteration(self, strategy, **kwargs):
        self.done += 1
        iteration = self.done
        if iteration == self.warmup:
            self.before_mib = current_memory_mib(self.device)
            reset_peak_memory(self.device)
        elif iteration > self.warmup:
            self.peaks_mib.append(peak_memory_mib(self.device))


def run_probe(script: Path, arguments: Sequence[str]) -> dict:
    """Run ``script`` in a fresh Python process; its last stdout line is a JSON object, returned."""
    completed = subprocess.run([sys.executable, str(script), *arguments], capture_output=True, text=True,
                               env=os.environ | {"PYTHONWARNINGS": "ignore"})
    if completed.returncode != 0:
        raise RuntimeError(f"Probe {' '.join(arguments)} failed:\n{completed.stderr[-4000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- results


def machine(device: torch.device) -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.MULTILINE)
        cpu = found.group(1) if found else cpu
    info = {"cpu": cpu, "cpu_cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "python": platform.python_version(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S")}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def write_results(path: Path, payload: dict) -> None:
    """Write ``payload`` as JSON atomically (temporary file, then ``os.replace``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(payload, indent=2) + "\n")
    os.replace(temporary, path)
    print(f"\nwrote {path}")


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print a plain-text table (the benchmark's output, beside the JSON)."""
    cells = [list(map(str, header))] + [[f"{c:.3f}" if isinstance(c, float) else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    print(f"\n{title}")
    for index, row in enumerate(cells):
        print("  ".join(cell.rjust(width) for cell, width in zip(row, widths)))
        if index == 0:
            print("  ".join("-" * width for width in widths))


def clone(model: CLIPClassifier) -> CLIPClassifier:
    """An independent copy of ``model`` (same weights, same vocabulary state)."""
    return copy.deepcopy(model)


__all__ = [
    "COCO_CLASSES", "Interleaved", "PeakMemory", "RandomImages", "StopAfter", "Tick", "WORLD", "arguments",
    "base_parser", "build_model", "class_names", "clone", "current_memory_mib", "default_output", "machine",
    "one_malloc_arena",
    "ost_experience", "peak_memory_mib", "print_table", "quiet_evaluator", "reset_peak_memory", "run_probe", "setup",
    "strategy_loop", "summarize", "synchronize", "training_images", "write_results",
]
