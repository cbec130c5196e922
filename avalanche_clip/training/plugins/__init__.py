"""The continual-learning methods as Avalanche plugins, one file each: PROTOCOL.md section 6's,
WiSE-FT, ZSCL and MoE-Adapters.

Each derives from :class:`MethodPlugin`, the protocol a user's own method follows too.
"""

from .geodl import GFK_KERNELS, GeoDLPlugin, authors_gfk_distance, gfk_distance
from .imm import IMM_MODES, IMMMode, IMMPlugin, empirical_fisher, mean_imm, mode_imm
from .lwf import LwFPlugin, distillation_kl, similarity_logits
from .method_plugin import MethodPlugin
from .moe_adapters import MoEAdaptersPlugin, experts_to_freeze, train_autoencoder
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
    "MoEAdaptersPlugin",
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
    "authors_gfk_distance",
    "distillation_kl",
    "empirical_fisher",
    "experts_to_freeze",
    "gfk_distance",
    "l2_distance",
    "mean_imm",
    "mode_imm",
    "pseudo_sentences",
    "running_average",
    "similarity_logits",
    "train_autoencoder",
    "zscl_distillation",
]
