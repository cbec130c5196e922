"""Named prompt-template sets: the package's JSON data files and OpenCLIP's ImageNet sets.

Each ``template_sets/<name>.json`` is ``{"description": ..., "templates": ["... {} ...", ...]}``;
shipped: ``paper`` (``"this is a photo of {} ."``, the zero-shot default). ``openai_imagenet``
(CLIP's 80 ImageNet prompts) and ``simple_imagenet`` (its 7-prompt subset) are OpenCLIP's
``OPENAI_IMAGENET_TEMPLATES`` and ``SIMPLE_IMAGENET_TEMPLATES``, read from it rather than copied.
A user's own set is a JSON file of the same form, passed by path.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Sequence

from ..._checks import check_name, check_templates
from .files import read_json, require_file, require_keys

DEFAULT_ZEROSHOT_TEMPLATES = "paper"
"""The template set of the zero-shot sets (PROTOCOL.md section 2)."""

TEMPLATE_SET_FORMAT = '{"description": "...", "templates": ["a photo of a {}.", ...]}'

OPENCLIP_TEMPLATE_SETS: dict[str, str] = {
    "openai_imagenet": "OPENAI_IMAGENET_TEMPLATES",
    "simple_imagenet": "SIMPLE_IMAGENET_TEMPLATES",
}
"""Set name -> the template list of ``open_clip.zero_shot_metadata`` it is."""


def _sets_dir():
    return resources.files("avalanche_clip.benchmarks.datasets") / "template_sets"


def list_template_sets() -> list[str]:
    """Names of the template sets that ship with avalanche-clip (OpenCLIP's included)."""
    files = [p.name[: -len(".json")] for p in _sets_dir().iterdir() if p.name.endswith(".json")]
    return sorted([*files, *OPENCLIP_TEMPLATE_SETS])


def _openclip_set(name: str) -> tuple[str, ...]:
    """OpenCLIP's templates (functions of the class name) written with ``{}`` for the name."""
    from open_clip import zero_shot_metadata

    return check_templates([template("{}") for template in getattr(zero_shot_metadata, OPENCLIP_TEMPLATE_SETS[name])])


def _read_set(path: Path) -> tuple[str, ...]:
    data = require_keys(read_json(path, what="template set file"), ["templates"], where=str(path),
                        expected=TEMPLATE_SET_FORMAT)
    try:
        return check_templates(data["templates"])
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from error


def load_template_set(name: str) -> tuple[str, ...]:
    """The templates of a shipped set (see :func:`list_template_sets`)."""
    check_name("template set", name, list_template_sets())
    if name in OPENCLIP_TEMPLATE_SETS:
        return _openclip_set(name)
    with resources.as_file(_sets_dir() / f"{name}.json") as path:
        return _read_set(path)


def resolve_templates(templates: str | Sequence[str]) -> tuple[str, ...]:
    """Prompt templates from a set name, a template-set JSON file, one template or a list.

    A string holding ``{}`` is one template; a string ending in ``.json`` is the path of a
    template-set file (``{"templates": [...]}``); any other string names a shipped set.
    """
    if not isinstance(templates, str):
        return check_templates(templates)
    if "{}" in templates:
        return check_templates((templates,))
    if templates.endswith(".json"):
        return _read_set(require_file(templates, what="template set file", get=TEMPLATE_SET_FORMAT))
    return load_template_set(templates)


__all__ = [
    "DEFAULT_ZEROSHOT_TEMPLATES",
    "OPENCLIP_TEMPLATE_SETS",
    "TEMPLATE_SET_FORMAT",
    "list_template_sets",
    "load_template_set",
    "resolve_templates",
]
