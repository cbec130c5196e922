"""The run directory's layout: the name of everything a run writes there; creating and clearing it.

A run directory holds ``run.json``, ``metrics.csv`` and ``results.json`` (their formats:
:mod:`.run_files`), the resolved ``config.yaml``, the text log ``log.txt``, the TensorBoard
folder ``tb``, the run's own ``report`` and its ``checkpoints``. A directory is never silently
shared by two runs: :func:`prepare_run_dir` refuses one that holds another run's results.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

RUN_INFO_FILE = "run.json"
"""What the run is: method, variant, protocol, seed (:class:`~.run_files.RunInfo`)."""
METRICS_FILE = "metrics.csv"
"""Every logged value, one row each (the long file)."""
RESULTS_FILE = "results.json"
"""The results table, summarised from the long file."""
CONFIG_FILE = "config.yaml"
"""The resolved configuration that reproduces the run."""
LOG_FILE = "log.txt"
"""Avalanche's text log."""
TENSORBOARD_DIR = "tb"
"""The TensorBoard event files."""
REPORT_DIR = "report"
"""The run's own tables and plots."""
CHECKPOINTS_DIR = "checkpoints"
"""The run directory's folder of checkpoints."""
RUN_OUTPUTS = (RUN_INFO_FILE, METRICS_FILE, RESULTS_FILE, CONFIG_FILE, LOG_FILE, TENSORBOARD_DIR, REPORT_DIR,
               CHECKPOINTS_DIR)
"""Everything a run writes into its directory."""


def clear_run_outputs(run_dir: Path) -> None:
    """Delete everything a run wrote into ``run_dir`` (nothing else)."""
    for name in RUN_OUTPUTS:
        path = run_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def prepare_run_dir(output_dir: str, *, overwrite: bool = False, resume: bool = False) -> Path:
    """Create ``output_dir`` and check that it is writable and holds no other run.

    Args:
        output_dir: the run directory.
        overwrite: delete the outputs of a run already there.
        resume: a run already there is the one to continue: keep it.

    Raises:
        FileExistsError: it holds a run's results and neither ``overwrite`` nor ``resume`` is set.
        PermissionError: it cannot be created or written.
    """
    run_dir = Path(output_dir).expanduser()
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=run_dir):
            pass
    except OSError as error:
        raise PermissionError(f"The output directory {str(run_dir)!r} cannot be written: {error}. "
                              "Choose another --output_dir.") from error
    existing = [name for name in (RUN_INFO_FILE, RESULTS_FILE, METRICS_FILE) if (run_dir / name).exists()]
    if existing and not (overwrite or resume):
        raise FileExistsError(
            f"The output directory {str(run_dir)!r} already holds a run's results ({', '.join(existing)}). "
            "Pass --resume to continue that run, --overwrite to replace it, or choose another --output_dir."
        )
    if overwrite:
        clear_run_outputs(run_dir)
    return run_dir


__all__ = [
    "CHECKPOINTS_DIR",
    "CONFIG_FILE",
    "LOG_FILE",
    "METRICS_FILE",
    "REPORT_DIR",
    "RESULTS_FILE",
    "RUN_INFO_FILE",
    "RUN_OUTPUTS",
    "TENSORBOARD_DIR",
    "clear_run_outputs",
    "prepare_run_dir",
]
