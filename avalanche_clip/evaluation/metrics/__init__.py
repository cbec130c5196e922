"""CLIP-aware Avalanche PluginMetrics: zero-shot accuracy, retrieval recall, updated task, the MTIL matrix."""

from .capability import CapabilityMetric
from .mtil_matrix import MTILMatrixMetric, mtil_average, mtil_last, mtil_metrics, mtil_transfer
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
    "MTILMatrixMetric",
    "RetrievalMetric",
    "SkippedStepsMetric",
    "UTProtocol",
    "UpdatedTaskMetric",
    "ZeroShotMetric",
    "backward_transfer",
    "fold_bounds",
    "fold_recall",
    "mtil_average",
    "mtil_last",
    "mtil_metrics",
    "mtil_transfer",
    "retrieval_metrics",
    "retrieval_recall",
    "session_accuracy",
    "skipped_steps_metrics",
    "updated_task_accuracy",
    "updated_task_metrics",
    "zeroshot_accuracy",
    "zeroshot_metrics",
]
