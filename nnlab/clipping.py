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
from torch import nn

from nnlab.train import Callback


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


CLIPPINGS = ("none", "value", "norm", "global_norm")


class ClipGradients(Callback):
    """Clip the gradients inside :func:`nnlab.fit` after every backward pass, and record what it did.

    ``how``: ``"value"`` (each element), ``"norm"`` (each parameter tensor on its own),
    ``"global_norm"`` (all tensors by one factor) or ``"none"`` (only record). Per step it
    keeps the global norm before clipping (``norms``) and the cosine between the clipped and
    the raw gradient (``cosines``: 1 means the direction was kept).
    """

    def __init__(self, how: str, threshold: float | None = None) -> None:
        if how not in CLIPPINGS:
            raise ValueError(f"how must be one of {CLIPPINGS}, got {how!r}")
        if how != "none":
            _check_positive("threshold", threshold if threshold is not None else 0.0)
        self.how, self.threshold = how, threshold
        self.norms: list[float] = []
        self.cosines: list[float] = []

    def _clipped(self, grads: list[torch.Tensor]) -> list[torch.Tensor]:
        if self.how == "value":
            return [clip_by_value(g, self.threshold) for g in grads]
        if self.how == "norm":
            return [clip_by_norm(g, self.threshold) for g in grads]
        if self.how == "global_norm":
            return clip_by_global_norm(grads, self.threshold)[0]
        return grads

    def on_after_backward(self, model: nn.Module, step: int) -> None:
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        if not grads:
            return
        raw = torch.cat([g.detach().flatten() for g in grads]).double()
        clipped = self._clipped(grads)
        with torch.no_grad():
            for grad, new in zip(grads, clipped):
                if new is not grad:
                    grad.copy_(new)
        after = torch.cat([g.detach().flatten() for g in grads]).double()
        self.norms.append(float(raw.norm()))
        self.cosines.append(float(torch.nn.functional.cosine_similarity(raw, after, dim=0)))

    def __repr__(self) -> str:
        return f"ClipGradients(how={self.how!r}, threshold={self.threshold}, steps={len(self.norms)})"
