"""Checkpointing a run: its state as one walk over stateful components, the files, and resuming.

Avalanche's own ``save_checkpoint`` is not used: it pickles the whole strategy with dill (which
fails on this torch's optimizers) and saves only between experiences.
"""

from .avalanche_state import (
    ClockState,
    ExperienceForgettingState,
    LRSchedulerState,
    RunningMeanMetricState,
    avalanche_metric_state,
)
from .checkpoint_files import CheckpointFiles, LoadedCheckpoint
from .run_checkpointing import RunCheckpointing
from .run_state import (
    STATE_FORMAT,
    ComponentList,
    Stateful,
    capture_run_state,
    check_state_format,
    experiences_completed,
    method_plugins,
    restore_at_resume_point,
    restore_run_state,
    run_components,
    stateless_components,
)
from .torch_state import (
    GradScalerState,
    NamedOptimizerState,
    RNGStates,
    load_optimizer_state,
    load_rng_state,
    optimizer_state,
    rng_state,
)

__all__ = [
    "CheckpointFiles",
    "ClockState",
    "ComponentList",
    "ExperienceForgettingState",
    "GradScalerState",
    "LRSchedulerState",
    "LoadedCheckpoint",
    "NamedOptimizerState",
    "RNGStates",
    "RunCheckpointing",
    "RunningMeanMetricState",
    "STATE_FORMAT",
    "Stateful",
    "avalanche_metric_state",
    "capture_run_state",
    "check_state_format",
    "experiences_completed",
    "load_optimizer_state",
    "load_rng_state",
    "method_plugins",
    "optimizer_state",
    "restore_at_resume_point",
    "restore_run_state",
    "rng_state",
    "run_components",
    "stateless_components",
]
