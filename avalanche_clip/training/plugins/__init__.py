"""The continual-learning methods of PROTOCOL.md section 6 as Avalanche plugins, one file each."""

from .geodl import GeoDLPlugin, gfk_distance
from .imm import IMM_MODES, IMMMode, IMMPlugin, empirical_fisher, mean_imm, mode_imm
from .lwf import LwFPlugin, distillation_kl, similarity_logits
from .moe_adapters import MoEAdaptersPlugin, experts_to_freeze, train_autoencoder
from .rkr import RKRPlugin
from .teacher import Teacher, TeacherPlugin
from .vr_lwf import VRLwFPlugin, pseudo_sentences

__all__ = [
    "GeoDLPlugin",
    "IMMMode",
    "IMMPlugin",
    "IMM_MODES",
    "LwFPlugin",
    "MoEAdaptersPlugin",
    "RKRPlugin",
    "Teacher",
    "TeacherPlugin",
    "VRLwFPlugin",
    "distillation_kl",
    "empirical_fisher",
    "experts_to_freeze",
    "gfk_distance",
    "mean_imm",
    "mode_imm",
    "pseudo_sentences",
    "similarity_logits",
    "train_autoencoder",
]
