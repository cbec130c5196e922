"""The student in ``DistributedDataParallel``: gradients averaged over the processes at every step.

The strategy keeps ``strategy.model`` the :class:`~avalanche_clip.models.CLIPClassifier` (plugins
and metrics call its ``last_features``, ``encode_text``, ``prompt_features``...) and runs only
the training forward through the wrapper. DDP's gradient hooks sit on the parameters, not on the
forward: a term computed outside the forward in the same backward (VR-LwF encoding its pseudo
sentences with the student's text tower) is averaged with the rest. Every trainable parameter of
a CLIP takes part in the forward in every update variant (WM, IO, TO, RKR rectifiers), so
``find_unused_parameters`` stays off unless a model needs it.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel


def wrap_ddp(model: nn.Module, device: torch.device, *,
             find_unused_parameters: bool = False) -> DistributedDataParallel:
    """``model`` (on ``device``) in DDP over its parameters that require grad now.

    Build it after every change of which parameters train (RKR surgery, freezing), and after
    moving the model. Construction copies rank 0's parameters to every process.

    Args:
        model: the module whose forward the training step runs.
        device: this process's device (``cuda:LOCAL_RANK`` or the CPU).
        find_unused_parameters: DDP's search for parameters that get no gradient in a step; needed
            only by models with trainable parameters outside the forward's graph.
    """
    return DistributedDataParallel(
        model,
        device_ids=[device] if device.type == "cuda" else None,
        find_unused_parameters=find_unused_parameters,
    )


__all__ = ["wrap_ddp"]
