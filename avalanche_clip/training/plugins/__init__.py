"""The continual-learning methods as Avalanche plugins, one file each: PROTOCOL.md section 6's, WiSE-FT and ZSCL."""

from .geodl import GeoDLPlugin, gfk_distance
from .imm import IMM_MODES, IMMMode, IMMPlugin, empirical_fisher, mean_imm, mode_imm
from .lwf import LwFPlugin, distillation_kl, similarity_logits
from .rkr import RKRPlugin
from .teacher import Teacher, TeacherPlugin
from .vr_lwf import VRLwFPlugin, pseudo_sentences
from .wise_ft import WISE_ANCHORS, WISE_CONTINUATIONS, WiSEAnchor, WiSEContinuation, WiSEFTPlugin
from .zscl import ZSCLPlugin, l2_distance, running_average, zscl_distillation

__all__ = [
    "GeoDLPlugin",
    "IMMMode",
    "IMMPlugin",
    "IMM_MODES",
    "LwFPlugin",
    "RKRPlugin",
    "Teacher",
    "TeacherPlugin",
    "VRLwFPlugin",
    "WISE_ANCHORS",
    "WISE_CONTINUATIONS",
    "WiSEAnchor",
    "WiSEContinuation",
    "WiSEFTPlugin",
    "ZSCLPlugin",
    "distillation_kl",
    "empirical_fisher",
    "gfk_distance",
    "l2_distance",
    "mean_imm",
    "mode_imm",
    "pseudo_sentences",
    "running_average",
    "similarity_logits",
    "zscl_distillation",
]
