"""CLIP as an Avalanche model: loading, update variants, prompt vocabularies."""

from .clip_classifier import TRAIN_MASKS, CLIPClassifier, ForwardFeatures, TrainMask
from .loading import check_model_source, create_clip, list_model_configs
from .mixture_of_experts import MoEImageTower, add_moe_adapters, moe_tower
from .prompt_vocabulary import DEFAULT_TEMPLATES, PromptVocabulary
from .rectifiers import RectifiedLinear, add_rectifiers, rectifiers
from .text_encoding import can_trim, encode_prompts, encode_text
from .tokenizer_info import TokenizerInfo, describe_tokenizer
from .variants import UPDATE_VARIANTS, UpdateVariant, apply_update_variant, tower_of, tower_parameters

__all__ = [
    "CLIPClassifier",
    "DEFAULT_TEMPLATES",
    "ForwardFeatures",
    "MoEImageTower",
    "PromptVocabulary",
    "RectifiedLinear",
    "TRAIN_MASKS",
    "TokenizerInfo",
    "TrainMask",
    "UPDATE_VARIANTS",
    "UpdateVariant",
    "add_moe_adapters",
    "add_rectifiers",
    "apply_update_variant",
    "can_trim",
    "check_model_source",
    "create_clip",
    "describe_tokenizer",
    "encode_prompts",
    "encode_text",
    "list_model_configs",
    "moe_tower",
    "rectifiers",
    "tower_of",
    "tower_parameters",
]
