"""MethodPlugin: what a run, its report and its resume need from a continual-learning method.

Every method of the library (LwF, VR-LwF, GeoDL, IMM, RKR) derives from it, and so can a user's
own method: ``experiment.run`` names the run after the plugins' :attr:`~MethodPlugin.label`,
seeds each plugin left without a seed (:meth:`~MethodPlugin.set_seed`), and a checkpoint holds
each plugin's :meth:`~MethodPlugin.state_dict`, put back after :meth:`~MethodPlugin.prepare` has
given a fresh model the plugin's structure. A plugin that is not a ``MethodPlugin`` (Avalanche's
EWC, replay) still trains, but a resumed run restarts its state.

A subclass overrides only what applies to it; the defaults are those of a method with no
randomness, no model surgery and no state of its own::

    class ScaledCE(MethodPlugin):
        label = "ScaledCE"

        def __init__(self, *, weight: float = 0.5):
            super().__init__()
            self.weight = weight
            self.steps = 0

        def before_backward(self, strategy: "CLIPStrategy", **kwargs):
            strategy.loss = strategy.loss * self.weight
            self.steps += 1

        def state_dict(self) -> dict:
            return {"steps": self.steps}

        def load_state_dict(self, state: dict) -> None:
            self.steps = state["steps"]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from avalanche.training.plugins import SupervisedPlugin

if TYPE_CHECKING:
    from ...models import CLIPClassifier


class MethodPlugin(SupervisedPlugin, supports_distributed=True):
    """Base of the continual-learning method plugins: a name in reports, a seed, model surgery, state.

    Attributes:
        seed: seeds the plugin's random draws; None: derive one from the run's seed (``experiment.run``
            calls :meth:`set_seed` with it). None for a method that draws nothing.
    """

    seed: int | None = None

    @property
    def label(self) -> str:
        """The method's name in reports ("VR-LwF"); default: the class name without ``Plugin``.

        A subclass sets it as a class attribute: ``label = "LwF"``.
        """
        return type(self).__name__.removesuffix("Plugin")

    def set_seed(self, seed: int | None) -> None:
        """Seed the plugin's random draws (a method that draws random numbers overrides it; default: nothing)."""

    def prepare(self, model: CLIPClassifier) -> None:
        """Give ``model`` the structure this method adds (e.g. RKR's rectifiers), so a saved state fits it.

        Called on a fresh model before a checkpoint's model state goes back into it; must be a no-op
        on a model that already has the structure. Default: nothing (the method changes no structure).
        """

    def state_dict(self) -> dict[str, Any]:
        """The method's own state (tensors on the CPU), to resume a run; default: none."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Put back :meth:`state_dict` (into a plugin built with the same arguments); default: nothing."""


__all__ = ["MethodPlugin"]
