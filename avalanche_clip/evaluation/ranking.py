"""Rank-based hit rates, the one definition behind accuracy and Recall@K.

A query (an image, a caption) scores every candidate (classes, captions, images); some
candidates are its positives. The query's rank is the number of **negative** candidates that
score at least as high as its best positive. A hit at K is ``rank < K``: with several positives
(an image's five captions) the query is a hit when any positive is within its top K.

Ties count against the query: a negative scoring exactly as high as the best positive is ranked
above it. So a hit never depends on the order in which a sort breaks ties, and a model that
scores every candidate the same gets 0, not 1.
"""

from __future__ import annotations

import logging
from typing import Iterable, Sequence

import torch
from torch import Tensor

from .._checks import check_positive_int

logger = logging.getLogger(__name__)


def positive_ranks(scores: Tensor, positives: Tensor) -> Tensor:
    """Rank of each query's best positive: negatives scoring at least as high, ``[Q]``.

    Args:
        scores: ``[Q, N]`` scores of every query against every candidate.
        positives: ``[Q, N]`` bool, True where the candidate is a positive of the query; every
            query needs at least one.
    """
    if scores.shape != positives.shape:
        raise ValueError(f"scores {tuple(scores.shape)} and positives {tuple(positives.shape)} differ in shape.")
    if not bool(positives.any(dim=1).all()):
        raise ValueError("Every query needs at least one positive candidate.")
    best = scores.masked_fill(~positives, float("-inf")).amax(dim=1, keepdim=True)  # [Q, 1]
    return ((scores >= best) & ~positives).sum(dim=1)  # [Q]


def hit_rates(ranks: Tensor, ks: Iterable[int]) -> dict[int, float]:
    """Fraction of queries whose rank is below ``k``, for each ``k``."""
    return {k: (ranks < k).double().mean().item() for k in ks}


def label_positives(labels: Tensor, num_classes: int) -> Tensor:
    """``[N, C]`` bool: row ``n`` is True at column ``labels[n]`` only."""
    return torch.nn.functional.one_hot(labels.long(), num_classes).bool()


def check_ks(name: str, ks: Sequence[int], candidates: int, what: str) -> tuple[int, ...]:
    """Return the ``ks`` that are below ``candidates``; each must be a distinct int >= 1.

    A ``k`` of ``candidates`` or more would make every query a hit: such ks are dropped with a
    warning (a default such as top-5 on a 5-class set), and refused if none is left.
    """
    ks = tuple(ks)
    if not ks:
        raise ValueError(f"{name} is empty: give at least one k, e.g. (1, 5).")
    for k in ks:
        check_positive_int(name, k)
    if len(set(ks)) != len(ks):
        raise ValueError(f"{name}={ks} has duplicates.")
    usable = tuple(k for k in ks if k < candidates)
    if not usable:
        raise ValueError(
            f"{name}={ks}: no k is below the number of {what} ({candidates}), so every query would be a hit."
        )
    if usable != ks:
        logger.warning("%s: dropped k=%s, not below the number of %s (%d): every query would be a hit.",
                       name, [k for k in ks if k >= candidates], what, candidates)
    return usable


__all__ = ["check_ks", "hit_rates", "label_positives", "positive_ranks"]
