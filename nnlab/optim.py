"""Optimizers written out, as ``torch.optim.Optimizer`` subclasses: the reference for ``optimizers``.

Every update below is for a parameter ``w`` with gradient ``g`` (plus ``λ w`` when
``weight_decay = λ``, the L2 penalty's gradient), learning rate ``η``, step ``t = 1, 2, ...``:

* SGD with momentum μ: ``b ← μ b + g`` (``b₁ = g``); ``w ← w − η b``, or with Nesterov
  ``w ← w − η (g + μ b)``: the gradient is taken "ahead", where momentum is carrying us.
* Adagrad (Duchi et al., 2011): ``s ← s + g²``; ``w ← w − η g / (√s + ε)``: each coordinate's
  step shrinks with the gradients it has seen, which suits sparse features.
* RMSprop (Hinton, 2012): ``s ← α s + (1 − α) g²``; ``w ← w − η g / (√s + ε)``: Adagrad
  with a memory that fades, so steps stop shrinking for good.
* Adam (Kingma & Ba, 2015): ``m ← β₁ m + (1 − β₁) g``, ``v ← β₂ v + (1 − β₂) g²``;
  ``m̂ = m / (1 − β₁ᵗ)``, ``v̂ = v / (1 − β₂ᵗ)``; ``w ← w − η m̂ / (√v̂ + ε)``. Both averages
  start at 0, so without the corrections they are biased toward 0 early on: after one
  step ``v = (1 − β₂) g² = 0.001 g²`` and the step would be ~30x too large in
  ``m/√v = 0.1 g / (0.0316 |g|)``.
* :class:`NormalizedSGD`: ``w ← w − η g / ‖g‖``, the update one of the course's sources
  calls "Adagrad"; it is normalized gradient descent.

Per-parameter buffers live in ``self.state[p]``, created on first use, as in torch.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch.optim import Optimizer


def _check(name: str, value: float, low: float = 0.0, high: float | None = None, low_open: bool = False) -> None:
    too_low = value <= low if low_open else value < low
    too_high = high is not None and not value < high
    if too_low or too_high:
        bound = f"in [{low}, {high})" if high is not None else (f"> {low}" if low_open else f">= {low}")
        raise ValueError(f"{name} must be {bound}, got {value}")


def _loss_of(closure: Callable[[], torch.Tensor] | None) -> torch.Tensor | None:
    if closure is None:
        return None
    with torch.enable_grad():
        return closure()


def _with_gradients(param_groups: list[dict]):
    """``(group, parameter)`` for every parameter that has a gradient; the others are skipped."""
    for group in param_groups:
        for p in group["params"]:
            if p.grad is not None:
                yield group, p


def _gradient(p: torch.Tensor, weight_decay: float) -> torch.Tensor:
    return p.grad if weight_decay == 0 else p.grad.add(p, alpha=weight_decay)


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum and L2 weight decay."""

    def __init__(self, params, lr: float, momentum: float = 0.0, nesterov: bool = False, weight_decay: float = 0.0):
        _check("lr", lr)
        _check("momentum", momentum)
        _check("weight_decay", weight_decay)
        if nesterov and momentum <= 0:
            raise ValueError("nesterov=True needs a momentum > 0")
        super().__init__(params, dict(lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = _loss_of(closure)
        for group, p in _with_gradients(self.param_groups):
            mu = group["momentum"]
            g = _gradient(p, group["weight_decay"])
            if mu:
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = g.clone()
                else:
                    state["momentum_buffer"].mul_(mu).add_(g)
                buffer = state["momentum_buffer"]
                g = g.add(buffer, alpha=mu) if group["nesterov"] else buffer
            p.add_(g, alpha=-group["lr"])
        return loss


class Adagrad(Optimizer):
    """Adagrad: per-coordinate steps ``η / (√Σg² + ε)``."""

    def __init__(self, params, lr: float = 1e-2, eps: float = 1e-10):
        _check("lr", lr)
        _check("eps", eps)
        super().__init__(params, dict(lr=lr, eps=eps))

    @torch.no_grad()
    def step(self, closure=None):
        loss = _loss_of(closure)
        for group, p in _with_gradients(self.param_groups):
            state = self.state[p]
            if "sum" not in state:
                state["sum"] = torch.zeros_like(p)
            state["sum"].addcmul_(p.grad, p.grad)
            p.addcdiv_(p.grad, state["sum"].sqrt().add_(group["eps"]), value=-group["lr"])
        return loss


class RMSprop(Optimizer):
    """RMSprop (not centered, no momentum): steps ``η / (√(EMA of g²) + ε)``."""

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0.0):
        _check("lr", lr)
        _check("alpha", alpha, 0.0, 1.0)
        _check("eps", eps)
        _check("weight_decay", weight_decay)
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = _loss_of(closure)
        for group, p in _with_gradients(self.param_groups):
            alpha = group["alpha"]
            g = _gradient(p, group["weight_decay"])
            state = self.state[p]
            if "square_avg" not in state:
                state["square_avg"] = torch.zeros_like(p)
            square_avg = state["square_avg"].mul_(alpha).addcmul_(g, g, value=1 - alpha)
            p.addcdiv_(g, square_avg.sqrt().add_(group["eps"]), value=-group["lr"])
        return loss


class Adam(Optimizer):
    """Adam with bias correction and L2 weight decay (added to the gradient; not AdamW)."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        _check("lr", lr)
        if len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        _check("betas[0]", betas[0], 0.0, 1.0)
        _check("betas[1]", betas[1], 0.0, 1.0)
        _check("eps", eps)
        _check("weight_decay", weight_decay)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = _loss_of(closure)
        for group, p in _with_gradients(self.param_groups):
            beta1, beta2 = group["betas"]
            g = _gradient(p, group["weight_decay"])
            state = self.state[p]
            if not state:
                state["step"] = 0
                state["exp_avg"] = torch.zeros_like(p)
                state["exp_avg_sq"] = torch.zeros_like(p)
            state["step"] += 1
            t = state["step"]
            m = state["exp_avg"].mul_(beta1).add_(g, alpha=1 - beta1)
            v = state["exp_avg_sq"].mul_(beta2).addcmul_(g, g, value=1 - beta2)
            m_hat = m / (1 - beta1**t)
            v_hat = v / (1 - beta2**t)
            p.addcdiv_(m_hat, v_hat.sqrt().add_(group["eps"]), value=-group["lr"])
        return loss


class NormalizedSGD(Optimizer):
    """Normalized gradient descent, ``w ← w − η g / ‖g‖`` per parameter tensor: direction only."""

    def __init__(self, params, lr: float, eps: float = 1e-12):
        _check("lr", lr)
        _check("eps", eps)
        super().__init__(params, dict(lr=lr, eps=eps))

    @torch.no_grad()
    def step(self, closure=None):
        loss = _loss_of(closure)
        for group, p in _with_gradients(self.param_groups):
            p.add_(p.grad / (p.grad.norm() + group["eps"]), alpha=-group["lr"])
        return loss


def trajectory(
    make_optimizer: Callable[[list[torch.Tensor]], Optimizer],
    loss: Callable[[torch.Tensor], torch.Tensor],
    start: tuple[float, ...] | torch.Tensor,
    steps: int,
) -> tuple[torch.Tensor, list[float]]:
    """Minimize ``loss(point)`` from ``start`` with an optimizer, for pictures of its path.

    ``make_optimizer([point])`` builds the optimizer (e.g. ``lambda p: SGD(p, lr=0.1)``);
    the point is a float64 vector. Returns the ``(steps + 1, dims)`` tensor of visited points
    (``start`` first) and the loss at each of them; stops early if the loss is not finite.
    """
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    point = torch.as_tensor(start, dtype=torch.float64).detach().clone().requires_grad_(True)
    if point.dim() != 1:
        raise ValueError(f"start must be a vector, got shape {tuple(point.shape)}")
    optimizer = make_optimizer([point])
    points, losses = [point.detach().clone()], []
    for _ in range(steps):
        optimizer.zero_grad()
        value = loss(point)
        losses.append(float(value.detach()))
        if not torch.isfinite(value):
            break
        value.backward()
        optimizer.step()
        points.append(point.detach().clone())
    if len(losses) < len(points):
        with torch.no_grad():
            losses.append(float(loss(point)))
    return torch.stack(points), losses


def full_batch_losses(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, optimizer: Optimizer,
                      evaluations: int) -> list[float]:
    """Train ``model`` on the whole of ``(x, y)`` (cross-entropy) until the loss was evaluated
    ``evaluations`` times; the loss at each evaluation.

    Counting evaluations rather than steps compares methods that evaluate the loss several
    times per step (L-BFGS with a line search) with those that evaluate it once (Adam).
    """
    if not isinstance(evaluations, int) or evaluations < 1:
        raise ValueError(f"evaluations must be a positive int, got {evaluations!r}")
    losses: list[float] = []

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        losses.append(float(loss.detach()))
        return loss

    while len(losses) < evaluations:
        before = len(losses)
        optimizer.step(closure)
        if len(losses) == before:
            raise RuntimeError("the optimizer's step did not call the closure")
    return losses[:evaluations]
