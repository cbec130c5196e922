"""The prompt templates of the world's classification sets.

The update classes use the paper's prompt; each zero-shot set has its own, as in the paper.
"""

from __future__ import annotations

UPDATE_TEMPLATES: tuple[str, ...] = ("this is a photo of {} in the scene .",)
"""The update task's prompt (PROTOCOL.md section 2)."""

SHAPE_TEMPLATES: tuple[str, ...] = ("a photo of a {} .", "there is a {} in the scene .")
"""The held-out categories' zero-shot prompts."""

COLOUR_TEMPLATES: tuple[str, ...] = ("a {} object .", "something {} in the scene .")
"""The colours' zero-shot prompts."""

PROMPTS: dict[str, tuple[str, ...]] = {
    "update": UPDATE_TEMPLATES,
    "shapes": SHAPE_TEMPLATES,
    "colours": COLOUR_TEMPLATES,
}
"""Every template set of the world, by name."""

__all__ = ["COLOUR_TEMPLATES", "PROMPTS", "SHAPE_TEMPLATES", "UPDATE_TEMPLATES"]
