"""The whole configuration of a run, checked before anything is built or written.

Each argument group validates its own values when it is constructed (``ModelSpec``,
``TrainingSpec``, ..., and each plugin its hyper-parameters); :func:`check_run_arguments` checks
what only the run sees: the types of the groups (a Python caller may pass anything), the
plugins, contradictory flags, and whether the model and its weights can be had, so a typo in a
model name or a missing download fails in a second instead of after the data is read.
"""

from __future__ import annotations

from typing import Any, Sequence

from avalanche.core import BasePlugin

from ..models import check_model_source
from ..training.lr_schedules import check_task_names
from .mtil_protocol import MTIL, check_protocol_data
from .specs import CheckpointSpec, EvaluationSpec, ModelSpec, ProtocolSpec, TrainingSpec

WORLD_MODEL = "world"
"""``ModelSpec.name`` of the embedded world's pretrained CLIP."""


def _check_type(name: str, value: Any, expected: type | tuple[type, ...], example: str) -> None:
    if not isinstance(value, expected):
        raise TypeError(f"{name} must be {example}, got {type(value).__name__} {value!r:.80}.")


def check_plugins(plugins: Sequence[Any]) -> None:
    """Every plugin an Avalanche plugin instance, none given twice."""
    seen: set[int] = set()
    for index, plugin in enumerate(plugins):
        if isinstance(plugin, type):
            raise TypeError(f"plugins[{index}] is the class {plugin.__name__}, not an instance: write "
                            f"{plugin.__name__}().")
        _check_type(f"plugins[{index}]", plugin, BasePlugin, "an Avalanche plugin such as VRLwFPlugin()")
        if id(plugin) in seen:
            raise ValueError(f"plugins[{index}] ({type(plugin).__name__}) is given twice: each plugin instance "
                             "holds one method's state; create one instance per use.")
        seen.add(id(plugin))


def check_model_spec(model: ModelSpec) -> None:
    """The model exists and its weights can be had (see ``check_model_source``)."""
    if model.name == WORLD_MODEL:
        if model.pretrained is not None:
            raise ValueError(f"model.pretrained={model.pretrained!r} is given with model.name='world', whose "
                             "weights ship with the package: leave pretrained empty, or name an OpenCLIP model.")
        return
    check_model_source(model.name, model.pretrained)


def check_run_arguments(
    *,
    output_dir: Any,
    seed: Any,
    model: Any,
    data: Any,
    protocol: Any,
    plugins: Sequence[Any],
    training: Any,
    evaluation: Any,
    checkpoint: Any,
    resume: bool,
    overwrite: bool,
) -> None:
    """Check the arguments of ``experiment.run`` before it builds or writes anything.

    Raises:
        TypeError: an argument of the wrong type (the message names it and the type expected).
        ValueError: contradictory flags, an unknown model name (with the closest names), a
            plugin given twice, an MTIL data source under another protocol.
        FileNotFoundError: pretrained weights that are neither a file nor available.
    """
    _check_type("output_dir", output_dir, str, "a directory path")
    if not output_dir.strip():
        raise ValueError("output_dir is empty: give the directory the run writes to.")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an integer, got {type(seed).__name__} {seed!r}.")
    _check_type("model", model, ModelSpec, "a ModelSpec")
    if not callable(getattr(data, "build", None)):  # WorldData, PaperData, or a user's own source
        raise TypeError(f"data must be a data source with build(model), such as WorldData(), an MTILSource or "
                        f"PaperData(...), got {type(data).__name__} {data!r:.80}.")
    _check_type("protocol", protocol, ProtocolSpec, "a ProtocolSpec")
    _check_type("training", training, TrainingSpec, "a TrainingSpec")
    _check_type("evaluation", evaluation, EvaluationSpec, "an EvaluationSpec")
    _check_type("checkpoint", checkpoint, CheckpointSpec, "a CheckpointSpec")
    if resume and overwrite:
        raise ValueError("resume and overwrite are both set: --resume continues the run in output_dir, "
                         "--overwrite replaces it; choose one.")
    check_protocol_data(protocol, data)
    if training.task_lr:
        check_task_lr(training.task_lr, protocol, data)
    check_plugins(plugins)
    check_model_spec(model)


def check_task_lr(task_lr: dict[str, float], protocol: ProtocolSpec, data: Any) -> None:
    """Refuse task learning rates outside MTIL, or for tasks the data source does not have (when it knows)."""
    if protocol.name != MTIL:
        raise ValueError(f"training.task_lr gives named tasks their learning rates; protocol.name={protocol.name!r} "
                         "has no named tasks (use it with protocol.name='mtil').")
    names = data.task_names()
    if names is not None:
        check_task_names(task_lr, names)


__all__ = ["WORLD_MODEL", "check_model_spec", "check_plugins", "check_run_arguments"]
