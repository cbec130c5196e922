"""VR-LwF, the paper's method, over multi-session training (MST); the embedded world by default.

    python examples/mst_vrlwf.py                    # the embedded world: CPU, no download
    python examples/mst_vrlwf.py --help             # every option
    python examples/mst_vrlwf.py --model.update image --plugins.alpha 1.0 --output_dir runs/io
    python examples/mst_vrlwf.py --config examples/configs/paper_mst_vrlwf.yaml   # COCO, ViT-B-32

Defaults come from examples/configs/mst_vrlwf.yaml; any option overrides them. The run directory
gets run.json, config.yaml, metrics.csv, results.json, log.txt, tb/ (TensorBoard) and report/.
"""

import logging
from pathlib import Path

from avalanche_clip.cli import run_command

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    run_command(default_config=Path(__file__).with_name("configs") / "mst_vrlwf.yaml")
