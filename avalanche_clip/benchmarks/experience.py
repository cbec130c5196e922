"""Class names and class timelines on Avalanche experiences.

Avalanche stores no class names; a CLIP classifier needs them to write its prompts. This
decorator, modelled on Avalanche's ``with_classes_timeline``, attaches them (and the class
timeline as sorted lists) to every experience of every stream.
"""

from __future__ import annotations

from copy import copy
from typing import Protocol, Sequence, runtime_checkable

from avalanche.benchmarks.scenarios.generic_scenario import CLScenario, EagerCLStream

from .._checks import check_class_names, check_templates


@runtime_checkable
class CLIPExperience(Protocol):
    """The attributes every experience of an avalanche-clip benchmark carries.

    Attributes:
        class_names: the whole benchmark vocabulary; index = class id.
        classes_in_this_experience: sorted class ids of this experience.
        previous_classes: sorted ids of the classes of the earlier experiences of its stream.
        classes_seen_so_far: ``previous_classes`` and ``classes_in_this_experience``, sorted.
        future_classes: sorted ids of the classes of the later experiences of its stream.
        prompt_templates: the prompt templates to use for this experience, or None for the
            model's own.
        benchmark: the scenario the experience belongs to (Avalanche's metrics read it).
    """

    class_names: tuple[str, ...]
    classes_in_this_experience: list[int]
    previous_classes: list[int]
    classes_seen_so_far: list[int]
    future_classes: list[int]
    prompt_templates: tuple[str, ...] | None
    benchmark: CLScenario


def with_class_names(
    benchmark: CLScenario,
    class_names: Sequence[str],
    *,
    classes: Sequence[Sequence[int]] | None = None,
    templates: Sequence[str] | None = None,
) -> CLScenario:
    """Return a copy of ``benchmark`` whose experiences carry :class:`CLIPExperience` attributes.

    Args:
        benchmark: any Avalanche scenario.
        class_names: one name per class id.
        classes: the class ids of experience ``i`` of every stream; default: the labels found in
            each experience's dataset.
        templates: prompt templates for these experiences; default: the model's own.
    """
    names = check_class_names(class_names)
    templates = None if templates is None else check_templates(templates)
    streams = []
    for stream in benchmark.streams.values():
        experiences = list(stream)
        if classes is not None and len(classes) != len(experiences):
            raise ValueError(
                f"classes has {len(classes)} entries but stream {stream.name!r} has "
                f"{len(experiences)} experiences."
            )
        per_exp = [
            sorted(int(c) for c in (classes[i] if classes is not None else exp.dataset.targets.uniques))
            for i, exp in enumerate(experiences)
        ]
        decorated, previous = [], set()
        for i, exp in enumerate(experiences):
            new = copy(exp)
            later = set().union(*per_exp[i + 1:])
            new.class_names = names
            new.classes_in_this_experience = per_exp[i]
            new.previous_classes = sorted(previous)
            new.classes_seen_so_far = sorted(previous | set(per_exp[i]))
            new.future_classes = sorted(later - previous - set(per_exp[i]))
            new.prompt_templates = templates
            decorated.append(new)
            previous |= set(per_exp[i])
        streams.append(EagerCLStream(stream.name, decorated))
    scenario = CLScenario(streams)
    for stream in streams:
        for experience in stream:
            experience.benchmark = scenario  # what Avalanche's stream confusion matrix reads
    return scenario


__all__ = ["CLIPExperience", "with_class_names"]
