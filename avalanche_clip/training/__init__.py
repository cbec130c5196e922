"""Training: the CLIP strategy and the continual-learning methods as plugins."""

from .precision import PRECISIONS, Precision
from .strategy import CLIPStrategy

__all__ = ["CLIPStrategy", "PRECISIONS", "Precision"]
