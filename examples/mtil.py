"""MTIL (multi-domain task-incremental learning, ZSCL): one dataset per task, Transfer / Avg / Last.

    python examples/mtil.py                                  # the world's domains: CPU, no download
    python examples/mtil.py --plugins+=avalanche_clip.training.LwFPlugin --output_dir runs/mtil_lwf
    python examples/mtil.py --protocol.task_order '[world-sizes, world-crops, world-places]'  # any order

Each task is a dataset with its own class names and prompts; after every task the whole sequence
is evaluated, each dataset among its own classes. The run directory gets results.json (its
``mtil`` entry: the matrix, Transfer, Avg, Last) and report/ (results.md with the table and the
per-dataset matrix, mtil_matrix.png). Defaults come from the shipped config ``mtil``
(``avalanche-clip configs``).
"""

import logging
import sys

from avalanche_clip.cli import main

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    main(["run", *sys.argv[1:]], default_config="mtil")
