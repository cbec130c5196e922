"""A run's directory and every file in it: layout, the results logger, run files, reports, plots.

``prepare_run_dir`` creates the directory (never mixing two runs); ``ResultsLogger`` writes a
run's values (``metrics.csv``) and results table (``results.json``); ``write_run_info`` writes
what the run is (``run.json``); ``write_report`` turns run directories into the paper's tables
and plots. The metrics themselves live in :mod:`avalanche_clip.evaluation`.
"""

from .layout import (
    CHECKPOINTS_DIR,
    CONFIG_FILE,
    LOG_FILE,
    METRICS_FILE,
    REPORT_DIR,
    RESULTS_FILE,
    RUN_INFO_FILE,
    RUN_OUTPUTS,
    TENSORBOARD_DIR,
    clear_run_outputs,
    prepare_run_dir,
)
from .report import ReportFiles, run_table, write_report
from .results_logger import ResultsLogger
from .run_files import MetricRow, RunInfo, read_metric_rows, read_results, read_run_info, write_run_info
from .runs import Run, load_runs
from .summary import summarize

__all__ = [
    "CHECKPOINTS_DIR",
    "CONFIG_FILE",
    "LOG_FILE",
    "METRICS_FILE",
    "MetricRow",
    "REPORT_DIR",
    "RESULTS_FILE",
    "RUN_INFO_FILE",
    "RUN_OUTPUTS",
    "ReportFiles",
    "ResultsLogger",
    "Run",
    "RunInfo",
    "TENSORBOARD_DIR",
    "clear_run_outputs",
    "load_runs",
    "prepare_run_dir",
    "read_metric_rows",
    "read_results",
    "read_run_info",
    "run_table",
    "summarize",
    "write_report",
    "write_run_info",
]
