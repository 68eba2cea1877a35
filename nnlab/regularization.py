"""Regularization beyond dropout: penalties, the max-norm constraint, averages of the weights
(EMA and SWA), ensembles of predictions, and a record of every epoch for choosing where to stop.

* ``penalized_loss(model, l1=, l2=)``: cross-entropy plus ``l1·Σ|w| + l2/2·Σw²`` over the
  weight matrices (biases and normalization parameters are not penalized);
* :class:`MaxNorm`: after every step, each unit's incoming weight vector is scaled back to
  an L2 norm of at most ``c`` (Srivastava et al. 2014);
* :func:`update_ema`: ``ema ← decay·ema + (1 − decay)·w``, the running average of the weights
  (cs231n's "a cheap way of almost always getting an extra percent or two");
* :class:`WeightAverages`: a ``fit`` callback keeping an EMA copy (every step) and an SWA copy
  (the equal average of the weights at the end of each epoch from ``swa_start`` on;
  Izmailov et al. 2018) of the model;
* :class:`EpochRecorder`: a ``fit`` callback that evaluates another split (the test split)
  after every epoch and keeps its accuracy and predicted probabilities, so that a chapter
  can ask afterwards what any stopping rule or snapshot ensemble would have scored;
* :func:`ensemble_accuracy`: the accuracy of the averaged predicted probabilities.
"""
from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from nnlab.device import module_device, module_dtype, to_device
from nnlab.train import Batch, Callback, History


def penalized_weights(model: nn.Module) -> list[nn.Parameter]:
    """The weight matrices and kernels of ``model`` (parameters with two or more dimensions)."""
    return [p for p in model.parameters() if p.dim() >= 2]


def l1_penalty(model: nn.Module) -> torch.Tensor:
    """``Σ|w|`` over the weight matrices and kernels of ``model``."""
    return sum((w.abs().sum() for w in penalized_weights(model)), torch.zeros(()))


def l2_penalty(model: nn.Module) -> torch.Tensor:
    """``½ Σ w²`` over the weight matrices and kernels: its gradient is ``w`` itself."""
    return 0.5 * sum((w.pow(2).sum() for w in penalized_weights(model)), torch.zeros(()))


def penalized_loss(model: nn.Module, l1: float = 0.0, l2: float = 0.0):
    """A loss for :func:`nnlab.fit`: cross-entropy + ``l1·Σ|w| + l2·½Σw²`` over ``model``'s weights."""
    for name, value in (("l1", l1), ("l2", l2)):
        if not value >= 0:
            raise ValueError(f"{name} must be >= 0, got {value}")

    def loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        total = F.cross_entropy(output, target)
        if l1:
            total = total + l1 * l1_penalty(model)
        if l2:
            total = total + l2 * l2_penalty(model)
        return total

    return loss


def max_norm_(model: nn.Module, c: float) -> None:
    """Scale, in place, each unit's incoming weight vector (a row of a ``Linear`` weight, one
    output channel of a convolution) down to an L2 norm of at most ``c``."""
    if not c > 0:
        raise ValueError(f"c must be > 0, got {c}")
    with torch.no_grad():
        for w in penalized_weights(model):
            w.copy_(torch.renorm(w, p=2, dim=0, maxnorm=c))


class MaxNorm(Callback):
    """A :func:`nnlab.fit` callback applying :func:`max_norm_` after every optimizer step."""

    def __init__(self, c: float = 4.0) -> None:
        if not c > 0:
            raise ValueError(f"c must be > 0, got {c}")
        self.c = c

    def on_batch_end(self, model: nn.Module, step: int, loss: torch.Tensor) -> None:
        max_norm_(model, self.c)

    def __repr__(self) -> str:
        return f"MaxNorm(c={self.c})"


@torch.no_grad()
def update_ema(ema_model: nn.Module, model: nn.Module, decay: float) -> nn.Module:
    """``ema ← decay·ema + (1 − decay)·w`` for every parameter; buffers (BatchNorm's running
    statistics) are copied. Both models must have the same architecture. Returns ``ema_model``."""
    if not 0.0 <= decay <= 1.0:
        raise ValueError(f"decay must be in [0, 1], got {decay}")
    for averaged, current in zip(ema_model.parameters(), model.parameters(), strict=True):
        averaged.lerp_(current.detach(), 1.0 - decay)
    for averaged, current in zip(ema_model.buffers(), model.buffers(), strict=True):
        averaged.copy_(current)
    return ema_model


class WeightAverages(Callback):
    """Two averaged copies of the model being trained, kept beside it.

    * ``ema``: updated after every step with :func:`update_ema` (``decay``); it starts from
      the initial weights, whose share after ``t`` steps is ``decay**t``.
    * ``swa``: the equal average of the weights at the end of every epoch from ``swa_start``
      (0-based) on; ``swa_epochs`` says how many epochs it holds.

    Neither touches the model being trained. A network with BatchNorm needs its running
    statistics recomputed for an averaged copy (``torch.optim.swa_utils.update_bn``).
    """

    def __init__(self, ema_decay: float = 0.99, swa_start: int = 0) -> None:
        if not 0.0 <= ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {ema_decay}")
        if not isinstance(swa_start, int) or swa_start < 0:
            raise ValueError(f"swa_start must be an int >= 0, got {swa_start!r}")
        self.ema_decay, self.swa_start = ema_decay, swa_start
        self.ema: nn.Module | None = None
        self.swa: nn.Module | None = None
        self.swa_epochs = 0

    def on_train_begin(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        self.ema = copy.deepcopy(model).eval()
        self.swa = copy.deepcopy(model).eval()
        self.swa_epochs = 0

    def on_batch_end(self, model: nn.Module, step: int, loss: torch.Tensor) -> None:
        update_ema(self.ema, model, self.ema_decay)

    @torch.no_grad()
    def on_epoch_end(self, model: nn.Module, epoch: int, history: History) -> None:
        if epoch < self.swa_start:
            return
        self.swa_epochs += 1
        for averaged, current in zip(self.swa.parameters(), model.parameters()):
            # a running mean: after n epochs every epoch's weights count 1/n
            averaged.add_(current.detach() - averaged, alpha=1.0 / self.swa_epochs)
        for averaged, current in zip(self.swa.buffers(), model.buffers()):
            averaged.copy_(current)

    def __repr__(self) -> str:
        return f"WeightAverages(ema_decay={self.ema_decay}, swa_start={self.swa_start}, swa_epochs={self.swa_epochs})"


@torch.no_grad()
def predict_proba(model: nn.Module, data: Iterable[Batch]) -> torch.Tensor:
    """Softmax probabilities of ``model`` (in eval mode) over every batch of ``data``: (N, classes)."""
    device, dtype = module_device(model), module_dtype(model)
    was_training = model.training
    model.eval()
    try:
        chunks = [F.softmax(model(to_device(tuple(batch[:1]), device, dtype)[0]), dim=1).cpu() for batch in data]
    finally:
        model.train(was_training)
    return torch.cat(chunks)


def labels_of(data: Iterable[Batch]) -> torch.Tensor:
    """Every label of ``data``, in order."""
    return torch.cat([batch[1].cpu() for batch in data])


def ensemble_accuracy(probabilities: Sequence[torch.Tensor], labels: torch.Tensor) -> float:
    """Accuracy of the mean of several models' predicted probabilities (each (N, classes))."""
    if len(probabilities) == 0:
        raise ValueError("ensemble_accuracy needs at least one model's probabilities")
    mean = torch.stack(list(probabilities)).mean(dim=0)
    return float((mean.argmax(dim=1) == labels).float().mean())


class EpochRecorder(Callback):
    """Evaluate ``data`` (a split that training never sees) at the end of every epoch, keeping
    ``accuracy[epoch]`` and ``probabilities[epoch]`` ((N, classes), on the CPU)."""

    def __init__(self, data: Iterable[Batch]) -> None:
        self.data = data
        self.labels = labels_of(data)
        self.accuracy: list[float] = []
        self.probabilities: list[torch.Tensor] = []

    def on_epoch_end(self, model: nn.Module, epoch: int, history: History) -> None:
        probabilities = predict_proba(model, self.data)
        self.probabilities.append(probabilities)
        self.accuracy.append(float((probabilities.argmax(dim=1) == self.labels).float().mean()))

    def __repr__(self) -> str:
        return f"EpochRecorder(epochs={len(self.accuracy)})"
