"""The continual-learning methods of PROTOCOL.md section 6 as Avalanche plugins, one file each.

Each derives from :class:`MethodPlugin`, the protocol a user's own method follows too.
"""

from .geodl import GFK_KERNELS, GeoDLPlugin, authors_gfk_distance, gfk_distance
from .imm import IMM_MODES, IMMMode, IMMPlugin, empirical_fisher, mean_imm, mode_imm
from .lwf import LwFPlugin, distillation_kl, similarity_logits
from .method_plugin import MethodPlugin
from .rkr import RKRPlugin
from .teacher import Teacher, TeacherPlugin
from .vr_lwf import VRLwFPlugin, pseudo_sentences

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
    "distillation_kl",
    "empirical_fisher",
    "gfk_distance",
    "mean_imm",
    "mode_imm",
    "pseudo_sentences",
    "similarity_logits",
]
