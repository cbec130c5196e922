"""Training: the CLIP strategy and the continual-learning methods as plugins."""

from .numerics import NonFiniteGuard, NonFiniteLossError
from .plugins import (
    GeoDLPlugin,
    IMMPlugin,
    LwFPlugin,
    MethodPlugin,
    MoEAdaptersPlugin,
    RKRPlugin,
    VRLwFPlugin,
    WiSEFTPlugin,
    ZSCLPlugin,
)
from .precision import PRECISIONS, Precision
from .sampling import SeededEpochSampler, derive_seed
from .strategy import CLIPStrategy, TrainPosition

__all__ = [
    "CLIPStrategy",
    "GeoDLPlugin",
    "IMMPlugin",
    "LwFPlugin",
    "MethodPlugin",
    "MoEAdaptersPlugin",
    "NonFiniteGuard",
    "NonFiniteLossError",
    "PRECISIONS",
    "Precision",
    "RKRPlugin",
    "SeededEpochSampler",
    "TrainPosition",
    "VRLwFPlugin",
    "WiSEFTPlugin",
    "ZSCLPlugin",
    "derive_seed",
]
