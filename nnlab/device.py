"""Where computations run: pick the best available device and move data to it."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch


def default_device() -> torch.device:
    """The fastest device present: CUDA, then Apple's MPS, then the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def to_device(obj: Any, device: torch.device | str, dtype: torch.dtype | None = None) -> Any:
    """Move tensors (also inside tuples, lists and dicts) to ``device``.

    ``dtype``, when given, is applied to floating-point tensors only, so integer labels keep
    their type.
    """
    if isinstance(obj, torch.Tensor):
        if dtype is not None and obj.is_floating_point():
            return obj.to(device=device, dtype=dtype, non_blocking=True)
        return obj.to(device=device, non_blocking=True)
    if isinstance(obj, Mapping):
        return {key: to_device(value, device, dtype) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_device(value, device, dtype) for value in obj)
    return obj


def module_device(module: torch.nn.Module) -> torch.device:
    """The device of a module's first parameter or buffer (the CPU for one without any)."""
    for tensor in module.parameters():
        return tensor.device
    for tensor in module.buffers():
        return tensor.device
    return torch.device("cpu")


def module_dtype(module: torch.nn.Module) -> torch.dtype:
    """The floating dtype of a module's first floating parameter (float32 if it has none)."""
    for tensor in module.parameters():
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.get_default_dtype()
