"""Reproducibility: one call seeds every random number generator an experiment touches."""
from __future__ import annotations

import os
import random

import numpy as np
import torch


def seed_everything(seed: int, deterministic: bool = False) -> torch.Generator:
    """Seed Python's ``random``, NumPy and torch (CPU and every CUDA device).

    Returns a fresh ``torch.Generator`` seeded with ``seed``, for code that wants its own
    stream (data shuffling, dropout masks) independent of the global one.
    ``deterministic=True`` also asks torch for deterministic kernels, which can be slower
    on a GPU; on the CPU the course's experiments are deterministic already.
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed must be in [0, 2**32), got {seed}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


#: Shifts every seed the book's chapters use (0 when the site is built): re-running the
#: chapters with another offset shows which verdicts hold on other seeds.
SEED_OFFSET_VARIABLE = "NNLAB_SEED_OFFSET"


def seed_offset() -> int:
    """The chapters' seed offset, from ``NNLAB_SEED_OFFSET`` (default 0)."""
    text = os.environ.get(SEED_OFFSET_VARIABLE, "").strip() or "0"
    try:
        offset = int(text)
    except ValueError:
        raise ValueError(f"{SEED_OFFSET_VARIABLE} must be a non-negative integer, got {text!r}") from None
    if offset < 0 or offset >= 2**31:
        raise ValueError(f"{SEED_OFFSET_VARIABLE} must be a non-negative integer below 2**31, got {offset}")
    return offset
