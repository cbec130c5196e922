"""Training: the CLIP strategy and the continual-learning methods as plugins."""

from .plugins import GeoDLPlugin, IMMPlugin, LwFPlugin, RKRPlugin, VRLwFPlugin
from .precision import PRECISIONS, Precision
from .strategy import CLIPStrategy

__all__ = [
    "CLIPStrategy",
    "GeoDLPlugin",
    "IMMPlugin",
    "LwFPlugin",
    "PRECISIONS",
    "Precision",
    "RKRPlugin",
    "VRLwFPlugin",
]
