"""Weight initializers, written out: the reference for the ``initialization`` exercise.

Each function fills a weight tensor in place under ``torch.no_grad()`` and returns it, like
``torch.nn.init``. The variance argument behind all of them: for ``y = W x`` with
independent zero-mean entries, ``Var(y_i) = fan_in · Var(w) · E[x²]``. Keeping the forward
signal's variance constant asks for ``Var(w) = 1/fan_in``; keeping the backward gradient's
variance constant asks for ``Var(w) = 1/fan_out``. Glorot and Bengio (2010) compromise with
``2/(fan_in + fan_out)``; He et al. (2015) double ``1/fan_in`` because a ReLU zeroes half of
its inputs, halving ``E[x²]``; LeCun et al. (1998) use ``1/fan_in``, which SELU networks need.
"""
from __future__ import annotations

import math

import torch


def fans(weight: torch.Tensor) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight.

    ``weight``: ``(out, in)`` for a linear layer, ``(out, in, *kernel)`` for a convolution,
    where each output unit sees ``in · prod(kernel)`` inputs and each input reaches
    ``out · prod(kernel)`` outputs.
    """
    if not isinstance(weight, torch.Tensor):
        raise TypeError(f"weight must be a torch.Tensor, got {type(weight).__name__}")
    if weight.dim() < 2:
        raise ValueError(f"fan_in and fan_out need a weight with at least 2 dims, got shape {tuple(weight.shape)}")
    receptive = math.prod(weight.shape[2:])
    return int(weight.shape[1] * receptive), int(weight.shape[0] * receptive)


def xavier_uniform_(weight: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
    """Glorot uniform: U(−a, a) with a = gain · √(6 / (fan_in + fan_out)), so Var = gain² · 2/(fan_in + fan_out)."""
    fan_in, fan_out = fans(weight)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    with torch.no_grad():
        return weight.uniform_(-bound, bound)


def xavier_normal_(weight: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
    """Glorot normal: N(0, σ²) with σ = gain · √(2 / (fan_in + fan_out))."""
    fan_in, fan_out = fans(weight)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    with torch.no_grad():
        return weight.normal_(0.0, std)


def he_normal_(weight: torch.Tensor, mode: str = "fan_in") -> torch.Tensor:
    """He (Kaiming) normal for ReLU: N(0, 2 / fan) with fan = fan_in (forward) or fan_out (backward)."""
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = fans(weight)
    fan = fan_in if mode == "fan_in" else fan_out
    with torch.no_grad():
        return weight.normal_(0.0, math.sqrt(2.0 / fan))


def lecun_normal_(weight: torch.Tensor) -> torch.Tensor:
    """LeCun normal: N(0, 1 / fan_in), the initialization self-normalizing (SELU) networks assume."""
    fan_in, _ = fans(weight)
    with torch.no_grad():
        return weight.normal_(0.0, math.sqrt(1.0 / fan_in))
