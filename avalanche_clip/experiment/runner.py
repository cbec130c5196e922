"""One run of the protocol, end to end: model, data, benchmark, methods, evaluation, files.

``run`` is what ``examples/*.py`` and ``avalanche-clip run`` call; its signature is the CLI.
A run directory receives ``run.json``, ``config.yaml`` (from the CLI), ``metrics.csv``,
``results.json``, ``log.txt``, TensorBoard events under ``tb/`` and the report (tables and
plots) under ``report/``.
"""

from __future__ import annotations

import logging
import random
from contextlib import ExitStack
from dataclasses import asdict
from typing import Any

import numpy as np
import torch
from avalanche.core import SupervisedPlugin
from avalanche.evaluation.metrics import accuracy_metrics, forgetting_metrics, loss_metrics
from avalanche.logging import InteractiveLogger, TensorboardLogger, TextLogger
from avalanche.training.plugins import EvaluationPlugin, LRSchedulerPlugin

from .._atomic import atomic_write_text
from ..benchmarks import ExperimentData, PaperData, mst_benchmark, ost_benchmark
from ..benchmarks.world import WorldData
from ..evaluation import (
    ResultsLogger,
    RunInfo,
    read_results,
    retrieval_metrics,
    updated_task_metrics,
    write_report,
    zeroshot_metrics,
)
from ..models import CLIPClassifier
from ..training import CLIPStrategy
from .run_dir import prepare_run_dir
from .specs import EvaluationSpec, ModelSpec, ProtocolSpec, TrainingSpec

logger = logging.getLogger(__name__)


def method_label(plugins: list[SupervisedPlugin], protocol: ProtocolSpec) -> str:
    """The report's row label: the methods' labels joined by ``+``; ``FT`` / ``Joint-FT`` with none."""
    labels = [getattr(p, "label", type(p).__name__.removesuffix("Plugin")) for p in plugins]
    if protocol.name == "joint":
        return "+".join(["Joint-FT", *labels])
    return "+".join(labels) or "FT"


def build_model(spec: ModelSpec, device: torch.device) -> CLIPClassifier:
    """The world's pretrained CLIP, or any OpenCLIP model."""
    if spec.name == "world":
        from ..benchmarks import world

        return world.load_model(update=spec.update, train_mask=spec.train_mask, device=device)
    return CLIPClassifier.from_pretrained(spec.name, spec.pretrained, update=spec.update,
                                         train_mask=spec.train_mask, device=device)


def build_benchmark(data: ExperimentData, protocol: ProtocolSpec):
    """``(train_stream, test_stream)`` of the protocol; Joint-FT is tested per MST session."""
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


def build_evaluator(data: ExperimentData, spec: EvaluationSpec, loggers: list, *, num_workers: int = 0,
                    pin_memory: bool = False) -> EvaluationPlugin:
    """Avalanche's accuracy, loss and forgetting beside zero-shot, retrieval and UT metrics.

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
        updated_task_metrics(),
        loggers=loggers,
    )


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch: a run is an application, and its seed governs every draw."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def run(
    *,
    output_dir: str = "runs/mst_vrlwf",
    seed: int = 0,
    model: ModelSpec = ModelSpec(),
    data: WorldData | PaperData = WorldData(),
    protocol: ProtocolSpec = ProtocolSpec(),
    plugins: list[SupervisedPlugin] | None = None,
    training: TrainingSpec = TrainingSpec(),
    evaluation: EvaluationSpec = EvaluationSpec(),
    overwrite: bool = False,
    resolved_config: str | None = None,
) -> dict[str, Any]:
    """Fine-tune CLIP over the protocol's sessions and measure what the update destroys.

    The original model is measured first (zero-shot, retrieval, UT-Acc), then after every
    session; every value is written to the run directory as it is measured.

    Args:
        output_dir: the run directory; refused if it already holds results, unless ``overwrite``.
        seed: seeds data order, augmentation, pseudo-vocabulary draws and initialisation.
        model: which CLIP and which part of it trains.
        data: the embedded world (``WorldData``) or the paper's files (``PaperData``).
        protocol: OST, MST or Joint-FT, and the sessions.
        plugins: the continual-learning methods (``VRLwFPlugin``, ``LwFPlugin``, ``GeoDLPlugin``,
            ``IMMPlugin``, ``RKRPlugin``; several compose); none is plain fine-tuning (FT).
        training: optimisation and device.
        evaluation: what is measured.
        overwrite: replace the results of an earlier run in ``output_dir``.
        resolved_config: the run's whole configuration as YAML (the CLI passes it), saved as
            ``config.yaml`` so ``--config`` of that file reproduces the run.

    Returns:
        The contents of the run's ``results.json``.
    """
    plugins = list(plugins or [])
    run_dir = prepare_run_dir(output_dir, overwrite=overwrite)
    if resolved_config is not None:
        atomic_write_text(run_dir / "config.yaml", resolved_config)
    seed_everything(seed)
    if training.threads is not None:
        torch.set_num_threads(training.threads)
    device = torch.device(training.device)
    clip = build_model(model, device)
    experiment = data.build(clip)
    train_stream, test_stream = build_benchmark(experiment, protocol)
    info = RunInfo(
        method=method_label(plugins, protocol), variant=model.update,
        protocol="OST" if protocol.name == "ost" else "MST", seed=seed,
        config={"model": asdict(model), "protocol": asdict(protocol), "training": asdict(training),
                "evaluation": asdict(evaluation), "data": {type(data).__name__: asdict(data)},
                "plugins": [type(p).__name__ for p in plugins]},
    )
    optimizer = torch.optim.Adam(clip.parameters(), lr=training.lr, weight_decay=training.weight_decay)
    schedule = [LRSchedulerPlugin(torch.optim.lr_scheduler.MultiStepLR(optimizer, list(training.lr_milestones), 0.1))
                ] if training.lr_milestones else []
    loader = dict(num_workers=training.num_workers, pin_memory=training.pin_memory)

    with ExitStack() as stack:
        log_file = stack.enter_context(open(run_dir / "log.txt", "a", encoding="utf-8"))
        loggers = [InteractiveLogger(), TextLogger(log_file), ResultsLogger(run_dir, run_info=info)]
        if evaluation.tensorboard:
            tensorboard = TensorboardLogger(tb_log_dir=str(run_dir / "tb"))
            stack.callback(tensorboard.writer.close)
            loggers.append(tensorboard)
        strategy = CLIPStrategy(
            model=clip, optimizer=optimizer, train_mb_size=training.batch_size, train_epochs=training.epochs,
            eval_mb_size=evaluation.batch_size, device=device, precision=training.precision,
            grad_clip_norm=training.grad_clip_norm, plugins=plugins + schedule,
            evaluator=build_evaluator(experiment, evaluation, loggers, **loader),
        )
        strategy.eval(test_stream, **loader)  # the original model's UT-Acc
        for experience in train_stream:
            strategy.train(experience, **loader)
            strategy.eval(test_stream, **loader)
    write_report([run_dir], run_dir / "report")
    logger.info("Run finished: results in %s", run_dir)
    return read_results(run_dir)


__all__ = ["build_benchmark", "build_evaluator", "build_model", "method_label", "run", "seed_everything"]
