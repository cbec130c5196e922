"""MTIL (multi-domain task-incremental learning, ZSCL): one dataset per task, Transfer / Avg / Last.

    python examples/mtil.py                                  # the world's domains: CPU, no download
    python examples/mtil.py --plugins+=avalanche_clip.training.LwFPlugin --output_dir runs/mtil_lwf
    python examples/mtil.py --protocol.task_order '[colours, crops, sizes]'   # any order of the tasks

Each task is a dataset with its own class names and prompts; after every task the whole sequence
is evaluated, each dataset among its own classes. The run directory gets results.json (its
``mtil`` entry: the matrix, Transfer, Avg, Last) and report/ (results.md with the table and the
per-dataset matrix, mtil_matrix.png). Defaults come from examples/configs/mtil.yaml.
"""

import logging
from pathlib import Path

from avalanche_clip.cli import run_command

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    run_command(default_config=Path(__file__).with_name("configs") / "mtil.yaml")
