"""CLIP-aware evaluation: metrics for an EvaluationPlugin, the results files, reports.

``zeroshot_metrics``, ``retrieval_metrics``, ``updated_task_metrics`` and ``mtil_metrics`` return Avalanche
PluginMetrics; ``ResultsLogger`` writes a run's values and results table; ``write_report``
turns run directories into the paper's tables and plots.
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
from .report import ReportFiles, write_report
from .results_logger import ResultsLogger
from .run_files import (
    METRICS_FILE,
    RESULTS_FILE,
    RUN_INFO_FILE,
    MetricRow,
    RunInfo,
    read_metric_rows,
    read_results,
    read_run_info,
    write_run_info,
)
from .summary import summarize

__all__ = [
    "CapabilityMetric",
    "MTILMatrixMetric",
    "METRICS_FILE",
    "MetricRow",
    "RESULTS_FILE",
    "RUN_INFO_FILE",
    "ReportFiles",
    "ResultsLogger",
    "RetrievalMetric",
    "RunInfo",
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
    "read_metric_rows",
    "read_results",
    "read_run_info",
    "retrieval_metrics",
    "retrieval_recall",
    "skipped_steps_metrics",
    "summarize",
    "updated_task_accuracy",
    "updated_task_metrics",
    "write_report",
    "write_run_info",
    "zeroshot_accuracy",
    "zeroshot_metrics",
]
