"""Vanishing and exploding gradients, measured: the reference for ``vanishing_gradients``.

Backpropagation multiplies, layer by layer, by each activation's derivative and each
weight matrix. The sigmoid's derivative is at most 1/4 (at 0), so through ``L`` sigmoid
layers with unit-scale weights the gradient shrinks like ``4^-L``: the layers nearest the
input, the last factors of the product, learn first to stall.
"""
from __future__ import annotations

import torch
from torch import nn


def sigmoid_derivative(x: torch.Tensor) -> torch.Tensor:
    """σ'(x) = σ(x)(1 − σ(x)), elementwise; same shape as ``x``. Its maximum is 1/4, at x = 0."""
    s = torch.sigmoid(x)
    return s * (1 - s)


def grad_norms(model: nn.Module) -> dict[str, float]:
    """``{name: ‖grad‖₂}`` for each parameter with a gradient, in ``named_parameters`` order."""
    return {name: float(p.grad.detach().norm()) for name, p in model.named_parameters() if p.grad is not None}


@torch.no_grad()
def activation_stds(model: nn.Sequential, x: torch.Tensor) -> list[float]:
    """Feed ``x`` through each child of ``model`` in turn; the (unbiased) std of each output."""
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"activation_stds needs an nn.Sequential, got {type(model).__name__}")
    stds = []
    with torch.no_grad():  # a measurement: no graph is built, no activation is kept for a backward pass
        for child in model:
            x = child(x)
            stds.append(float(x.std()))
    return stds
