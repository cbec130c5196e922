"""The run directory: created writable, never silently mixed with another run's results."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from ..evaluation import METRICS_FILE, RESULTS_FILE, RUN_INFO_FILE

RUN_OUTPUTS = (RUN_INFO_FILE, METRICS_FILE, RESULTS_FILE, "config.yaml", "log.txt", "tb", "report", "checkpoints")
"""Everything a run writes into its directory."""


def prepare_run_dir(output_dir: str, *, overwrite: bool = False) -> Path:
    """Create ``output_dir`` and check that it is writable and holds no other run.

    Raises:
        FileExistsError: it holds a run's results and ``overwrite`` is False.
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
    if existing and not overwrite:
        raise FileExistsError(
            f"The output directory {str(run_dir)!r} already holds a run's results ({', '.join(existing)}). "
            "Pass --overwrite to replace them, or choose another --output_dir."
        )
    for name in RUN_OUTPUTS if overwrite else ():
        path = run_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    return run_dir


__all__ = ["RUN_OUTPUTS", "prepare_run_dir"]
