"""Named prompt-template sets, stored as JSON data files in the package.

Each ``template_sets/<name>.json`` is ``{"description": ..., "templates": ["... {} ...", ...]}``.
Shipped: ``paper`` (``"this is a photo of {} ."``, the zero-shot default), ``openai_imagenet``
(CLIP's 80 ImageNet prompts) and ``simple_imagenet`` (its 7-prompt subset). A user's own set is
a JSON file of the same form, passed by path.
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


def _sets_dir():
    return resources.files("avalanche_clip.benchmarks.datasets") / "template_sets"


def list_template_sets() -> list[str]:
    """Names of the template sets that ship with avalanche-clip."""
    return sorted(p.name[: -len(".json")] for p in _sets_dir().iterdir() if p.name.endswith(".json"))


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
    "TEMPLATE_SET_FORMAT",
    "list_template_sets",
    "load_template_set",
    "resolve_templates",
]
