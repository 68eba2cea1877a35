"""Gradient checking: the reference for the ``gradient_check`` exercise.

A gradient computed by hand (or by a new layer's ``backward``) is compared with a
numerical derivative. The centred difference

    (f(x + h e_i) - f(x - h e_i)) / (2h) = ∂f/∂x_i + h² f'''(ξ)/6

has an error of order h², against h for the one-sided difference; with rounding errors of
size ε·|f|/h on top, the best h in float64 is around 1e-5 to 1e-6. The two gradients are
compared by their relative error, which does not depend on the scale of the loss.

Also here: the backward passes of a linear layer, softmax cross-entropy and BatchNorm,
written out by hand (the ``gradient_check`` exercise's extra tasks and challenge), each
checked against autograd in the tests.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def _scalar(value: object, what: str) -> float:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(f"{what} must return a scalar, got a tensor of shape {tuple(value.shape)}")
        return float(value.item())
    return float(value)


def numerical_gradient(f: Callable[[torch.Tensor], object], x: torch.Tensor, h: float = 1e-5) -> torch.Tensor:
    """The centred-difference gradient of the scalar function ``f`` at ``x``: a tensor of
    ``x``'s shape, element ``i`` being ``(f(x + h e_i) - f(x - h e_i)) / (2h)``.

    ``x`` is changed one element at a time while ``f`` runs, and left exactly as it was.
    """
    if not h > 0:
        raise ValueError(f"h must be positive, got {h}")
    gradient = torch.zeros_like(x)
    flat, out = x.detach().view(-1), gradient.view(-1)  # views: writing to flat writes to x
    with torch.no_grad():
        for i in range(flat.numel()):
            original = flat[i].item()
            flat[i] = original + h
            above = _scalar(f(x), "f")
            flat[i] = original - h
            below = _scalar(f(x), "f")
            flat[i] = original  # the stored value, not original + h - h, which can differ in its last bit
            out[i] = (above - below) / (2 * h)
    return gradient


def relative_error(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-8) -> float:
    """``max_i |a_i - b_i| / max(eps, |a_i| + |b_i|)``: 0 for equal tensors, 1 for opposite
    signs; ``eps`` keeps two near-zero entries from dividing by zero."""
    a, b = torch.as_tensor(a), torch.as_tensor(b)
    if a.shape != b.shape:
        raise ValueError(f"the two gradients must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    if a.numel() == 0:
        return 0.0
    a, b = a.double(), b.double()
    return float(((a - b).abs() / (a.abs() + b.abs()).clamp(min=eps)).max())


def check_gradient(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, h: float = 1e-5) -> float:
    """The relative error between autograd's gradient of ``f`` at ``x`` and the centred
    difference; ``x`` is left as it was."""
    point = x.detach().clone().requires_grad_(True)
    value = f(point)
    if not isinstance(value, torch.Tensor) or value.numel() != 1:
        raise ValueError("f must return a scalar tensor that autograd can differentiate")
    (analytic,) = torch.autograd.grad(value, point)
    numeric = numerical_gradient(f, x.detach().clone(), h)
    return relative_error(analytic, numeric)


class _ScaleGradient(torch.autograd.Function):
    # forward and setup_context apart: torch.func transforms (torch.func.grad) accept only this form
    @staticmethod
    def forward(x, scale):
        return x.view_as(x)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.scale = inputs[1]

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.scale, None


class GradientScale(nn.Module):
    """The identity in the forward pass whose backward multiplies the gradient by ``scale``.

    With ``scale = -1`` it is the gradient reversal layer of domain-adversarial training
    (Ganin & Lempitsky, 2015); with any other scale but 1 it is a layer whose backward is
    wrong on purpose, which a gradient check must catch: the relative error between its
    autograd gradient and a numerical one is ``|scale - 1| / (|scale| + 1)``.
    """

    def __init__(self, scale: float) -> None:
        super().__init__()
        self.scale = float(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _ScaleGradient.apply(x, self.scale)

    def extra_repr(self) -> str:
        return f"scale={self.scale}"


# ----------------------------------------------------------------------------- backward passes by hand


def linear_backward(dout: torch.Tensor, x: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For ``out = x @ w.T + b`` with ``x: (N, D)``, ``w: (M, D)``, ``b: (M,)`` and the upstream
    gradient ``dout: (N, M)``: ``(dx, dw, db) = (dout @ w, dout.T @ x, dout.sum(0))``."""
    if dout.dim() != 2 or x.dim() != 2 or w.dim() != 2:
        raise ValueError("dout, x and w must be matrices")
    if dout.shape[0] != x.shape[0] or dout.shape[1] != w.shape[0] or x.shape[1] != w.shape[1]:
        raise ValueError(f"shapes do not fit out = x @ w.T + b: dout {tuple(dout.shape)}, x {tuple(x.shape)}, w {tuple(w.shape)}")
    return dout @ w, dout.T @ x, dout.sum(0)


def softmax_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean cross-entropy of ``logits: (N, C)`` against class indices ``targets: (N,)`` and its
    gradient with respect to the logits, ``(softmax(logits) - onehot(targets)) / N``.

    The log-softmax is computed as ``z - max(z) - log(sum(exp(z - max(z))))``, so large logits
    do not overflow.
    """
    if logits.dim() != 2 or targets.dim() != 1 or targets.shape[0] != logits.shape[0]:
        raise ValueError(f"logits must be (N, C) and targets (N,), got {tuple(logits.shape)} and {tuple(targets.shape)}")
    n = logits.shape[0]
    shifted = logits - logits.max(dim=1, keepdim=True).values
    log_probs = shifted - shifted.exp().sum(dim=1, keepdim=True).log()
    loss = -log_probs[torch.arange(n), targets].mean()
    dlogits = log_probs.exp()
    dlogits[torch.arange(n), targets] -= 1
    return loss, dlogits / n


def batchnorm_backward(
    dout: torch.Tensor, x: torch.Tensor, gamma: torch.Tensor, eps: float = 1e-5
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For training-mode BatchNorm ``y = γ x̂ + β`` over ``x: (N, D)`` (batch mean, biased
    variance) and the upstream gradient ``dout``: ``(dx, dγ, dβ)``, with

        dx = γ / σ · (dout - mean(dout) - x̂ · mean(dout · x̂)),  σ = sqrt(var + eps),

    the means over the batch (the derivation is in the chapter on batch normalization)."""
    mean = x.mean(dim=0)
    std = torch.sqrt(x.var(dim=0, unbiased=False) + eps)
    x_hat = (x - mean) / std
    dgamma = (dout * x_hat).sum(0)
    dbeta = dout.sum(0)
    dx = gamma / std * (dout - dout.mean(0) - x_hat * (dout * x_hat).mean(0))
    return dx, dgamma, dbeta
