"""Datasets: the evaluation-data contracts and the real loaders (PROTOCOL.md section 2)."""

from .coco_crops import COCOCrops
from .images import ON_ERROR_CHOICES, ImageErrorPolicy, UnreadableImageError
from .karpathy import KarpathyImage, KarpathyRetrieval, read_karpathy_split
from .protocols import RetrievalDataset, ZeroShotDataset
from .template_sets import DEFAULT_ZEROSHOT_TEMPLATES, list_template_sets, load_template_set, resolve_templates
from .zeroshot_sets import ZEROSHOT_KINDS, TorchvisionZeroShot, ZeroShotImages, torchvision_zeroshot, zeroshot_dataset

__all__ = [
    "COCOCrops",
    "DEFAULT_ZEROSHOT_TEMPLATES",
    "ImageErrorPolicy",
    "KarpathyImage",
    "KarpathyRetrieval",
    "ON_ERROR_CHOICES",
    "RetrievalDataset",
    "TorchvisionZeroShot",
    "UnreadableImageError",
    "ZEROSHOT_KINDS",
    "ZeroShotDataset",
    "ZeroShotImages",
    "list_template_sets",
    "load_template_set",
    "read_karpathy_split",
    "resolve_templates",
    "torchvision_zeroshot",
    "zeroshot_dataset",
]
