"""The batch size: the noise of a mini-batch gradient, the cost of a step, and training with a
batch size that changes over the epochs.

* :func:`gradient_noise`: how far mini-batch gradients scatter around the full-batch gradient;
* :func:`step_times`: the seconds one training step takes at each of several batch sizes;
* :func:`fit_batch_schedule`: SGD whose batch size and learning rate follow a per-epoch
  schedule, for growing the batch instead of decaying the rate.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from nnlab.data import Splits, TensorLoader


@dataclass(frozen=True)
class GradientNoise:
    """Mini-batch gradients of one size against the full-batch gradient."""

    batch_size: int
    noise: float  # mean over draws of ||g_B - g||^2: the trace of the mini-batch gradient's covariance
    signal: float  # ||g||^2, the full-batch gradient's squared norm
    predicted: float  # trace(Sigma) / B * (N - B) / (N - 1), Sigma from single-example gradients

    @property
    def signal_to_noise(self) -> float:
        """``||g|| / sqrt(noise)``: grows as the square root of the batch size."""
        return math.sqrt(self.signal / self.noise)


def _flat_gradient(model: nn.Module, loss: torch.Tensor) -> torch.Tensor:
    grads = torch.autograd.grad(loss, [p for p in model.parameters() if p.requires_grad])
    return torch.cat([g.flatten() for g in grads])


def gradient_noise(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_sizes: list[int],
    draws: int = 64,
    examples: int = 256,
    seed: int = 0,
    reduction: str = "mean",
) -> list[GradientNoise]:
    """The scatter of mini-batch gradients of cross-entropy at the model's current weights.

    For each batch size ``B``, ``draws`` batches are drawn without replacement from the ``N``
    examples; ``noise`` is the mean squared distance of their gradients from the full-batch
    gradient. The prediction comes from ``examples`` single-example gradients: their
    covariance's trace over ``B``, times the finite-population factor ``(N - B)/(N - 1)``
    (a batch of all ``N`` examples has no noise). ``reduction="sum"`` sums the batch's losses
    instead of averaging them: every gradient, the signal and the noise alike, is then ``B``
    times larger, and the signal-to-noise ratio is unchanged.
    """
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    n = len(x)
    for b in batch_sizes:
        if not isinstance(b, int) or not 1 <= b <= n:
            raise ValueError(f"batch sizes must be ints in [1, {n}], got {b!r}")
    loss_fn = nn.functional.cross_entropy
    generator = torch.Generator().manual_seed(seed)
    full = _flat_gradient(model, loss_fn(model(x), y))
    singles = torch.stack(
        [_flat_gradient(model, loss_fn(model(x[i : i + 1]), y[i : i + 1]))
         for i in torch.randperm(n, generator=generator)[: min(examples, n)]]
    )
    trace = float(((singles - singles.mean(0)) ** 2).sum(1).mean()) * len(singles) / max(1, len(singles) - 1)
    results = []
    for b in batch_sizes:
        scale = b if reduction == "sum" else 1
        distances = []
        for _ in range(draws):
            index = torch.randperm(n, generator=generator)[:b]
            g = _flat_gradient(model, loss_fn(model(x[index]), y[index], reduction=reduction))
            distances.append(float(((g - scale * full) ** 2).sum()))
        correction = (n - b) / (n - 1) if n > 1 else 0.0
        results.append(GradientNoise(
            batch_size=b,
            noise=sum(distances) / draws,
            signal=float((scale * full).pow(2).sum()),
            predicted=scale**2 * trace / b * correction,
        ))
    return results


def step_times(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_sizes: list[int], steps: int = 20,
               rounds: int = 5) -> dict[int, float]:
    """Seconds per SGD step (forward, backward, update) at each batch size.

    The sizes are timed in turn, ``steps`` steps each, over ``rounds`` rounds, and each keeps
    its best round: a burst of other work on the machine then slows one round of every size
    alike instead of all the rounds of one size, and the best round is the machine's own
    speed. The model's weights change; time a copy.
    """
    for b in batch_sizes:
        if not isinstance(b, int) or not 1 <= b <= len(x):
            raise ValueError(f"batch sizes must be ints in [1, {len(x)}], got {b!r}")
    if rounds < 1 or steps < 1:
        raise ValueError(f"steps and rounds must be >= 1, got {steps} and {rounds}")
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    timings: dict[int, list[float]] = {b: [] for b in batch_sizes}
    for round_index in range(rounds + 1):
        for b in batch_sizes:
            xb, yb = x[:b], y[:b]
            start = time.perf_counter()
            for _ in range(steps):
                optimizer.zero_grad()
                nn.functional.cross_entropy(model(xb), yb).backward()
                optimizer.step()
            if round_index:  # the first round warms up allocations and caches
                timings[b].append(time.perf_counter() - start)
    return {b: min(t) / steps for b, t in timings.items()}


@dataclass
class BatchScheduleRun:
    """What :func:`fit_batch_schedule` records per epoch."""

    batch_size: list[int] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    steps: int = 0  # parameter updates in all


def fit_batch_schedule(
    model: nn.Module,
    splits: Splits,
    schedule: Callable[[int], tuple[int, float]],
    epochs: int,
    momentum: float = 0.9,
    seed: int = 0,
) -> BatchScheduleRun:
    """Train with SGD for ``epochs`` epochs; ``schedule(epoch) -> (batch_size, lr)`` sets both
    for each epoch (the data order of epoch ``e`` is drawn from ``seed`` and ``e``)."""
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0, momentum=momentum)
    run = BatchScheduleRun()
    for epoch in range(epochs):
        batch_size, lr = schedule(epoch)
        if not lr > 0:
            raise ValueError(f"schedule({epoch}) gave lr={lr}; it must be positive")
        for group in optimizer.param_groups:
            group["lr"] = lr
        model.train()
        for xb, yb in TensorLoader(splits.x_train, splits.y_train, batch_size, shuffle=True, seed=seed * 1000 + epoch):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(xb), yb).backward()
            optimizer.step()
            run.steps += 1
        model.eval()
        with torch.no_grad():
            run.val_acc.append(float((model(splits.x_val).argmax(1) == splits.y_val).float().mean()))
        run.batch_size.append(batch_size)
        run.lr.append(lr)
    return run
