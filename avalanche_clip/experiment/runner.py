"""One run of the protocol, end to end: model, data, benchmark, methods, evaluation, files.

``run`` is what ``examples/*.py`` and ``avalanche-clip run`` call; its signature is the CLI.
A run directory receives ``run.json``, ``config.yaml`` (from the CLI), ``metrics.csv``,
``results.json``, ``log.txt``, TensorBoard events under ``tb/``, the report (tables and plots)
under ``report/`` and the newest checkpoints under ``checkpoints/``.

Launched with ``torchrun`` (``torchrun --nproc_per_node=N examples/mst_vrlwf.py ...``), every
process runs ``run``: each trains the student in DDP on its shard of the data and encodes its
shard of every evaluation set, and only the main process (rank 0) writes the run directory
(checkpoints included; they hold every process's RNG state).
"""

from __future__ import annotations

import logging
import random
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from avalanche.core import SupervisedPlugin
from avalanche.distributed import DistributedHelper
from avalanche.evaluation.metrics import accuracy_metrics, forgetting_metrics, loss_metrics
from avalanche.logging import TensorboardLogger, TextLogger
from avalanche.training.plugins import EvaluationPlugin, LRSchedulerPlugin
from tqdm.contrib.logging import logging_redirect_tqdm

from .._atomic import atomic_write_text
from ..benchmarks import ExperimentData, MTILData, MTILSource, PaperData, mst_benchmark, ost_benchmark
from ..benchmarks.world import WorldData
from ..checkpointing import CheckpointFiles, LoadedCheckpoint, RunCheckpointing, check_state_format
from ..checkpointing import experiences_completed as completed_in
from ..distributed import call_on_main, init_distributed, main_process_first
from ..evaluation import retrieval_metrics, skipped_steps_metrics, zeroshot_metrics
from ..models import CLIPClassifier, tower_parameters
from ..results import (CHECKPOINTS_DIR, ResultsLogger, RunInfo, clear_run_outputs, prepare_run_dir, read_results,
                       run_table, write_report)
from ..training import CLIPStrategy, MethodPlugin, SmoothedCrossEntropy, TaskLearningRates, WarmupCosineLR
from ..training.avalanche_plugins import RunPlugin
from ..training.sampling import derive_seed
from .mtil_protocol import MTIL, mtil_streams, report_protocol, task_metrics
from .progress import console_loggers
from .specs import CheckpointSpec, EvaluationSpec, ModelSpec, ProtocolSpec, TrainingSpec
from .validation import WORLD_MODEL, check_run_arguments

logger = logging.getLogger(__name__)


def method_label(plugins: list[SupervisedPlugin], protocol: ProtocolSpec) -> str:
    """The report's row label: the methods' labels joined by ``+``; ``FT`` / ``Joint-FT`` with none."""
    labels = [p.label if isinstance(p, MethodPlugin) else type(p).__name__.removesuffix("Plugin") for p in plugins]
    if protocol.name == "joint":
        return "+".join(["Joint-FT", *labels])
    return "+".join(labels) or "FT"


def build_model(spec: ModelSpec, device: torch.device) -> CLIPClassifier:
    """The world's pretrained CLIP, or any OpenCLIP model, its logit scale frozen if the spec says so."""
    if spec.name == WORLD_MODEL:
        from ..benchmarks import world

        model = world.load_model(update=spec.update, train_mask=spec.train_mask, device=device)
    else:
        model = CLIPClassifier.from_pretrained(spec.name, spec.pretrained, update=spec.update,
                                               train_mask=spec.train_mask, device=device)
    if not spec.train_logit_scale:
        for param in tower_parameters(model.clip, "scale"):
            param.requires_grad_(False)
    return model


def build_benchmark(data: ExperimentData | MTILData, protocol: ProtocolSpec):
    """``(train_stream, test_stream)`` of the protocol; Joint-FT is tested per MST session."""
    if protocol.name == MTIL:
        return mtil_streams(data, protocol)
    common = dict(train_transform=data.train_transform, eval_transform=data.eval_transform,
                  templates=data.templates)
    if protocol.name == "ost":
        one = ost_benchmark(data.train, data.test, data.class_names, **common)
        return one.train_stream, one.test_stream
    sessions = mst_benchmark(data.train, data.test, data.class_names, protocol.n_sessions,
                             protocol.class_order, **common)
    if protocol.name == "mst":
        return sessions.train_stream, sessions.test_stream
    return ost_benchmark(data.train, data.test, data.class_names, **common).train_stream, sessions.test_stream


def build_evaluator(data: ExperimentData | MTILData, spec: EvaluationSpec, loggers: list, *, num_workers: int = 0,
                    pin_memory: bool = False) -> EvaluationPlugin:
    """Avalanche's accuracy, loss and forgetting beside zero-shot, retrieval, UT (MTIL) and skipped-steps metrics.

    ``num_workers`` and ``pin_memory`` configure the image loaders of the zero-shot and
    retrieval sets (``TrainingSpec`` gives the same to training and the test stream).
    """
    loader = dict(batch_size=spec.batch_size, num_workers=num_workers, pin_memory=pin_memory)
    return EvaluationPlugin(
        accuracy_metrics(experience=True, stream=True),
        loss_metrics(epoch=True, experience=True),
        forgetting_metrics(experience=True),
        zeroshot_metrics(data.zeroshot, top_k=spec.zeroshot_top_k, **loader),
        retrieval_metrics(data.retrieval, ks=spec.retrieval_ks, folds=data.retrieval_folds, **loader),
        *task_metrics(data),
        skipped_steps_metrics(),
        loggers=loggers,
    )


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch: a run is an application, and its seed governs every draw."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def seed_plugins(plugins: list[SupervisedPlugin], seed: int) -> None:
    """Give each method plugin left without a seed (``seed=None``) one derived from the run's (``set_seed``)."""
    for index, plugin in enumerate(plugins):
        if isinstance(plugin, MethodPlugin) and plugin.seed is None:
            plugin.set_seed(derive_seed(seed, "plugin", index, type(plugin).__name__))


_RESUMABLE_TRAINING = ("device", "num_workers", "pin_memory", "threads", "find_unused_parameters")
"""Training settings a resumed run may change (where it runs, not what it computes); and
``evaluation.tensorboard``."""


def resume_config(info: RunInfo, plugins: list[SupervisedPlugin], training: TrainingSpec) -> dict[str, Any]:
    """What must not change between a run and its resumption: everything that affects the results."""
    def settings(plugin: SupervisedPlugin) -> dict[str, Any]:
        plain = {k: v for k, v in vars(plugin).items()
                 if not k.startswith("_") and isinstance(v, (bool, int, float, str, type(None)))}
        return {"type": type(plugin).__name__, **plain}

    training_config = {k: v for k, v in asdict(training).items() if k not in _RESUMABLE_TRAINING}
    evaluation_config = {k: v for k, v in info.config["evaluation"].items() if k != "tensorboard"}
    return {**info.config, "seed": info.seed, "training": training_config, "evaluation": evaluation_config,
            "plugins": [settings(p) for p in plugins]}


def run(
    *,
    output_dir: str = "runs/mst_vrlwf",
    seed: int = 0,
    model: ModelSpec = ModelSpec(),
    data: WorldData | PaperData | MTILSource = WorldData(),
    protocol: ProtocolSpec = ProtocolSpec(),
    plugins: list[RunPlugin] | None = None,
    training: TrainingSpec = TrainingSpec(),
    evaluation: EvaluationSpec = EvaluationSpec(),
    checkpoint: CheckpointSpec = CheckpointSpec(),
    resume: bool = False,
    overwrite: bool = False,
    verbose: bool = False,
    resolved_config: str | None = None,
) -> dict[str, Any]:
    """Fine-tune CLIP over the protocol's sessions and measure what the update destroys.

    The original model is measured first, then after every session; every value is written to the
    run directory as it is measured, and checkpoints (every session and ``checkpoint.every_iterations``)
    let ``resume`` continue a killed run with the results an uninterrupted run would have had.

    Args:
        output_dir: the run directory; refused if it holds results, unless ``resume`` or ``overwrite``.
        seed: seeds data order, augmentation, pseudo-vocabulary draws and initialisation.
        model: which CLIP and which part of it trains.
        data: the embedded world (``WorldData``), the paper's files (``PaperData``), or for MTIL a
            sequence of datasets (a subclass of ``MTILSource``, e.g. ``WorldDomains``, ``MTILDatasets``).
        protocol: OST, MST, Joint-FT or MTIL, and the sessions or the task order.
        plugins: the methods (``VRLwFPlugin``, ``ZSCLPlugin``, ...; several compose) and Avalanche's training
            plugins (``ReplayPlugin``, ``EWCPlugin``, ...); none is plain fine-tuning (FT).
        training: optimisation and device.
        evaluation: what is measured.
        checkpoint: when checkpoints are written.
        resume: continue the run in ``output_dir`` from its newest good checkpoint (same configuration).
        overwrite: replace the results of an earlier run in ``output_dir``.
        verbose: also print Avalanche's per-experience metric blocks above the run's progress bar.
        resolved_config: the whole configuration as YAML (from the CLI), saved as ``config.yaml``.

    Returns:
        The contents of the run's ``results.json`` (on every process, under torchrun).
    """
    plugins = list(plugins or [])
    check_run_arguments(output_dir=output_dir, seed=seed, model=model, data=data, protocol=protocol,
                        plugins=plugins, training=training, evaluation=evaluation, checkpoint=checkpoint,
                        resume=resume, overwrite=overwrite)
    device = init_distributed(training.device)  # under torchrun: this process's place in the group
    run_dir, files, saved = _open_run_dir(output_dir, resume=resume, overwrite=overwrite,
                                          resolved_config=resolved_config, keep=checkpoint.keep)
    clip, experiment, streams = _build_experiment(model, data, protocol, plugins, training, seed=seed, device=device)
    info = _run_info(model, data, protocol, plugins, training, evaluation, seed=seed)
    with ExitStack() as stack:
        loggers = _open_loggers(stack, run_dir, info, evaluation, saved, dict(
            experiences=len(streams[0]), epochs=training.epochs, iterations=training.iterations,
            unit="task" if protocol.name == MTIL else "session", verbose=verbose))
        strategy = build_strategy(clip, experiment, loggers, plugins, training, evaluation, seed=seed, device=device,
                                  task_names=[e.task_name for e in streams[0]] if protocol.name == MTIL else ())
        checkpointing = RunCheckpointing(files, every_iterations=checkpoint.every_iterations if checkpoint.enabled
                                         else None, config=resume_config(info, plugins, training))
        _run_sessions(strategy, checkpointing, saved, *streams, save=checkpoint.enabled, training=training)
    return call_on_main(_finish, run_dir)


def _run_info(model: ModelSpec, data: Any, protocol: ProtocolSpec, plugins: list[SupervisedPlugin],
              training: TrainingSpec, evaluation: EvaluationSpec, *, seed: int) -> RunInfo:
    """What ``run.json`` records: the row of the report, and the configuration."""
    return RunInfo(
        method=method_label(plugins, protocol), variant=model.update,
        protocol=report_protocol(protocol), seed=seed,
        config={"model": asdict(model), "protocol": asdict(protocol), "training": asdict(training),
                "evaluation": asdict(evaluation), "data": {type(data).__name__: asdict(data)},
                "plugins": [type(p).__name__ for p in plugins], "processes": DistributedHelper.world_size},
    )


def _build_experiment(model: ModelSpec, data: Any, protocol: ProtocolSpec, plugins: list[SupervisedPlugin],
                      training: TrainingSpec, *, seed: int, device: torch.device):
    """Seed the run, build the model, its data and the protocol's ``(train_stream, test_stream)``."""
    seed_everything(seed)
    seed_plugins(plugins, seed)
    if training.threads is not None:
        torch.set_num_threads(training.threads)
    clip = build_model(model, device)
    with main_process_first():  # the main process fills the data caches the others read
        experiment = data.build(clip)
    streams = build_benchmark(experiment, protocol)
    if DistributedHelper.is_distributed:
        seed_everything(seed + DistributedHelper.rank)  # each process its own augmentations, now that all are built
    return clip, experiment, streams


def build_strategy(clip: CLIPClassifier, experiment: ExperimentData, loggers: list, plugins: list[SupervisedPlugin],
                   training: TrainingSpec, evaluation: EvaluationSpec, *, seed: int,
                   device: torch.device, task_names: Sequence[str] = ()) -> CLIPStrategy:
    """The run's strategy: Adam (and the LR schedule, the tasks' rates) over ``clip``, the methods, the evaluator."""
    optimizer = torch.optim.Adam(clip.parameters(), lr=training.lr, weight_decay=training.weight_decay)
    schedule = build_schedule(optimizer, training)
    if training.task_lr:
        schedule.append(TaskLearningRates(training.task_lr, default=training.lr, task_names=task_names,
                                          scheduler=schedule[0].scheduler if schedule else None))
    return CLIPStrategy(
        model=clip, optimizer=optimizer, criterion=build_criterion(training), train_mb_size=training.batch_size,
        train_epochs=training.epochs, train_iterations=training.iterations, eval_mb_size=evaluation.batch_size,
        device=device, precision=training.precision,
        grad_clip_norm=training.grad_clip_norm, plugins=plugins + schedule,
        evaluator=build_evaluator(experiment, evaluation, loggers, num_workers=training.num_workers,
                                  pin_memory=training.pin_memory), seed=seed,
        find_unused_parameters=training.find_unused_parameters,
        max_consecutive_nonfinite=training.max_consecutive_nonfinite,
    )


def build_criterion(training: TrainingSpec) -> SmoothedCrossEntropy | None:
    """The classification loss: with ``label_smoothing``, :class:`SmoothedCrossEntropy`; None: the strategy's own."""
    return SmoothedCrossEntropy(training.label_smoothing) if training.label_smoothing else None


def build_schedule(optimizer: torch.optim.Optimizer, training: TrainingSpec) -> list[LRSchedulerPlugin]:
    """The LR schedule of ``training`` as Avalanche's plugin, started again in every experience; none if constant.

    ``step``: x0.1 at each of ``lr_milestones``, counted in epochs, or in steps with ``iterations``;
    ``cosine``: :class:`WarmupCosineLR` over the ``iterations`` of each experience.
    """
    if training.lr_schedule == "cosine":
        scheduler = WarmupCosineLR(optimizer, warmup=training.warmup_iterations, total=training.iterations)
    elif training.lr_milestones:
        scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, list(training.lr_milestones), 0.1)
    else:
        return []
    plugin = LRSchedulerPlugin(scheduler, step_granularity="epoch" if training.iterations is None else "iteration")
    plugin.supports_distributed = True  # Avalanche's flag: every process steps its scheduler alike
    return [plugin]


def _run_sessions(strategy: CLIPStrategy, checkpointing: RunCheckpointing, saved: LoadedCheckpoint | None,
                  train_stream, test_stream, *, save: bool, training: TrainingSpec) -> None:
    """Train and evaluate every session not done yet (after measuring the original model in a new run)."""
    loader = dict(num_workers=training.num_workers, pin_memory=training.pin_memory)
    if save or saved is not None:
        checkpointing.attach(strategy)
    if saved is None:
        start = 0
        strategy.eval(test_stream, **loader)  # the original model's UT-Acc
    else:
        start = checkpointing.resume(strategy, saved)
    for experience in list(train_stream)[start:]:
        strategy.train(experience, **loader)
        strategy.eval(test_stream, **loader)
        if save:
            checkpointing.save(strategy)


def _open_run_dir(output_dir: str, *, resume: bool, overwrite: bool, resolved_config: str | None,
                  keep: int) -> tuple[Path, CheckpointFiles, LoadedCheckpoint | None]:
    """The run directory, ready; its checkpoints; the one to resume from (None: the run starts from the beginning)."""
    run_dir = call_on_main(prepare_run_dir, output_dir, overwrite=overwrite, resume=resume)
    files = CheckpointFiles(run_dir / CHECKPOINTS_DIR, keep=keep)
    saved = _checkpoint_to_resume(files, run_dir) if resume else None
    if resolved_config is not None and DistributedHelper.is_main_process:
        atomic_write_text(run_dir / "config.yaml", resolved_config)
    return run_dir, files, saved


def _checkpoint_to_resume(files: CheckpointFiles, run_dir: Path) -> LoadedCheckpoint | None:
    """The newest good checkpoint (its format checked); without one, the run directory is emptied to start again."""
    with main_process_first():  # the main process sets aside a damaged checkpoint before the others look
        saved = files.load_latest()
    if saved is not None:
        check_state_format(saved.state, saved.path)
        return saved
    if DistributedHelper.is_main_process:
        logger.warning("No usable checkpoint in %s: the run starts from the beginning.", run_dir)
    call_on_main(clear_run_outputs, run_dir)
    return None


def _open_loggers(stack: ExitStack, run_dir: Path, info: RunInfo, evaluation: EvaluationSpec,
                  saved: LoadedCheckpoint | None, console: dict[str, Any]) -> list:
    """The run's loggers (on the main process only: Avalanche's refuse to exist on the others), closed by ``stack``.

    The console gets the run's progress bar (``console``: the arguments of ``console_loggers``),
    and log records are written above it while it is drawn; ``log.txt`` gets every metric block.
    """
    if not DistributedHelper.is_main_process:
        return []
    log_file = stack.enter_context(open(run_dir / "log.txt", "a", encoding="utf-8"))
    stack.enter_context(logging_redirect_tqdm())
    resume_after = None if saved is None else completed_in(saved.state)
    on_console = console_loggers(**console)
    stack.callback(on_console[0].close)
    loggers = [*on_console, TextLogger(log_file), ResultsLogger(run_dir, run_info=info, resume_after=resume_after)]
    if evaluation.tensorboard:
        tensorboard = TensorboardLogger(tb_log_dir=str(run_dir / "tb"))
        stack.callback(tensorboard.writer.close)
        loggers.append(tensorboard)
    return loggers


def _finish(run_dir: Path) -> dict[str, Any]:
    """Write the report and return the results (the main process's part of the end of a run)."""
    write_report([run_dir], run_dir / "report")
    logger.info("Run finished: results in %s", run_dir)
    print(f"\n{run_table(run_dir)}", flush=True)
    return read_results(run_dir)


__all__ = ["build_benchmark", "build_criterion", "build_evaluator", "build_model", "build_schedule", "build_strategy",
           "method_label", "resume_config", "run", "seed_everything", "seed_plugins"]
