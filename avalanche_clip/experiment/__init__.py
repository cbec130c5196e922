"""Running the protocol end to end: argument groups, the run directory, the runner."""

from .run_dir import RUN_OUTPUTS, prepare_run_dir
from .runner import build_benchmark, build_evaluator, build_model, method_label, run, seed_everything
from .specs import EvaluationSpec, ModelSpec, ProtocolSpec, TrainingSpec

__all__ = [
    "EvaluationSpec",
    "ModelSpec",
    "ProtocolSpec",
    "RUN_OUTPUTS",
    "TrainingSpec",
    "build_benchmark",
    "build_evaluator",
    "build_model",
    "method_label",
    "prepare_run_dir",
    "run",
    "seed_everything",
]
