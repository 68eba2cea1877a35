"""Batch normalization written out: the reference for the ``batchnorm`` exercise.

Ioffe & Szegedy (2015). In training, each feature of a batch ``x: (N, D)`` is normalized
with the batch's mean and *biased* variance, ``x̂ = (x − μ_B) / √(σ²_B + ε)``, then scaled and
shifted, ``y = γ x̂ + β``. Running estimates for evaluation are updated as
``r ← (1 − momentum) r + momentum · stat``, with the *unbiased* variance ``σ²_B · N/(N−1)``
(what ``torch.nn.BatchNorm1d`` does). In evaluation the running estimates replace the
batch statistics, so an example's output no longer depends on the rest of its batch.
"""
from __future__ import annotations

import torch
from torch import nn


def batchnorm_forward(
    x: torch.Tensor,
    gamma: torch.Tensor,
    beta: torch.Tensor,
    running_mean: torch.Tensor,
    running_var: torch.Tensor,
    training: bool,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> torch.Tensor:
    """BatchNorm of ``x: (N, D)`` with ``gamma, beta, running_mean, running_var: (D,)``; returns ``(N, D)``.

    In training the running statistics are updated in place; in evaluation nothing changes.
    """
    if x.dim() != 2:
        raise ValueError(f"x must have shape (N, D), got {tuple(x.shape)}")
    if training:
        if x.shape[0] < 2:
            raise ValueError("training-mode batch normalization needs at least 2 samples per batch")
        mean = x.mean(dim=0)
        var = x.var(dim=0, unbiased=False)
        with torch.no_grad():
            n = x.shape[0]
            running_mean.mul_(1 - momentum).add_(momentum * mean.detach())
            running_var.mul_(1 - momentum).add_(momentum * var.detach() * n / (n - 1))
    else:
        mean, var = running_mean, running_var
    return (x - mean) / torch.sqrt(var + eps) * gamma + beta


class BatchNorm1d(nn.Module):
    """Batch normalization over ``(N, D)`` inputs; behaves like ``torch.nn.BatchNorm1d``."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__()
        if num_features < 1:
            raise ValueError(f"num_features must be >= 1, got {num_features}")
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return batchnorm_forward(
            x, self.weight, self.bias, self.running_mean, self.running_var, self.training, self.momentum, self.eps
        )

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"
