"""Plain fine-tuning (FT) in one session (OST): how much does the update destroy?

    python examples/ost_finetune.py                 # the embedded world: CPU, no download
    python examples/ost_finetune.py --help          # every option
    python examples/ost_finetune.py --config paper_ost_ft   # COCO, ViT-B-32

The same as ``avalanche-clip run --config ost_finetune``: defaults come from the shipped config
ost_finetune (avalanche_clip/configs/ost_finetune.yaml); any option overrides them.
"""

import logging
import sys

from avalanche_clip.cli import main

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    main(["run", *sys.argv[1:]], default_config="ost_finetune")
