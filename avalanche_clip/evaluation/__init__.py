"""CLIP-aware evaluation metrics for an Avalanche EvaluationPlugin.

``zeroshot_metrics``, ``retrieval_metrics``, ``updated_task_metrics``, ``mtil_metrics`` and
``skipped_steps_metrics`` return Avalanche PluginMetrics, named as :mod:`.names` says. The files
a run writes from their values (``metrics.csv``, ``results.json``, reports) are
:mod:`avalanche_clip.results`'s.
"""

from .encoding import evaluation_mode
from .metrics import (
    CapabilityMetric,
    MTILMatrixMetric,
    RetrievalMetric,
    SkippedStepsMetric,
    UpdatedTaskMetric,
    UTProtocol,
    ZeroShotMetric,
    backward_transfer,
    fold_recall,
    mtil_average,
    mtil_last,
    mtil_metrics,
    mtil_transfer,
    retrieval_metrics,
    retrieval_recall,
    skipped_steps_metrics,
    updated_task_accuracy,
    updated_task_metrics,
    zeroshot_accuracy,
    zeroshot_metrics,
)
from .names import SKIPPED_STEPS_NAME
from .ranking import positive_ranks

__all__ = [
    "CapabilityMetric",
    "MTILMatrixMetric",
    "RetrievalMetric",
    "SKIPPED_STEPS_NAME",
    "SkippedStepsMetric",
    "UTProtocol",
    "UpdatedTaskMetric",
    "ZeroShotMetric",
    "backward_transfer",
    "evaluation_mode",
    "fold_recall",
    "mtil_average",
    "mtil_last",
    "mtil_metrics",
    "mtil_transfer",
    "positive_ranks",
    "retrieval_metrics",
    "retrieval_recall",
    "skipped_steps_metrics",
    "updated_task_accuracy",
    "updated_task_metrics",
    "zeroshot_accuracy",
    "zeroshot_metrics",
]
