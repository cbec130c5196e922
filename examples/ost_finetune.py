"""Plain fine-tuning (FT) in one session (OST): how much does the update destroy?

    python examples/ost_finetune.py                 # the embedded world: CPU, no download
    python examples/ost_finetune.py --help          # every option
    python examples/ost_finetune.py --config examples/configs/paper_ost_ft.yaml   # COCO, ViT-B-32

Defaults come from examples/configs/ost_finetune.yaml; any option overrides them.
"""

import logging
from pathlib import Path

from avalanche_clip.cli import run_command

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    run_command(default_config=Path(__file__).with_name("configs") / "ost_finetune.yaml")
