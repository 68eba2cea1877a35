"""Gradient clipping three ways: the reference for the ``clipping`` exercise.

* by value: clamp each element; cheap, but it changes the gradient's direction;
* by norm: rescale one tensor so that ``‖t‖₂ ≤ max_norm``; keeps that tensor's direction;
* by global norm: rescale *all* tensors by the same factor ``max_norm / max(g, max_norm)``,
  ``g = √Σ‖tᵢ‖²``; keeps the direction of the whole gradient (Pascanu et al., 2013).
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import torch


def _check_positive(name: str, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {value}")


def clip_by_value(t: torch.Tensor, clip_value: float) -> torch.Tensor:
    """A new tensor with every element clamped to [−clip_value, clip_value]."""
    _check_positive("clip_value", clip_value)
    return t.clamp(-clip_value, clip_value)


def clip_by_norm(t: torch.Tensor, max_norm: float) -> torch.Tensor:
    """``t · max_norm / max(‖t‖₂, max_norm)``: a new tensor whose L2 norm is at most ``max_norm``."""
    _check_positive("max_norm", max_norm)
    norm = float(t.norm())
    return t * (max_norm / max(norm, max_norm))


def global_norm(tensors: Iterable[torch.Tensor]) -> float:
    """√Σ‖tᵢ‖²: the L2 norm of all tensors seen as one vector."""
    return math.sqrt(sum(float(t.detach().double().pow(2).sum()) for t in tensors))


def clip_by_global_norm(tensors: Sequence[torch.Tensor], max_norm: float) -> tuple[list[torch.Tensor], float]:
    """Every tensor times ``max_norm / max(g, max_norm)``, and the global norm ``g`` before clipping."""
    _check_positive("max_norm", max_norm)
    tensors = list(tensors)
    total = global_norm(tensors)
    scale = max_norm / max(total, max_norm)
    return [t * scale for t in tensors], total


def clip_grad_norm_(parameters: Iterable[torch.Tensor] | torch.Tensor, max_norm: float) -> float:
    """Rescale the ``.grad`` of ``parameters`` in place like :func:`clip_by_global_norm`; the norm before."""
    _check_positive("max_norm", max_norm)
    if isinstance(parameters, torch.Tensor):
        parameters = [parameters]
    grads = [p.grad for p in parameters if p.grad is not None]
    total = global_norm(grads)
    scale = max_norm / max(total, max_norm)
    if scale < 1.0:
        with torch.no_grad():
            for grad in grads:
                grad.mul_(scale)
    return total
