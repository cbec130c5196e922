"""Training: the CLIP strategy and the continual-learning methods as plugins."""

from .cross_entropy import SmoothedCrossEntropy, smoothed_cross_entropy
from .lr_schedules import TaskLearningRates, WarmupCosineLR, warmup_cosine_factor
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
    "SmoothedCrossEntropy",
    "TaskLearningRates",
    "TrainPosition",
    "VRLwFPlugin",
    "WarmupCosineLR",
    "WiSEFTPlugin",
    "ZSCLPlugin",
    "derive_seed",
    "smoothed_cross_entropy",
    "warmup_cosine_factor",
]
