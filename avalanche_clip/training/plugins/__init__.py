"""The continual-learning methods as Avalanche plugins, one file each: PROTOCOL.md section 6's, WiSE-FT and ZSCL.

Each derives from :class:`MethodPlugin`, the protocol a user's own method follows too.
"""

from .geodl import GFK_KERNELS, GeoDLPlugin, authors_gfk_distance, gfk_distance
from .imm import IMM_MODES, IMMMode, IMMPlugin, empirical_fisher, mean_imm, mode_imm
from .lwf import LwFPlugin, distillation_kl, similarity_logits
from .method_plugin import MethodPlugin
from .rkr import RKRPlugin
from .teacher import Teacher, TeacherPlugin
from .vr_lwf import VRLwFPlugin, pseudo_sentences
from .wise_ft import WISE_ANCHORS, WISE_CONTINUATIONS, WiSEAnchor, WiSEContinuation, WiSEFTPlugin
from .zscl import ZSCLPlugin, l2_distance, running_average, zscl_distillation

__all__ = [
    "GFK_KERNELS",
    "GeoDLPlugin",
    "IMMMode",
    "IMMPlugin",
    "IMM_MODES",
    "LwFPlugin",
    "MethodPlugin",
    "RKRPlugin",
    "Teacher",
    "TeacherPlugin",
    "VRLwFPlugin",
    "authors_gfk_distance",
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
