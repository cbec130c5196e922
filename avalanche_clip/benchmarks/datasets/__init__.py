"""Datasets: the evaluation-data contracts and the real loaders (PROTOCOL.md section 2)."""

from .coco_crops import COCOCrops
from .images import ON_ERROR_CHOICES, ImageErrorPolicy, UnreadableImageError
from .karpathy import KarpathyImage, KarpathyRetrieval, read_karpathy_split
from .mtil_datasets import (
    MTIL_DATASETS,
    MTIL_SPLIT_SEED,
    MTILSplit,
    MTILVocabulary,
    load_mtil_vocabulary,
    mtil_task,
    mtil_tasks,
)
from .protocols import RetrievalDataset, ZeroShotDataset
from .template_sets import DEFAULT_ZEROSHOT_TEMPLATES, list_template_sets, load_template_set, resolve_templates
from .zeroshot_sets import ZEROSHOT_KINDS, TorchvisionZeroShot, ZeroShotImages, torchvision_zeroshot, zeroshot_dataset

__all__ = [
    "COCOCrops",
    "DEFAULT_ZEROSHOT_TEMPLATES",
    "ImageErrorPolicy",
    "KarpathyImage",
    "KarpathyRetrieval",
    "MTILSplit",
    "MTILVocabulary",
    "MTIL_DATASETS",
    "MTIL_SPLIT_SEED",
    "ON_ERROR_CHOICES",
    "RetrievalDataset",
    "TorchvisionZeroShot",
    "UnreadableImageError",
    "ZEROSHOT_KINDS",
    "ZeroShotDataset",
    "ZeroShotImages",
    "list_template_sets",
    "load_mtil_vocabulary",
    "load_template_set",
    "mtil_task",
    "mtil_tasks",
    "read_karpathy_split",
    "resolve_templates",
    "torchvision_zeroshot",
    "zeroshot_dataset",
]
