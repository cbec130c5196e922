"""Training: the CLIP strategy and the continual-learning methods as plugins."""

from .numerics import NonFiniteGuard, NonFiniteLossError
from .plugins import GeoDLPlugin, IMMPlugin, LwFPlugin, MoEAdaptersPlugin, RKRPlugin, VRLwFPlugin
from .precision import PRECISIONS, Precision
from .sampling import SeededEpochSampler, derive_seed
from .strategy import CLIPStrategy, TrainPosition

__all__ = [
    "CLIPStrategy",
    "GeoDLPlugin",
    "IMMPlugin",
    "LwFPlugin",
    "MoEAdaptersPlugin",
    "NonFiniteGuard",
    "NonFiniteLossError",
    "PRECISIONS",
    "Precision",
    "RKRPlugin",
    "SeededEpochSampler",
    "TrainPosition",
    "VRLwFPlugin",
    "derive_seed",
]
