"""Looking inside a network: activation statistics, gradient norms and update ratios.

* :func:`activation_stats` runs one forward pass and summarizes each layer's output.
* :func:`gradient_norms` reads the L2 norm of every parameter's gradient.
* :class:`Diagnostics` records all three while ``fit`` trains, every ``every`` steps; its
  hooks return at once on the other steps, so it costs little, and nothing when not used.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from nnlab.train import Callback

#: |output| above this fraction of the activation's bound counts as saturated.
SATURATION_LEVEL = 0.99


@dataclass(frozen=True)
class LayerStats:
    """Summary of one layer's output on one batch.

    ``saturated``: fraction of outputs within 1 % of the bound of a tanh or sigmoid (NaN for
    unbounded activations); ``dead``: fraction of units (features or channels) that output
    exactly 0 for every sample of the batch, the signature of dead ReLUs.
    """

    name: str
    mean: float
    std: float
    saturated: float
    dead: float


def default_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The layers worth watching: the children of an ``nn.Sequential``, the blocks of a
    model's ``features`` (CNNs), or else the model's direct children."""
    if isinstance(model, nn.Sequential):
        return [(name, child) for name, child in model.named_children()]
    features = getattr(model, "features", None)
    if isinstance(features, nn.Sequential):
        return [(f"features.{name}", child) for name, child in features.named_children()]
    return list(model.named_children())


def _bounded_activation(module: nn.Module) -> type[nn.Module] | None:
    """The last tanh or sigmoid inside ``module`` when it is its final nonlinearity."""
    last = None
    for sub in module.modules():
        if isinstance(sub, (nn.Tanh, nn.Sigmoid, nn.ReLU, nn.GELU, nn.ELU, nn.LeakyReLU, nn.SiLU, nn.SELU, nn.PReLU, nn.RReLU)):
            last = type(sub)
    return last if last in (nn.Tanh, nn.Sigmoid) else None


def summarize(name: str, output: torch.Tensor, bounded: type[nn.Module] | None) -> LayerStats:
    """:class:`LayerStats` of one output tensor ``(N, features, ...)``."""
    output = output.detach().float()
    if bounded is nn.Tanh:
        saturated = float((output.abs() > SATURATION_LEVEL).float().mean())
    elif bounded is nn.Sigmoid:
        saturated = float(((output < 1 - SATURATION_LEVEL) | (output > SATURATION_LEVEL)).float().mean())
    else:
        saturated = float("nan")
    if output.dim() >= 2 and len(output) > 0:
        per_unit = output.transpose(0, 1).reshape(output.shape[1], -1)
        dead = float((per_unit == 0).all(dim=1).float().mean())
    else:
        dead = float("nan")
    return LayerStats(name, float(output.mean()), float(output.std()), saturated, dead)


@torch.no_grad()
def activation_stats(
    model: nn.Module, x: torch.Tensor, layers: Sequence[tuple[str, nn.Module]] | None = None
) -> list[LayerStats]:
    """One forward pass of ``x`` through ``model`` with a summary of each layer's output.

    The model's train/eval mode is left as it is (BatchNorm and dropout behave accordingly).
    """
    chosen = list(layers) if layers is not None else default_layers(model)
    if not chosen:
        raise ValueError(f"{type(model).__name__} has no layers to watch; pass layers=[(name, module), ...]")
    results: list[LayerStats] = []
    handles = [
        module.register_forward_hook(
            lambda mod, inp, out, name=name, bounded=_bounded_activation(module): results.append(
                summarize(name, out, bounded)
            )
        )
        for name, module in chosen
    ]
    try:
        model(x)
    finally:
        for handle in handles:
            handle.remove()
    return results


def layer_outputs(
    model: nn.Module, x: torch.Tensor, layers: Sequence[tuple[str, nn.Module]] | None = None
) -> dict[str, torch.Tensor]:
    """The output of each watched layer for input ``x`` (detached), e.g. for histograms."""
    chosen = list(layers) if layers is not None else default_layers(model)
    outputs: dict[str, torch.Tensor] = {}
    handles = [
        module.register_forward_hook(lambda mod, inp, out, name=name: outputs.__setitem__(name, out.detach()))
        for name, module in chosen
    ]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return outputs


def variance_shift(model: nn.Module, x: torch.Tensor, layer: nn.Module, min_variance: float = 1e-8) -> torch.Tensor:
    """Per unit of ``layer``'s output: its variance over ``x`` in training mode divided by its
    variance in evaluation mode.

    Above 1 where something random in training (dropout) inflates what the next layer sees,
    which is what a BatchNorm after ``layer`` would collect as its running variance. Units
    whose evaluation-mode variance is below ``min_variance`` (ReLUs that never fire) are left
    out, as they have nothing to compare. The model's mode is restored afterwards.
    """
    was_training = model.training
    variances = {}
    try:
        for mode in (True, False):
            model.train(mode)
            output = layer_outputs(model, x, [("output", layer)])["output"]
            variances[mode] = output.flatten(1).var(0)
    finally:
        model.train(was_training)
    alive = variances[False] > min_variance
    return variances[True][alive] / variances[False][alive]


def gradient_norms(model: nn.Module, weights_only: bool = False) -> dict[str, float]:
    """L2 norm of the gradient of each parameter that has one, in ``named_parameters`` order.

    ``weights_only=True`` skips biases and normalization parameters (1-D tensors), which
    keeps a gradient-flow plot to one bar per layer.
    """
    return {
        name: float(param.grad.detach().norm())
        for name, param in model.named_parameters()
        if param.grad is not None and not (weights_only and param.dim() < 2)
    }


class Diagnostics(Callback):
    """Record activation statistics, gradient norms and update-to-weight ratios during ``fit``.

    Pass it in ``fit(..., callbacks=[diagnostics])``. Every ``every`` training steps it stores,
    for each watched layer, a :class:`LayerStats` of the batch's output; for each weight
    matrix (parameters of 2 or more dims), the gradient norm and the ratio
    ``‖Δw‖ / ‖w‖`` of the step just taken (Karpathy's rule of thumb: around 1e-3).
    """

    def __init__(
        self, model: nn.Module, layers: Sequence[tuple[str, nn.Module]] | None = None, every: int = 10
    ) -> None:
        if not isinstance(every, int) or isinstance(every, bool) or every < 1:
            raise ValueError(f"every must be a positive int, got {every!r}")
        self.every = every
        self.layers = list(layers) if layers is not None else default_layers(model)
        self.weights = [(name, p) for name, p in model.named_parameters() if p.dim() >= 2]
        self.steps: list[int] = []
        self.activations: dict[str, list[LayerStats]] = {name: [] for name, _ in self.layers}
        self.grad_norms: dict[str, list[float]] = {name: [] for name, _ in self.weights}
        self.update_ratios: dict[str, list[float]] = {name: [] for name, _ in self.weights}
        self._active = False
        self._before: list[torch.Tensor] = []
        self._handles = [
            module.register_forward_hook(self._hook(name, _bounded_activation(module)))
            for name, module in self.layers
        ]

    def _hook(self, name: str, bounded: type[nn.Module] | None):
        def record(module: nn.Module, inputs, output: torch.Tensor) -> None:
            if self._active and module.training:
                self.activations[name].append(summarize(name, output, bounded))

        return record

    def on_batch_begin(self, step: int) -> None:
        self._active = step % self.every == 0
        if self._active:
            self.steps.append(step)

    def on_after_backward(self, model: nn.Module, step: int) -> None:
        if not self._active:
            return
        for name, param in self.weights:
            grad = param.grad
            self.grad_norms[name].append(float(grad.norm()) if grad is not None else float("nan"))
        self._before = [param.detach().clone() for _, param in self.weights]

    def on_batch_end(self, model: nn.Module, step: int, loss: torch.Tensor) -> None:
        if not self._active:
            return
        for (name, param), before in zip(self.weights, self._before):
            scale = float(before.norm())
            change = float((param.detach() - before).norm())
            self.update_ratios[name].append(change / scale if scale > 0 else float("nan"))
        self._before = []
        self._active = False

    def on_train_end(self, model: nn.Module, history) -> None:
        self.remove()

    def remove(self) -> None:
        """Detach the hooks from the model (done automatically when ``fit`` ends)."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def series(self, statistic: str) -> dict[str, list[float]]:
        """One statistic (``mean``, ``std``, ``saturated``, ``dead``) per layer over the recorded steps."""
        if statistic not in ("mean", "std", "saturated", "dead"):
            raise ValueError(f"unknown statistic {statistic!r}; choose mean, std, saturated or dead")
        return {name: [getattr(s, statistic) for s in stats] for name, stats in self.activations.items()}

    def plot(self, axes=None):
        """Activation std, gradient norms and update ratios over training, one line per layer."""
        from nnlab.plots import plot_diagnostics

        return plot_diagnostics(self, axes=axes)

    def __repr__(self) -> str:
        return f"Diagnostics(layers={len(self.layers)}, weights={len(self.weights)}, every={self.every}, recorded={len(self.steps)})"


