"""Running the protocol end to end: argument groups, validation, the run directory, the runner."""

from .run_dir import CHECKPOINTS_DIR, RUN_OUTPUTS, clear_run_outputs, prepare_run_dir
from .runner import (
    build_benchmark,
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
    "CHECKPOINTS_DIR",
    "CheckpointSpec",
    "EvaluationSpec",
    "ModelSpec",
    "ProtocolSpec",
    "RUN_OUTPUTS",
    "TrainingSpec",
    "build_benchmark",
    "build_evaluator",
    "build_model",
    "build_schedule",
    "build_strategy",
    "check_run_arguments",
    "clear_run_outputs",
    "method_label",
    "prepare_run_dir",
    "resume_config",
    "run",
    "seed_everything",
    "seed_plugins",
]
