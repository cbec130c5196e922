"""Datasets: the evaluation-data contracts and the real loaders."""

from .protocols import RetrievalDataset, ZeroShotDataset

__all__ = ["RetrievalDataset", "ZeroShotDataset"]
