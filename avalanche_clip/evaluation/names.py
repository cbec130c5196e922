"""The names avalanche-clip's metrics are logged under, in Avalanche's scheme.

Avalanche names a value ``{metric}/{phase}_phase/{stream}_stream[/Exp{e:03}]``. The evaluation
sets of the zero-shot and retrieval metrics are not streams, so their values are named by set:
``ZeroShot_Top1_Acc/eval_phase/<set>``, ``Retrieval_TR@5/eval_phase/<set>``; the updated-task
values are named by the test stream they are measured on: ``UT_Acc/eval_phase/test_stream``,
``UT_Session_Acc/eval_phase/test_stream/Exp003``. A forgetting value adds ``_Forgetting`` to the
metric: ``ZeroShot_Top1_Acc_Forgetting/eval_phase/<set>``. The MTIL values add the dataset to the
stream's name (``MTIL_Acc/eval_phase/test_stream/DTD``), or nothing for the mean over datasets.

The metrics build names here and the results summary (:mod:`avalanche_clip.results.summary`)
parses them back here, so the two cannot drift apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

PHASE = "eval_phase"
FORGETTING_SUFFIX = "_Forgetting"

ORIGINAL = -1
"""The experience of the values measured before any training, the original model's."""

UT_ACC = "UT_Acc"
"""Updated-task accuracy (PROTOCOL.md section 8): OST sample top-1, MST mean of a[t][i], i <= t."""
UT_SESSION_ACC = "UT_Session_Acc"
"""MST matrix entry a[t][i]: mean per-class accuracy on session i's classes; ``/Exp{i:03}``."""
BWT = "BWT"
"""Backward transfer as the paper's authors compute it: (1/(t+1)) sum_{i<=t} (a[t][i] - a[i][i])."""
BWT_COMMON = "BWT_Common"
"""Backward transfer, common definition: mean over i < t of (a[t][i] - a[i][i]); 0 at t = 0."""

MTIL_ACC = "MTIL_Acc"
"""MTIL matrix entry A[t, d]: sample top-1 on dataset d among its own classes after task t; ``/<dataset>``
(without: the mean over the datasets of the row)."""
MTIL_TRANSFER = "MTIL_Transfer"
"""ZSCL's Transfer: per dataset the mean of A[t, d] over the tasks t learned before d; mean over such d."""
MTIL_AVG = "MTIL_Avg"
"""ZSCL's Avg: per dataset the mean of A[t, d] over every task t (not the original row); mean over d."""
MTIL_LAST = "MTIL_Last"
"""ZSCL's Last: per dataset A[last, d]; mean over d."""
MTIL_METRICS: tuple[str, ...] = (MTIL_ACC, MTIL_TRANSFER, MTIL_AVG, MTIL_LAST)

SKIPPED_STEPS = "NonFinite_Skipped_Steps"
"""Training steps skipped for a non-finite loss or gradient, in the whole run so far."""
SKIPPED_STEPS_NAME = f"{SKIPPED_STEPS}/train_phase/train_stream"
"""The full name the skipped-steps count is logged under."""

Direction = Literal["TR", "IR"]


def zeroshot_metric(k: int) -> str:
    """The metric of zero-shot top-``k`` accuracy, e.g. ``ZeroShot_Top1_Acc``."""
    return f"ZeroShot_Top{k}_Acc"


def recall_metric(direction: Direction, k: int) -> str:
    """The metric of retrieval Recall@``k``: ``Retrieval_TR@k`` (image to text) or ``_IR@k``."""
    return f"Retrieval_{direction}@{k}"


def forgetting_metric(metric: str) -> str:
    """The metric of the forgetting of ``metric`` (original value minus current value)."""
    return metric + FORGETTING_SUFFIX


def set_value_name(metric: str, set_name: str) -> str:
    """The full name of ``metric`` measured on the evaluation set ``set_name``."""
    return f"{metric}/{PHASE}/{set_name}"


def stream_value_name(metric: str, stream: str, experience: int | None = None) -> str:
    """The full name of ``metric`` on ``stream`` (optionally on one of its experiences)."""
    name = f"{metric}/{PHASE}/{stream}_stream"
    return name if experience is None else f"{name}/Exp{experience:03d}"


def dataset_value_name(metric: str, stream: str, dataset: str | None = None) -> str:
    """The full name of an MTIL ``metric`` on ``stream``, of one ``dataset`` or (None) the mean over datasets."""
    name = stream_value_name(metric, stream)
    return name if dataset is None else f"{name}/{dataset}"


_MTIL_NAME = re.compile(rf"^(?P<metric>MTIL_[A-Za-z]+)/{PHASE}/(?P<stream>[^/]+)_stream(?:/(?P<dataset>[^/]+))?$")


def parse_dataset_name(name: str) -> tuple[str, str, str | None] | None:
    """``(metric, stream, dataset or None)`` of a name of :func:`dataset_value_name`; None for other names."""
    match = _MTIL_NAME.match(name)
    if match is None or match["metric"] not in MTIL_METRICS:
        return None
    return match["metric"], match["stream"], match["dataset"]


@dataclass(frozen=True)
class ParsedName:
    """A full metric name split into its parts.

    Attributes:
        metric: the metric, without ``_Forgetting``.
        forgetting: whether the value is the forgetting of ``metric``.
        where: the evaluation set, or ``<stream>_stream``.
        experience: the experience id of an ``/Exp{e:03}`` name, else None.
    """

    metric: str
    forgetting: bool
    where: str
    experience: int | None


_NAME = re.compile(rf"^(?P<metric>[^/]+)/{PHASE}/(?P<where>[^/]+?)(?:/Exp(?P<exp>\d+))?$")


def parse_name(name: str) -> ParsedName | None:
    """Split an ``eval_phase`` metric name; None for a name of another shape."""
    match = _NAME.match(name)
    if match is None:
        return None
    metric = match["metric"]
    forgetting = metric.endswith(FORGETTING_SUFFIX)
    if forgetting:
        metric = metric[: -len(FORGETTING_SUFFIX)]
    experience = None if match["exp"] is None else int(match["exp"])
    return ParsedName(metric, forgetting, match["where"], experience)


def check_set_name(set_name: str) -> str:
    """Return ``set_name`` if it can be part of a metric name (non-empty, no ``/``)."""
    if not isinstance(set_name, str) or not set_name.strip() or "/" in set_name:
        raise ValueError(
            f"Evaluation set name {set_name!r} is not valid: use a non-empty name without '/', "
            "such as 'coco5k' or 'heldout_shapes'."
        )
    return set_name


__all__ = [
    "BWT",
    "BWT_COMMON",
    "Direction",
    "FORGETTING_SUFFIX",
    "MTIL_ACC",
    "MTIL_AVG",
    "MTIL_LAST",
    "MTIL_METRICS",
    "MTIL_TRANSFER",
    "ORIGINAL",
    "PHASE",
    "ParsedName",
    "SKIPPED_STEPS",
    "SKIPPED_STEPS_NAME",
    "UT_ACC",
    "UT_SESSION_ACC",
    "check_set_name",
    "dataset_value_name",
    "forgetting_metric",
    "parse_dataset_name",
    "parse_name",
    "recall_metric",
    "set_value_name",
    "stream_value_name",
    "zeroshot_metric",
]
