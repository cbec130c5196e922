"""``python -m world_pretraining --run_dir DIR``: pretrain the world CLIP, export its weights."""

import logging

from jsonargparse import auto_cli

from .pretrain import main

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    auto_cli(main)
