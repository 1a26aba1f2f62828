"""Deterministic, resumable training: ``for event in train(config, resume_from=None): …``."""

from .config import RunConfig, flatten, resolve, sectioned
from .events import TIMING_KEYS, Checkpoint, Finished, Metrics
from .loop import load_dataset, train

__all__ = ["TIMING_KEYS", "Checkpoint", "Finished", "Metrics", "RunConfig", "flatten",
           "load_dataset", "resolve", "sectioned", "train"]
