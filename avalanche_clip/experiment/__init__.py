"""Running the protocol end to end: argument groups, validation, checkpoints, the runner."""

from .checkpoint_files import CheckpointFiles, LoadedCheckpoint
from .checkpointing import RunCheckpointing
from .run_state import capture_run_state, restore_run_state, restore_training_progress
from .runner import (
    build_benchmark,
    build_evaluator,
    build_model,
    method_label,
    resume_config,
    run,
    seed_everything,
    seed_plugins,
)
from .specs import CheckpointSpec, EvaluationSpec, ModelSpec, ProtocolSpec, TrainingSpec
from .validation import check_run_arguments

__all__ = [
    "CheckpointFiles",
    "CheckpointSpec",
    "EvaluationSpec",
    "LoadedCheckpoint",
    "ModelSpec",
    "ProtocolSpec",
    "RunCheckpointing",
    "TrainingSpec",
    "build_benchmark",
    "build_evaluator",
    "build_model",
    "capture_run_state",
    "check_run_arguments",
    "method_label",
    "restore_run_state",
    "restore_training_progress",
    "resume_config",
    "run",
    "seed_everything",
    "seed_plugins",
]
