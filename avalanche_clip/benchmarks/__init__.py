"""The paper's protocols as Avalanche benchmarks, and the data they run on."""

from .experience import CLIPExperience, with_class_names
from .experiment_data import ExperimentData, paper_experiment_data
from .generators import dataset_targets, mst_benchmark, ost_benchmark, session_classes
from .transforms import clip_eval_transform, clip_train_transform, clip_transforms

__all__ = [
    "CLIPExperience",
    "ExperimentData",
    "clip_eval_transform",
    "clip_train_transform",
    "clip_transforms",
    "dataset_targets",
    "mst_benchmark",
    "ost_benchmark",
    "paper_experiment_data",
    "session_classes",
    "with_class_names",
]
