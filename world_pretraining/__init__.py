"""The program that pretrains the embedded world's tiny CLIP and writes its shipped weights.

Not part of the installed package: run it from the repository root as
``python -m world_pretraining --run_dir DIR`` (``--help`` lists the options). It reads the world
(scenes, captions, tokenizer, architecture) from :mod:`avalanche_clip.benchmarks.world` and writes
the weights, their checksum and the BPE merges that ``world.load()`` reads.
"""

from .contrastive import caption_contrastive_loss, caption_ids
from .corpus import CORPUS_STREAM, corpus_batch, corpus_example
from .pretrain import learning_rate, main, monitor, normalize_batch

__all__ = [
    "CORPUS_STREAM",
    "caption_contrastive_loss",
    "caption_ids",
    "corpus_batch",
    "corpus_example",
    "learning_rate",
    "main",
    "monitor",
    "normalize_batch",
]
