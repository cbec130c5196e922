"""The protocols as Avalanche benchmarks (OST, MST, Joint-FT, MTIL), and the data they run on."""

from .datasets.mtil_contract import MTILTask
from .experience import CLIPExperience, with_class_names
from .experiment_data import DataSource, ExperimentData
from .generators import dataset_targets, mst_benchmark, ost_benchmark, session_classes
from .mtil import MTIL_ORDERS, MTILData, MTILExperience, MTILSource, mtil_benchmark, task_order
from .paper_data import PaperData
from .real_mtil import MTILDatasets
from .transforms import clip_eval_transform, clip_train_transform, clip_transforms

__all__ = [
    "CLIPExperience",
    "DataSource",
    "ExperimentData",
    "MTILData",
    "MTILDatasets",
    "MTILExperience",
    "MTILSource",
    "MTILTask",
    "MTIL_ORDERS",
    "PaperData",
    "clip_eval_transform",
    "clip_train_transform",
    "clip_transforms",
    "dataset_targets",
    "mst_benchmark",
    "mtil_benchmark",
    "ost_benchmark",
    "session_classes",
    "task_order",
    "with_class_names",
]
