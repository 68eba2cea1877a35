"""Learning-rate schedules and the learning-rate range test: the reference for ``lr_schedules``.

Plain functions give the learning rate at a step (or epoch); :class:`WarmupCosine` applies
:func:`warmup_cosine` to an optimizer as a torch ``LRScheduler``. :func:`lr_range_test` is
Smith's "LR finder" (Smith, 2017): train for a few hundred steps while the learning rate
grows exponentially and record the loss; the useful rates are where it falls fastest, and
the run stops once the loss diverges.
"""
from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from torch import nn

from nnlab.device import module_device, module_dtype, to_device


def step_decay(lr0: float, epoch: int, drop: float = 0.5, every: int = 10) -> float:
    """lr0 · drop^⌊epoch / every⌋: divide by ``1/drop`` every ``every`` epochs."""
    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    return lr0 * drop ** (epoch // every)


def exponential_decay(lr0: float, t: float, k: float) -> float:
    """lr0 · e^(−k·t)."""
    return lr0 * math.exp(-k * t)


def inverse_time_decay(lr0: float, t: float, k: float) -> float:
    """lr0 / (1 + k·t), the "1/t" decay."""
    return lr0 / (1 + k * t)


def warmup_cosine(step: int, total_steps: int, lr_max: float, warmup_steps: int = 0, lr_min: float = 0.0) -> float:
    """Linear warm-up to ``lr_max`` over ``warmup_steps``, then a half cosine down to ``lr_min``.

    Warm-up: lr_max·(step+1)/warmup_steps. After it, with
    q = (step − warmup_steps) / max(1, total_steps − warmup_steps) clipped to [0, 1]:
    lr_min + ½(lr_max − lr_min)(1 + cos πq) (Loshchilov & Hutter, 2017, without restarts).
    """
    if step < warmup_steps:
        return lr_max * (step + 1) / warmup_steps
    q = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    q = min(max(q, 0.0), 1.0)
    return lr_min + 0.5 * (lr_max - lr_min) * (1 + math.cos(math.pi * q))


class WarmupCosine(torch.optim.lr_scheduler.LRScheduler):
    """Each param group's lr follows :func:`warmup_cosine` with its initial lr as ``lr_max``.

    Call ``step()`` after every optimizer step; right after construction the lr is step 0's.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int = 0,
                 lr_min: float = 0.0, last_epoch: int = -1) -> None:
        if total_steps < 1:
            raise ValueError(f"total_steps must be >= 1, got {total_steps}")
        if not 0 <= warmup_steps <= total_steps:
            raise ValueError(f"warmup_steps must be in [0, total_steps={total_steps}], got {warmup_steps}")
        self.total_steps, self.warmup_steps, self.lr_min = total_steps, warmup_steps, lr_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [
            warmup_cosine(self.last_epoch, self.total_steps, base, self.warmup_steps, self.lr_min)
            for base in self.base_lrs
        ]


@dataclass(frozen=True)
class RangeTest:
    """The outcome of :func:`lr_range_test`.

    ``lrs`` and ``losses`` (smoothed) per step; ``steepest``: the lr where the smoothed loss
    fell fastest (per unit of log lr); ``minimum``: the lr of the lowest smoothed loss;
    ``diverged_at``: the first lr whose loss exceeded ``divergence`` × the lowest one (NaN if
    the run never diverged). A cross-entropy loss that blows up often does not grow without
    bound but returns to chance level (ln 10 ≈ 2.3 for ten classes), hence the default of 2.
    """

    lrs: list[float]
    losses: list[float]
    steepest: float
    minimum: float
    diverged_at: float

    def plot(self, ax=None, label: str | None = None):
        from nnlab.plots import plot_range_test

        return plot_range_test(self, ax=ax, label=label)


def lr_range_test(
    model: nn.Module,
    train: Iterable,
    optimizer: str = "sgd",
    lr_min: float = 1e-6,
    lr_max: float = 10.0,
    steps: int = 100,
    momentum: float = 0.9,
    smoothing: float = 0.9,
    divergence: float = 2.0,
    loss_fn=None,
) -> RangeTest:
    """Smith's LR range test on a *copy* of ``model`` (the model itself is not changed).

    The lr grows geometrically from ``lr_min`` to ``lr_max`` over ``steps`` batches (cycling
    through ``train``); the loss is smoothed with an exponential moving average (bias
    corrected); the test stops early once it diverges.
    """
    if not 0 < lr_min < lr_max:
        raise ValueError(f"need 0 < lr_min < lr_max, got {lr_min} and {lr_max}")
    if steps < 2:
        raise ValueError(f"steps must be >= 2, got {steps}")
    probe = copy.deepcopy(model).train()
    device, dtype = module_device(probe), module_dtype(probe)
    if optimizer == "sgd":
        opt: torch.optim.Optimizer = torch.optim.SGD(probe.parameters(), lr=lr_min, momentum=momentum)
    elif optimizer == "adam":
        opt = torch.optim.Adam(probe.parameters(), lr=lr_min)
    else:
        raise ValueError(f"optimizer must be 'sgd' or 'adam', got {optimizer!r}")
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    factor = (lr_max / lr_min) ** (1 / (steps - 1))
    lrs, losses = [], []
    average, best, diverged_at = 0.0, math.inf, math.nan
    batches = iter(train)
    for step in range(steps):
        try:
            batch = next(batches)
        except StopIteration:
            batches = iter(train)
            batch = next(batches)
        x, y = to_device(tuple(batch[:2]), device, dtype)
        lr = lr_min * factor**step
        for group in opt.param_groups:
            group["lr"] = lr
        loss = loss_fn(probe(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        value = float(loss.detach())
        if not math.isfinite(value):
            diverged_at = lr
            break
        average = smoothing * average + (1 - smoothing) * value
        smoothed = average / (1 - smoothing ** (step + 1))
        lrs.append(lr)
        losses.append(smoothed)
        best = min(best, smoothed)
        if smoothed > divergence * best:
            diverged_at = lr
            break
    if len(losses) < 3:
        raise RuntimeError("the range test diverged at once: lower lr_min")
    log_lrs = [math.log(lr) for lr in lrs]
    lowest = min(range(len(losses)), key=losses.__getitem__)
    # the steepest descent is looked for on the way DOWN to the minimum: past it, a loss that
    # wobbles on its way up can also fall steeply for a step or two
    slopes = [(losses[i + 1] - losses[i - 1]) / (log_lrs[i + 1] - log_lrs[i - 1]) for i in range(1, min(lowest, len(losses) - 2) + 1)]
    steepest = lrs[1 + min(range(len(slopes)), key=slopes.__getitem__)] if slopes else lrs[lowest]
    minimum = lrs[lowest]
    return RangeTest(lrs, losses, steepest, minimum, diverged_at)


def per_step(multiplier: Callable[[int, int], float]) -> Callable[[torch.optim.Optimizer, int], object]:
    """A scheduler factory for :func:`nnlab.fit`: at step ``t`` of ``T`` the lr is the base lr × ``multiplier(t, T)``.

    Turns any of the functions above into a schedule, e.g. a step decay every 4 epochs of
    ``n`` steps: ``per_step(lambda t, T: step_decay(1.0, t // n, 0.5, 4))``.
    """

    def build(optimizer: torch.optim.Optimizer, total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: multiplier(step, total_steps))

    return build
