"""Argument checks that name the parameter, the value received and what is valid.

One helper per kind of check, in the spirit of torchvision's ``verify_str_arg``: every public
constructor validates its input here instead of with ``assert``.
"""

from __future__ import annotations

import difflib
from typing import Collection, Iterable, Mapping, Sequence, TypeVar

T = TypeVar("T")


def check_choice(name: str, value: T, choices: Collection[T]) -> T:
    """Return ``value`` if it is one of ``choices``, else raise a ValueError listing them."""
    if value not in choices:
        raise ValueError(
            f"{name}={value!r} is not valid. Available: {', '.join(map(repr, choices))}."
        )
    return value


def check_name(kind: str, value: str, available: Iterable[str]) -> str:
    """Return ``value`` if it is an available name, else raise a ValueError with the closest."""
    available = sorted(available)
    if not isinstance(value, str):
        raise TypeError(f"The {kind} must be given by name (a string), got {type(value).__name__} {value!r:.60}. "
                        f"Available: {', '.join(available)}.")
    if value in available:
        return value
    close = difflib.get_close_matches(value, available, n=5, cutoff=0.5)
    hint = f" Closest: {', '.join(close)}." if close else ""
    raise ValueError(
        f"Unknown {kind} {value!r}.{hint} Available: {', '.join(available)}."
    )


def check_non_negative(name: str, value: float) -> float:
    """Return ``value`` if it is a finite number >= 0."""
    if not value >= 0 or value == float("inf"):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}.")
    return value


def check_positive(name: str, value: float) -> float:
    """Return ``value`` if it is a finite number > 0."""
    if not value > 0 or value == float("inf"):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}.")
    return value


def check_fraction(name: str, value: float) -> float:
    """Return ``value`` if it is a number in [0, 1) (a probability that leaves something: smoothing, dropout)."""
    if not 0 <= value < 1:
        raise ValueError(f"{name} must be a number in [0, 1), got {value!r}.")
    return value


def check_positive_int(name: str, value: int) -> int:
    """Return ``value`` if it is an int >= 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}.")
    return value


def check_non_negative_int(name: str, value: int) -> int:
    """Return ``value`` if it is an int >= 0."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}.")
    return value


def _is_collection(value: object) -> bool:
    """A list-like of items: iterable, but not a string, bytes or a mapping."""
    return hasattr(value, "__iter__") and not isinstance(value, (str, bytes, Mapping))


def check_class_names(class_names: Sequence[str]) -> tuple[str, ...]:
    """Return the class names as a tuple; refuse an empty list, non-strings and duplicates."""
    if not _is_collection(class_names):
        raise TypeError(f"class_names must be a list of names, one per class id, got {type(class_names).__name__} "
                        f"{class_names!r:.60}.")
    names = tuple(class_names)
    if not names:
        raise ValueError("class_names is empty: give one name per class id.")
    bad = [n for n in names if not isinstance(n, str) or not n.strip()]
    if bad:
        raise ValueError(f"class_names must be non-empty strings, got {bad[:5]!r}.")
    seen: set[str] = set()
    duplicates = sorted({n for n in names if n in seen or seen.add(n)})
    if duplicates:
        raise ValueError(
            f"class_names has duplicates {duplicates}: each class needs a distinct name, "
            "or its prompts cannot tell the classes apart."
        )
    return names


def check_templates(templates: Sequence[str]) -> tuple[str, ...]:
    """Return the prompt templates as a tuple; each must contain one ``{}`` for the class name."""
    if isinstance(templates, str):
        templates = (templates,)
    if not _is_collection(templates):
        raise TypeError(f"templates must be a list of prompt templates such as 'a photo of a {{}}.', got "
                        f"{type(templates).__name__} {templates!r:.60}.")
    result = tuple(templates)
    if not result:
        raise ValueError("templates is empty: give at least one prompt template such as "
                         "'this is a photo of {} .'.")
    bad = [t for t in result if not isinstance(t, str) or t.count("{}") != 1]
    if bad:
        raise ValueError(
            f"Each prompt template must contain exactly one '{{}}' for the class name; "
            f"got {bad!r}."
        )
    return result


__all__ = [
    "check_choice",
    "check_class_names",
    "check_fraction",
    "check_name",
    "check_non_negative",
    "check_non_negative_int",
    "check_positive",
    "check_positive_int",
    "check_templates",
]
