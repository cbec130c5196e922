"""The run directory: created writable, never silently mixed with another run's results."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from ..evaluation import METRICS_FILE, RESULTS_FILE, RUN_INFO_FILE

CHECKPOINTS_DIR = "checkpoints"
"""The run directory's folder of checkpoints."""
RUN_OUTPUTS = (RUN_INFO_FILE, METRICS_FILE, RESULTS_FILE, "config.yaml", "log.txt", "tb", "report", CHECKPOINTS_DIR)
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


__all__ = ["CHECKPOINTS_DIR", "RUN_OUTPUTS", "clear_run_outputs", "prepare_run_dir"]
