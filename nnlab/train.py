"""Training: ``fit`` a model, ``evaluate`` it, and keep a :class:`History` that plots itself.

``fit`` is the loop the chapters would otherwise paste into every notebook: optimizer,
loss, epochs, learning-rate schedule, gradient clipping, early stopping, callbacks and the
device, with per-epoch train/validation loss and accuracy, learning rate and time recorded.
It adds almost nothing to the cost of a hand-written loop (``benchmarks/fit_overhead.py``).
"""
from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from nnlab.device import module_device, module_dtype, to_device
from nnlab.early_stopping import EarlyStopping

Batch = Sequence[torch.Tensor]
OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]
SchedulerFactory = Callable[[torch.optim.Optimizer, int], object]

OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "sgd": torch.optim.SGD,
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "rmsprop": torch.optim.RMSprop,
    "adagrad": torch.optim.Adagrad,
}


def progress_default() -> bool:
    """Whether ``fit`` shows a progress bar when not told: on, unless ``NNLAB_PROGRESS=0``.

    The book build sets ``NNLAB_PROGRESS=0`` so that no bar lands in a rendered page.
    """
    return os.environ.get("NNLAB_PROGRESS", "1").strip().lower() not in ("0", "false", "no", "off")


@dataclass
class History:
    """What happened in each epoch of a ``fit``.

    All lists have one entry per epoch. ``val_*`` hold NaN when no validation data was given,
    ``*_acc`` hold NaN when accuracy does not apply (regression). ``lr`` is the learning
    rate of the first parameter group at the end of the epoch, ``seconds`` the epoch's wall
    time. ``stopped_early`` and ``diverged`` say why a fit ended before ``epochs``.
    """

    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    stopped_early: bool = False
    diverged: bool = False

    def __len__(self) -> int:
        return len(self.epoch)

    def __repr__(self) -> str:
        if not self.epoch:
            return "History(empty)"
        last = f"train_loss={self.train_loss[-1]:.4f}, val_loss={self.val_loss[-1]:.4f}"
        if not math.isnan(self.val_acc[-1]):
            last += f", val_acc={self.val_acc[-1]:.4f}"
        flags = ", stopped_early" if self.stopped_early else ""
        flags += ", diverged" if self.diverged else ""
        return f"History(epochs={len(self)}, {last}, seconds={self.total_seconds:.1f}{flags})"

    @property
    def total_seconds(self) -> float:
        return float(sum(self.seconds))

    def best(self, metric: str = "val_loss") -> tuple[int, float]:
        """``(epoch, value)`` of the best entry of ``metric`` (lowest loss, highest accuracy)."""
        values = self._column(metric)
        finite = [(v, e) for e, v in zip(self.epoch, values) if not math.isnan(v)]
        if not finite:
            raise ValueError(f"{metric} has no finite value to choose from")
        value, epoch = (min if metric.endswith("loss") else max)(finite)
        return epoch, value

    def _column(self, metric: str) -> list[float]:
        columns = ("train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds")
        if metric not in columns:
            raise ValueError(f"unknown metric {metric!r}; choose one of {columns}")
        return getattr(self, metric)

    def to_dict(self) -> dict[str, list]:
        """Plain lists, e.g. for ``pandas.DataFrame(history.to_dict())`` or JSON."""
        names = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds")
        return {name: list(getattr(self, name)) for name in names}

    def plot(self, axes=None, title: str | None = None, label: str | None = None):
        """Loss and accuracy curves, train against validation (see :func:`nnlab.plots.plot_history`).

        Pass the axes of an earlier plot and a ``label`` to draw several runs together.
        """
        from nnlab.plots import plot_history

        return plot_history(self, axes=axes, title=title, label=label)


class Callback:
    """Hooks into ``fit``. Override what you need; every default does nothing.

    ``on_epoch_end`` may return True to stop training after that epoch.
    """

    def on_train_begin(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> None: ...

    def on_batch_begin(self, step: int) -> None: ...

    def on_after_backward(self, model: nn.Module, step: int) -> None: ...

    def on_batch_end(self, model: nn.Module, step: int, loss: torch.Tensor) -> None: ...

    def on_epoch_end(self, model: nn.Module, epoch: int, history: History) -> bool | None: ...

    def on_train_end(self, model: nn.Module, history: History) -> None: ...


def _correct(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor | None:
    """Number of correct predictions, or None where accuracy does not apply."""
    if not target.is_floating_point() and output.dim() == target.dim() + 1:
        return (output.argmax(dim=1) == target).sum()
    if target.is_floating_point() and output.shape == target.shape and ((target == 0) | (target == 1)).all():
        return ((output > 0).to(target.dtype) == target).sum()  # binary logits
    return None


def _default_loss(target: torch.Tensor) -> nn.Module:
    return nn.MSELoss() if target.is_floating_point() else nn.CrossEntropyLoss()


def make_optimizer(
    optimizer: str | torch.optim.Optimizer | OptimizerFactory,
    model: nn.Module,
    lr: float,
    weight_decay: float = 0.0,
    momentum: float = 0.0,
) -> torch.optim.Optimizer:
    """An optimizer from a name, a factory ``params -> Optimizer``, or an existing one."""
    if isinstance(optimizer, torch.optim.Optimizer):
        return optimizer
    if isinstance(optimizer, str):
        name = optimizer.lower()
        if name not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {optimizer!r}; choose one of {sorted(OPTIMIZERS)}")
        if not lr > 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        options: dict[str, float] = {"lr": lr, "weight_decay": weight_decay}
        if name in ("sgd", "rmsprop"):
            options["momentum"] = momentum
        elif momentum:
            raise ValueError(f"momentum applies to 'sgd' and 'rmsprop', not {optimizer!r}")
        return OPTIMIZERS[name](model.parameters(), **options)
    if callable(optimizer):
        built = optimizer(model.parameters())
        if not isinstance(built, torch.optim.Optimizer):
            raise TypeError(f"the optimizer factory returned {type(built).__name__}, not a torch Optimizer")
        return built
    raise TypeError(f"optimizer must be a name, an Optimizer or a factory, got {type(optimizer).__name__}")


def one_cycle(max_lr: float, pct_start: float = 0.25) -> SchedulerFactory:
    """A scheduler factory for ``fit``: Smith's one-cycle policy over the whole run."""

    def build(optimizer: torch.optim.Optimizer, total_steps: int):
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=max_lr, total_steps=total_steps, pct_start=pct_start
        )

    return build


@torch.no_grad()
def evaluate(
    model: nn.Module, data: Iterable[Batch], loss_fn: Callable | None = None
) -> dict[str, float]:
    """Mean loss and accuracy of ``model`` over ``data`` (batches ``(x, y)``), in eval mode.

    Returns ``{"loss": ..., "acc": ...}``; ``acc`` is NaN where accuracy does not apply and
    both are NaN for empty data. The model's train/eval mode is restored afterwards.
    """
    device, dtype = module_device(model), module_dtype(model)
    was_training = model.training
    model.eval()
    total_loss, total_correct, count, accuracy_applies = 0.0, 0, 0, True
    try:
        for batch in data:
            x, y = to_device(tuple(batch[:2]), device, dtype)
            output = model(x)
            loss_fn = loss_fn or _default_loss(y)
            total_loss += float(loss_fn(output, y)) * len(y)
            correct = _correct(output, y)
            if correct is None:
                accuracy_applies = False
            else:
                total_correct += int(correct)
            count += len(y)
    finally:
        model.train(was_training)
    if count == 0:
        return {"loss": math.nan, "acc": math.nan}
    return {"loss": total_loss / count, "acc": total_correct / count if accuracy_applies else math.nan}


def _has_batches(data: Iterable[Batch] | None) -> bool:
    if data is None:
        return False
    try:
        return len(data) > 0  # type: ignore[arg-type]
    except TypeError:
        return True


def fit(
    model: nn.Module,
    train: Iterable[Batch],
    val: Iterable[Batch] | None = None,
    *,
    epochs: int = 10,
    optimizer: str | torch.optim.Optimizer | OptimizerFactory = "adam",
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    momentum: float = 0.0,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    scheduler: SchedulerFactory | None = None,
    scheduler_interval: str = "step",
    clip_grad_norm: float | None = None,
    clip_grad_value: float | None = None,
    early_stopping: int | EarlyStopping | None = None,
    callbacks: Sequence[Callback] = (),
    progress: bool | None = None,
) -> History:
    """Train ``model`` on batches ``(x, y)`` from ``train`` for ``epochs`` epochs.

    * ``optimizer``: a name (``"sgd"``, ``"adam"``, ``"adamw"``, ``"rmsprop"``, ``"adagrad"``,
      built with ``lr``, ``weight_decay``, ``momentum``), a factory ``params -> Optimizer``,
      or an Optimizer already built on ``model.parameters()``.
    * ``loss_fn``: defaults to cross-entropy for integer labels, MSE for float targets.
    * ``scheduler``: a factory ``(optimizer, total_steps) -> scheduler`` such as
      :func:`one_cycle`; stepped after every batch (``scheduler_interval="step"``) or every
      epoch (``"epoch"``; a ``ReduceLROnPlateau`` then receives the validation loss).
    * ``clip_grad_norm`` / ``clip_grad_value``: clip the gradients before each step (global
      L2 norm, or each element).
    * ``early_stopping``: a patience (int) or an :class:`EarlyStopping` watching the
      validation loss (the training loss without validation data); the best weights are
      restored at the end.
    * ``progress``: a tqdm bar over epochs; default from :func:`progress_default`.

    The model trains where its parameters are; batches follow it, floating inputs are cast
    to its dtype. A loss that becomes NaN or infinite ends training (``history.diverged``).
    """
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    if scheduler_interval not in ("step", "epoch"):
        raise ValueError(f"scheduler_interval must be 'step' or 'epoch', got {scheduler_interval!r}")
    for name, value in (("clip_grad_norm", clip_grad_norm), ("clip_grad_value", clip_grad_value)):
        if value is not None and not value > 0:
            raise ValueError(f"{name} must be > 0, got {value}")
    try:
        steps_per_epoch = len(train)  # type: ignore[arg-type]
    except TypeError as error:
        raise TypeError("train must have a length (a DataLoader or nnlab.data.TensorLoader)") from error
    if steps_per_epoch == 0:
        raise ValueError("train has no batches")

    device, dtype = module_device(model), module_dtype(model)
    opt = make_optimizer(optimizer, model, lr, weight_decay, momentum)
    sched = scheduler(opt, epochs * steps_per_epoch) if scheduler is not None else None
    stopper = EarlyStopping(patience=early_stopping) if isinstance(early_stopping, int) else early_stopping
    has_val = _has_batches(val)
    history = History()
    show = progress_default() if progress is None else progress
    epoch_range: Iterable[int] = range(epochs)
    if show:
        from tqdm.auto import tqdm

        epoch_range = tqdm(epoch_range, desc="epochs", leave=False)

    for callback in callbacks:
        callback.on_train_begin(model, opt)
    step = 0
    for epoch in epoch_range:
        start = time.perf_counter()
        model.train()
        # Sums stay on the device: one synchronization per epoch instead of one per batch.
        loss_sum = torch.zeros((), device=device, dtype=torch.float64)
        correct_sum = torch.zeros((), device=device, dtype=torch.int64)
        count, accuracy_applies = 0, True
        for batch in train:
            x, y = to_device(tuple(batch[:2]), device, dtype)
            for callback in callbacks:
                callback.on_batch_begin(step)
            output = model(x)
            if loss_fn is None:
                loss_fn = _default_loss(y)
            loss = loss_fn(output, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            for callback in callbacks:
                callback.on_after_backward(model, step)
            if clip_grad_value is not None:
                nn.utils.clip_grad_value_(model.parameters(), clip_grad_value)
            if clip_grad_norm is not None:
                nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)
            opt.step()
            if sched is not None and scheduler_interval == "step":
                sched.step()
            detached = loss.detach()
            loss_sum += detached * len(y)
            correct = _correct(output.detach(), y)
            if correct is None:
                accuracy_applies = False
            else:
                correct_sum += correct
            count += len(y)
            for callback in callbacks:
                callback.on_batch_end(model, step, detached)
            step += 1

        train_loss = float(loss_sum) / count
        val_metrics = evaluate(model, val, loss_fn) if has_val else {"loss": math.nan, "acc": math.nan}
        if sched is not None and scheduler_interval == "epoch":
            if isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau):
                sched.step(val_metrics["loss"] if has_val else train_loss)
            else:
                sched.step()
        history.epoch.append(epoch)
        history.train_loss.append(train_loss)
        history.train_acc.append(int(correct_sum) / count if accuracy_applies else math.nan)
        history.val_loss.append(val_metrics["loss"])
        history.val_acc.append(val_metrics["acc"])
        history.lr.append(float(opt.param_groups[0]["lr"]))
        history.seconds.append(time.perf_counter() - start)
        if show:
            epoch_range.set_postfix(loss=f"{train_loss:.3f}", val_loss=f"{val_metrics['loss']:.3f}")  # type: ignore[attr-defined]

        if not math.isfinite(train_loss):
            history.diverged = True
            break
        stop = False
        for callback in callbacks:
            stop = bool(callback.on_epoch_end(model, epoch, history)) or stop
        if stopper is not None and stopper.step(val_metrics["loss"] if has_val else train_loss, model):
            history.stopped_early = True
            stop = True
        if stop:
            break

    if show:
        epoch_range.close()  # type: ignore[attr-defined]
    if stopper is not None and stopper.best_state is not None:
        stopper.restore(model)
    for callback in callbacks:
        callback.on_train_end(model, history)
    return history
