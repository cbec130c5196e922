"""Running the protocol end to end: argument groups, validation, the runner."""

from .progress import RunProgress, console_loggers
from .runner import (
    build_benchmark,
    build_criterion,
    build_evaluator,
    build_model,
    build_schedule,
    build_strategy,
    method_label,
    resume_config,
    run,
    seed_everything,
    seed_plugins,
)
from .specs import CheckpointSpec, EvaluationSpec, ModelSpec, ProtocolSpec, TrainingSpec
from .validation import check_run_arguments

__all__ = [
    "CheckpointSpec",
    "EvaluationSpec",
    "ModelSpec",
    "ProtocolSpec",
    "RunProgress",
    "TrainingSpec",
    "build_benchmark",
    "build_criterion",
    "build_evaluator",
    "build_model",
    "build_schedule",
    "build_strategy",
    "check_run_arguments",
    "console_loggers",
    "method_label",
    "resume_config",
    "run",
    "seed_everything",
    "seed_plugins",
]
