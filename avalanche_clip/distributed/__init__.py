"""Training and evaluating on several processes (GPUs, nodes) with torch.distributed.

Launch any example with ``torchrun``; :func:`init_distributed` joins the process group, the
strategy wraps the student in DDP and shards the data (``SeededEpochSampler``, ``shard_sampler``), and the
evaluation gathers every set's features, so the metrics are those of the whole sets.
"""

from .ddp import wrap_ddp
from .gather import average_across_ranks, batch_rows, gather_shards, interleave_shards
from .process_group import (
    TORCHRUN_VARIABLES,
    call_on_main,
    init_distributed,
    launched_by_torchrun,
    local_rank,
    main_process_first,
    process_device,
)
from .sharding import shard_indices, shard_sampler

__all__ = [
    "TORCHRUN_VARIABLES",
    "average_across_ranks",
    "batch_rows",
    "call_on_main",
    "gather_shards",
    "init_distributed",
    "interleave_shards",
    "launched_by_torchrun",
    "local_rank",
    "main_process_first",
    "process_device",
    "shard_indices",
    "shard_sampler",
    "wrap_ddp",
]
