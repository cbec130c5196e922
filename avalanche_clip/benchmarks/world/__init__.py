"""The embedded world: a synthetic captioned world and its pretrained tiny CLIP.

``model, data = world.load()`` gives the pretrained world CLIP (a
:class:`~avalanche_clip.models.CLIPClassifier`) and an
:class:`~avalanche_clip.benchmarks.ExperimentData`: the update task (one-object scenes of 16
categories), zero-shot sets of 8 held-out categories and of 8 colours, and a retrieval set of
unseen scenes with 5 captions each. Nothing is downloaded; the weights ship in the package and
the program ``world_pretraining`` (beside the package in the repository) rebuilds them.
``world_mtil_tasks()`` gives the world's multi-domain (MTIL) sequence.
"""

from .bpe_tokenizer import world_tokenizer
from .captions import sample_captions, scene_captions
from .concepts import CATEGORIES, COLOURS, HELD_OUT_CATEGORIES, REGIONS, RELATIONS, SIZES, UPDATE_CATEGORIES, Region
from .domains import DOMAIN_NAMES, WorldDomainImages, WorldDomains, world_mtil_tasks
from .image_sets import CAPTIONS_PER_SCENE, WorldCaptions, WorldObjects
from .load import RETRIEVAL_SETS, ZEROSHOT_SETS, LoadedWorld, WorldData, load, load_model, world_classifier
from .prompt_templates import COLOUR_TEMPLATES, SHAPE_TEMPLATES, UPDATE_TEMPLATES
from .scenes import Scene, SceneObject, relation, render_scene, sample_scene, scene_rng
from .scene_transforms import world_eval_transform, world_train_transform, world_transforms
from .weights import build_world_clip, load_weights, save_weights

__all__ = [
    "CAPTIONS_PER_SCENE",
    "CATEGORIES",
    "COLOURS",
    "COLOUR_TEMPLATES",
    "DOMAIN_NAMES",
    "HELD_OUT_CATEGORIES",
    "LoadedWorld",
    "REGIONS",
    "RELATIONS",
    "RETRIEVAL_SETS",
    "Region",
    "SHAPE_TEMPLATES",
    "SIZES",
    "Scene",
    "SceneObject",
    "UPDATE_CATEGORIES",
    "UPDATE_TEMPLATES",
    "WorldCaptions",
    "WorldData",
    "WorldDomainImages",
    "WorldDomains",
    "WorldObjects",
    "ZEROSHOT_SETS",
    "build_world_clip",
    "load",
    "load_model",
    "load_weights",
    "relation",
    "render_scene",
    "sample_captions",
    "sample_scene",
    "save_weights",
    "scene_captions",
    "scene_rng",
    "world_classifier",
    "world_eval_transform",
    "world_mtil_tasks",
    "world_tokenizer",
    "world_train_transform",
    "world_transforms",
]
