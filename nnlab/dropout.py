"""Inverted dropout: the reference for the ``dropout`` exercise.

Srivastava et al. (2014). During training each unit is zeroed with probability ``p`` and
the survivors are divided by ``1 − p``, so every unit keeps its expected value
(``E[y] = (1 − p) · x/(1 − p) = x``) and evaluation needs no rescaling at all.
"""
from __future__ import annotations

import torch
from torch import nn


def _check_p(p: float) -> None:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p}")


def dropout(x: torch.Tensor, p: float, training: bool, generator: torch.Generator | None = None) -> torch.Tensor:
    """Each element of ``x`` is 0 with probability ``p``, else ``x / (1 − p)``; ``x`` itself in eval or for p = 0."""
    _check_p(p)
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return torch.zeros_like(x)
    keep = torch.rand(x.shape, generator=generator, device=x.device) >= p
    return x * keep.to(x.dtype) / (1.0 - p)


class Dropout(nn.Module):
    """Inverted dropout as a layer; active only in training mode."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        _check_p(p)
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"
