"""Early stopping: stop when a monitored metric has not improved for ``patience`` epochs."""
from __future__ import annotations

import copy
import math

from torch import nn


class EarlyStopping:
    """Watch a metric (validation loss by default) and say when to stop.

    ``step(metric, model)`` returns True once ``patience`` consecutive calls brought no
    improvement larger than ``min_delta`` in the direction of ``mode`` ("min" or "max").
    The best value, its 0-based call index and a deep copy of the model's ``state_dict`` at
    that call are kept, so that ``restore(model)`` returns the model to its best epoch.
    """

    def __init__(self, patience: int = 5, min_delta: float = 0.0, mode: str = "min") -> None:
        if not isinstance(patience, int) or isinstance(patience, bool) or patience < 1:
            raise ValueError(f"patience must be a positive int, got {patience!r}")
        if not isinstance(min_delta, (int, float)) or min_delta < 0:
            raise ValueError(f"min_delta must be a number >= 0, got {min_delta!r}")
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        self.patience = patience
        self.min_delta = float(min_delta)
        self.mode = mode
        self.best = math.inf if mode == "min" else -math.inf
        self.best_epoch = -1
        self.best_state: dict | None = None
        self.calls = 0
        self.bad_calls = 0

    def _improves(self, metric: float) -> bool:
        if math.isnan(metric):
            return False
        if self.mode == "min":
            return metric < self.best - self.min_delta
        return metric > self.best + self.min_delta

    def step(self, metric: float, model: nn.Module | None = None) -> bool:
        """Record this epoch's ``metric``; True when training should stop."""
        metric = float(metric)
        if self._improves(metric):
            self.best = metric
            self.best_epoch = self.calls
            self.bad_calls = 0
            if model is not None:
                self.best_state = copy.deepcopy(model.state_dict())
        else:
            self.bad_calls += 1
        self.calls += 1
        return self.bad_calls >= self.patience

    def restore(self, model: nn.Module) -> nn.Module:
        """Load the best ``state_dict`` seen into ``model``."""
        if self.best_state is None:
            raise RuntimeError("no best state to restore: pass the model to step() while training")
        model.load_state_dict(self.best_state)
        return model

    def __repr__(self) -> str:
        return (
            f"EarlyStopping(patience={self.patience}, min_delta={self.min_delta}, mode={self.mode!r}, "
            f"best={self.best:.4g}, best_epoch={self.best_epoch})"
        )


def replay(values, patience: int = 5, min_delta: float = 0.0, mode: str = "min") -> tuple[int, int]:
    """Run :class:`EarlyStopping` over a recorded metric, one value per epoch.

    Returns ``(stopped_at, best_epoch)``: the 0-based epoch after which training would have
    stopped (the last epoch when it never stops) and the epoch whose weights ``restore``
    would bring back. One long run then answers what every patience would have done.
    """
    values = [float(v) for v in values]
    if not values:
        raise ValueError("replay needs at least one recorded value")
    stopper = EarlyStopping(patience=patience, min_delta=min_delta, mode=mode)
    for epoch, value in enumerate(values):
        if stopper.step(value):
            return epoch, stopper.best_epoch
    return len(values) - 1, stopper.best_epoch
