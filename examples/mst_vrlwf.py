"""VR-LwF, the paper's method, over multi-session training (MST); the embedded world by default.

    python examples/mst_vrlwf.py                    # the embedded world: CPU, no download
    python examples/mst_vrlwf.py --help             # every option
    python examples/mst_vrlwf.py --model.update image --plugins.alpha 1.0 --output_dir runs/io
    python examples/mst_vrlwf.py --config paper_mst_vrlwf   # COCO, ViT-B-32

The same as ``avalanche-clip run --config mst_vrlwf``: defaults come from the shipped config
mst_vrlwf (avalanche_clip/configs/mst_vrlwf.yaml); any option overrides them. The run directory
gets run.json, config.yaml, metrics.csv, results.json, log.txt, tb/ (TensorBoard) and report/.
"""

import logging
import sys

from avalanche_clip.cli import main

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    main(["run", *sys.argv[1:]], default_config="mst_vrlwf")
