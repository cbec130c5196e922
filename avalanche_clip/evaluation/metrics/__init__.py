"""CLIP-aware Avalanche PluginMetrics: zero-shot accuracy, retrieval recall, updated task."""

from .capability import CapabilityMetric
from .retrieval import RetrievalMetric, fold_bounds, fold_recall, retrieval_metrics, retrieval_recall
from .skipped_steps import SkippedStepsMetric, skipped_steps_metrics
from .updated_task import (
    UpdatedTaskMetric,
    UTProtocol,
    backward_transfer,
    session_accuracy,
    updated_task_accuracy,
    updated_task_metrics,
)
from .zeroshot import ZeroShotMetric, zeroshot_accuracy, zeroshot_metrics

__all__ = [
    "CapabilityMetric",
    "RetrievalMetric",
    "SkippedStepsMetric",
    "UTProtocol",
    "UpdatedTaskMetric",
    "ZeroShotMetric",
    "backward_transfer",
    "fold_bounds",
    "fold_recall",
    "retrieval_metrics",
    "retrieval_recall",
    "session_accuracy",
    "skipped_steps_metrics",
    "updated_task_accuracy",
    "updated_task_metrics",
    "zeroshot_accuracy",
    "zeroshot_metrics",
]
