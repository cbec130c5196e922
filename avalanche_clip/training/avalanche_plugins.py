"""Avalanche's stock training plugins, configurable from the command line and config files.

jsonargparse builds a plugin from ``--plugins+=EWCPlugin --plugins.ewc_lambda 1`` only when every
parameter of its constructor has a type; several of Avalanche's have none (``ewc.py:25-31``).
:data:`UNTYPED_PLUGINS` gives those parameters their types, and one subclass per entry, with the
same name, the same behaviour and Avalanche's own docstring, carries the typed signature.
:data:`RunPlugin` is what a run's ``plugins`` accept: the library's methods and these, so that
``--help`` lists training plugins, not loggers, the clock or checkpoint classes.

Not here: plugins whose constructor takes a live object (``LRSchedulerPlugin``: a scheduler, see
``training.lr_milestones``; ``CWRStarPlugin``: a model; ``GenerativeReplayPlugin``: a generator
strategy) and the NCM/FeCAM class-mean updates of Avalanche's SLDA-like strategies.
"""

from __future__ import annotations

import inspect
from typing import Any, Literal, Union

from avalanche.training import plugins as avalanche_plugins
from avalanche.training.plugins import (
    AGEMPlugin,
    EarlyStoppingPlugin,
    FromScratchTrainingPlugin,
    GDumbPlugin,
    GEMPlugin,
    MASPlugin,
    MIRPlugin,
    ReplayPlugin,
    RWalkPlugin,
    SynapticIntelligencePlugin,
)

from .plugins import (
    GeoDLPlugin,
    IMMPlugin,
    LwFPlugin,
    MoEAdaptersPlugin,
    RKRPlugin,
    VRLwFPlugin,
    WiSEFTPlugin,
    ZSCLPlugin,
)

UNTYPED_PLUGINS: dict[str, dict[str, Any]] = {
    "EWCPlugin": {"ewc_lambda": float, "mode": Literal["separate", "online"], "decay_factor": float | None,
                  "keep_importance_data": bool},
    "LwFPlugin": {"alpha": float | list[float], "temperature": float},
    "LFLPlugin": {"lambda_e": float | list[float]},
    "FeatureDistillationPlugin": {"alpha": float | list[float], "mode": Literal["mse", "cosine"]},
    "CoPEPlugin": {"mem_size": int, "n_classes": int, "p_size": int, "alpha": float, "T": float, "max_it_cnt": int},
    "GSS_greedyPlugin": {"mem_size": int, "mem_strength": int, "input_size": list[int]},
}
"""Avalanche plugin name -> the types of its constructor's parameters."""


def typed_plugin(name: str, types: dict[str, Any]) -> type:
    """A subclass of Avalanche's plugin ``name`` whose keyword-only constructor has ``types``.

    Defaults and docstrings stay Avalanche's; a list default becomes a tuple (immutable).
    """
    base = getattr(avalanche_plugins, name)
    parameters = list(inspect.signature(base.__init__).parameters.values())
    typed = [parameters[0]] + [
        parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=types[parameter.name],
                          default=tuple(parameter.default) if isinstance(parameter.default, list)
                          else parameter.default)
        for parameter in parameters[1:]
    ]

    def __init__(self, **kwargs):
        base.__init__(self, **{k: list(v) if isinstance(v, tuple) else v for k, v in kwargs.items()})

    __init__.__signature__ = inspect.Signature(typed)
    __init__.__doc__ = base.__init__.__doc__
    __init__.__qualname__ = f"{name}.__init__"
    return type(name, (base,), {"__init__": __init__, "__doc__": base.__doc__, "__module__": __name__})


EWCPlugin = typed_plugin("EWCPlugin", UNTYPED_PLUGINS["EWCPlugin"])
AvalancheLwFPlugin = typed_plugin("LwFPlugin", UNTYPED_PLUGINS["LwFPlugin"])
AvalancheLwFPlugin.__qualname__ = AvalancheLwFPlugin.__name__ = "AvalancheLwFPlugin"  # beside the library's LwFPlugin
LFLPlugin = typed_plugin("LFLPlugin", UNTYPED_PLUGINS["LFLPlugin"])
FeatureDistillationPlugin = typed_plugin("FeatureDistillationPlugin", UNTYPED_PLUGINS["FeatureDistillationPlugin"])
CoPEPlugin = typed_plugin("CoPEPlugin", UNTYPED_PLUGINS["CoPEPlugin"])
GSS_greedyPlugin = typed_plugin("GSS_greedyPlugin", UNTYPED_PLUGINS["GSS_greedyPlugin"])

METHOD_PLUGINS: tuple[type, ...] = (VRLwFPlugin, LwFPlugin, GeoDLPlugin, IMMPlugin, RKRPlugin, WiSEFTPlugin,
                                    ZSCLPlugin, MoEAdaptersPlugin)
"""The library's methods: PROTOCOL.md section 6's, WiSE-FT, ZSCL and MoE-Adapters."""
AVALANCHE_PLUGINS: tuple[type, ...] = (
    ReplayPlugin, GEMPlugin, AGEMPlugin, EWCPlugin, SynapticIntelligencePlugin, MASPlugin, RWalkPlugin,
    AvalancheLwFPlugin, LFLPlugin, FeatureDistillationPlugin, GDumbPlugin, MIRPlugin, CoPEPlugin, GSS_greedyPlugin,
    EarlyStoppingPlugin, FromScratchTrainingPlugin,
)
"""Avalanche's training plugins a config can build (typed here where Avalanche's are not)."""

RunPlugin = Union[METHOD_PLUGINS + AVALANCHE_PLUGINS]  # noqa: UP007 (a Union built from a tuple)
"""What a run's ``plugins`` hold: a method of the library or one of Avalanche's training plugins."""

__all__ = [
    "AVALANCHE_PLUGINS", "AvalancheLwFPlugin", "CoPEPlugin", "EWCPlugin", "FeatureDistillationPlugin",
    "GSS_greedyPlugin", "LFLPlugin", "METHOD_PLUGINS", "RunPlugin", "UNTYPED_PLUGINS", "typed_plugin",
]
