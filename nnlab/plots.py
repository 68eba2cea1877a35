"""Every figure of the course, in one place, so chapters call a function instead of pasting
matplotlib code. Each function draws into given axes (or makes its own figure) and returns
the figure."""
from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn


def _axes(axes, count: int, width: float = 4.0, height: float = 3.0):
    if axes is None:
        figure, created = plt.subplots(1, count, figsize=(width * count, height), squeeze=False)
        return figure, list(created[0])
    axes = list(np.atleast_1d(axes))
    if len(axes) != count:
        raise ValueError(f"this plot needs {count} axes, got {len(axes)}")
    return axes[0].figure, axes


def plot_history(history, axes=None, title: str | None = None, label: str | None = None):
    """Loss and accuracy per epoch, training (solid) against validation (dashed).

    ``history`` is an :class:`nnlab.train.History`. Pass the same ``axes`` for several
    histories with different ``label``s to compare runs.
    """
    has_acc = not all(math.isnan(a) for a in history.train_acc)
    figure, ax = _axes(axes, 2 if has_acc else 1)
    epochs = np.asarray(history.epoch) + 1
    prefix = f"{label} " if label else ""
    line = ax[0].plot(epochs, history.train_loss, label=f"{prefix}train")[0]
    if not all(math.isnan(v) for v in history.val_loss):
        ax[0].plot(epochs, history.val_loss, "--", color=line.get_color(), label=f"{prefix}validation")
    ax[0].set(xlabel="epoch", ylabel="loss", yscale="log")
    if has_acc:
        ax[1].plot(epochs, history.train_acc, color=line.get_color(), label=f"{prefix}train")
        if not all(math.isnan(v) for v in history.val_acc):
            ax[1].plot(epochs, history.val_acc, "--", color=line.get_color(), label=f"{prefix}validation")
        ax[1].set(xlabel="epoch", ylabel="accuracy")
    for a in ax:
        a.grid(alpha=0.3)
        a.legend(fontsize="small")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return figure


def plot_signals(x: torch.Tensor, y: torch.Tensor, t: np.ndarray | None = None, per_class: int = 1, axes=None):
    """MNIST-1D signals: ``per_class`` examples of each class, one panel per class."""
    x = x.reshape(len(x), -1).cpu().numpy()
    y = y.cpu().numpy()
    classes = sorted(set(y.tolist()))
    figure, ax = _axes(axes, len(classes), width=1.3, height=2.4)
    t = np.arange(x.shape[1]) if t is None else t
    for panel, label in zip(ax, classes):
        for row in np.flatnonzero(y == label)[:per_class]:
            panel.plot(x[row], t, lw=1.2)
        panel.set_title(str(label))
        panel.set_xticks([])
        panel.set_yticks([])
    figure.tight_layout()
    return figure


def plot_images(x: torch.Tensor, y: torch.Tensor | None = None, count: int = 10, axes=None):
    """The first ``count`` images of ``x`` (``(N, 1, H, W)`` or ``(N, H, W)``), labelled by ``y``."""
    images = x[:count].reshape(min(count, len(x)), *x.shape[-2:]).cpu().numpy()
    figure, ax = _axes(axes, len(images), width=1.2, height=1.4)
    for index, (panel, image) in enumerate(zip(ax, images)):
        panel.imshow(image, cmap="gray_r")
        panel.set_xticks([])
        panel.set_yticks([])
        if y is not None:
            panel.set_title(str(int(y[index])))
    figure.tight_layout()
    return figure


@torch.no_grad()
def plot_2d(x: torch.Tensor, y: torch.Tensor, model: nn.Module | None = None, ax=None, resolution: int = 200):
    """A 2-D data set as a scatter plot; with ``model``, its decision regions behind it."""
    if x.dim() != 2 or x.shape[1] != 2:
        raise ValueError(f"plot_2d needs points of shape (N, 2), got {tuple(x.shape)}")
    figure, (ax,) = _axes(ax, 1, width=4.0, height=4.0)
    xs = x.cpu().numpy()
    if model is not None:
        low, high = xs.min(0) - 0.1, xs.max(0) + 0.1
        g0, g1 = np.meshgrid(np.linspace(low[0], high[0], resolution), np.linspace(low[1], high[1], resolution))
        grid = torch.tensor(np.stack([g0.ravel(), g1.ravel()], 1), dtype=torch.float32)
        parameter = next(model.parameters(), None)
        if parameter is not None:
            grid = grid.to(parameter.device, parameter.dtype)
        was_training = model.training
        model.eval()
        prediction = model(grid).argmax(1).cpu().numpy().reshape(g0.shape)
        model.train(was_training)
        ax.contourf(g0, g1, prediction, alpha=0.25, cmap="coolwarm", levels=np.arange(prediction.max() + 2) - 0.5)
    ax.scatter(xs[:, 0], xs[:, 1], c=y.cpu().numpy(), s=8, cmap="coolwarm", edgecolors="none")
    ax.set_aspect("equal")
    return figure


def plot_activation_histograms(outputs: Mapping[str, torch.Tensor], bins: int = 50, axes=None, max_panels: int = 8):
    """One histogram per layer output (from :func:`nnlab.diagnostics.layer_outputs`), std in the title.

    With more layers than ``max_panels``, evenly spaced ones are shown.
    """
    names = list(outputs)
    if len(names) > max_panels:
        names = [names[round(i)] for i in np.linspace(0, len(names) - 1, max_panels)]
    figure, ax = _axes(axes, len(names), width=2.2, height=2.2)
    for panel, name in zip(ax, names):
        values = outputs[name].float().flatten().cpu().numpy()
        panel.hist(values, bins=bins, color="tab:blue")
        panel.set_title(f"{name}\nstd {values.std():.3g}", fontsize="small")
        panel.set_yticks([])
    figure.tight_layout()
    return figure


def overlay(plot: Callable, runs: Mapping[str, object], **kwargs):
    """One figure that compares runs: ``plot(run, label=name, **kwargs)`` for every ``name: run``
    of ``runs``, each drawn on the axes of the first (``plot`` is one of this module's functions
    that take ``ax`` or ``axes`` and a ``label``, e.g. :func:`plot_layer_statistic`,
    :func:`plot_gradient_flow`, :func:`plot_history`)."""
    if not runs:
        raise ValueError("overlay needs at least one run to plot")
    parameters = inspect.signature(plot).parameters
    if "label" not in parameters or not ({"ax", "axes"} & set(parameters)):
        raise TypeError(f"{getattr(plot, '__name__', plot)} does not take a label and axes, so it cannot overlay runs")
    target = "ax" if "ax" in parameters else "axes"
    figure = None
    for name, run in runs.items():
        axes = None if figure is None else (figure.axes[0] if target == "ax" else figure.axes)
        figure = plot(run, label=name, **{target: axes}, **kwargs)
    return figure


def plot_layer_statistic(
    values: Mapping[str, Sequence[float]] | Sequence[float], ylabel: str, ax=None, log: bool = True, label: str | None = None
):
    """A per-layer statistic (activation std, gradient norm) against the layer index.

    ``values``: a list, or a dict ``{name: value}``; calling it again on the same ``ax`` with
    another ``label`` compares runs (initializers, depths).
    """
    figure, (ax,) = _axes(ax, 1, width=5.0, height=3.0)
    series = list(values.values()) if isinstance(values, Mapping) else list(values)
    ax.plot(range(1, len(series) + 1), series, marker="o", ms=3, label=label)
    ax.set(xlabel="layer", ylabel=ylabel, yscale="log" if log else "linear")
    ax.grid(alpha=0.3)
    if label:
        ax.legend(fontsize="small")
    return figure


def plot_diagnostics(diagnostics, axes=None):
    """Three panels over training steps: activation std per layer, gradient norm and update
    ratio per weight matrix (from a :class:`nnlab.diagnostics.Diagnostics`)."""
    figure, ax = _axes(axes, 3, width=4.2, height=3.0)
    steps = diagnostics.steps
    for name, stds in diagnostics.series("std").items():
        ax[0].plot(steps[: len(stds)], stds, label=name)
    for name, norms in diagnostics.grad_norms.items():
        ax[1].plot(steps[: len(norms)], norms, label=name)
    for name, ratios in diagnostics.update_ratios.items():
        ax[2].plot(steps[: len(ratios)], ratios, label=name)
    ax[2].axhline(1e-3, color="gray", ls=":", lw=1)
    ax[0].set(title="activation std", xlabel="step", yscale="log")
    ax[1].set(title="gradient norm", xlabel="step", yscale="log")
    ax[2].set(title="update / weight", xlabel="step", yscale="log")
    for a in ax:
        a.grid(alpha=0.3)
    ax[0].legend(fontsize="x-small", ncol=2)
    ax[1].legend(fontsize="x-small", ncol=2)
    figure.tight_layout()
    return figure


def plot_scores(
    scores: Mapping[str, float], reference: Mapping[str, float] | None = None, ax=None, xlabel: str = "test accuracy"
):
    """Horizontal bars of our scores, with published reference values as grey bars beside them."""
    figure, (ax,) = _axes(ax, 1, width=6.0, height=0.45 * (len(scores) + len(reference or {})) + 1.0)
    names = list(reference or {}) + list(scores)
    values = list((reference or {}).values()) + list(scores.values())
    colors = ["0.7"] * len(reference or {}) + ["tab:blue"] * len(scores)
    bars = ax.barh(range(len(names)), values, color=colors)
    for bar, value in zip(bars, values):
        ax.text(bar.get_width() + 0.005, bar.get_y() + bar.get_height() / 2, f"{value:.1%}", va="center", fontsize="small")
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set(xlabel=xlabel, xlim=(0, 1.1))
    ax.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    return figure


def plot_seed_scores(
    scores: Mapping[str, Sequence[float]], ax=None, xlabel: str = "test accuracy", reference: float | None = None
):
    """One horizontal bar per setting at its mean over seeds, with each seed's score as a dot
    and ± one standard deviation as an error bar, so a reader sees which gaps the seeds explain.

    ``reference`` draws a dotted vertical line (chance, or a baseline's mean).
    """
    if not scores:
        raise ValueError("scores is empty: give at least one setting")
    for name, values in scores.items():
        if len(values) == 0:
            raise ValueError(f"setting {name!r} has no scores")
    figure, (ax,) = _axes(ax, 1, width=6.0, height=0.38 * len(scores) + 1.0)
    names = list(scores)
    means = [float(np.mean(scores[name])) for name in names]
    stds = [float(np.std(scores[name], ddof=1)) if len(scores[name]) > 1 else 0.0 for name in names]
    ax.barh(range(len(names)), means, xerr=stds, color="tab:blue", alpha=0.6, capsize=3)
    for row, name in enumerate(names):
        ax.plot(list(scores[name]), [row] * len(scores[name]), "o", color="black", ms=3)
        ax.text(means[row] + stds[row] + 0.005, row, f"{means[row]:.1%}", va="center", fontsize="small")
    if reference is not None:
        ax.axvline(reference, ls=":", color="gray")
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    lowest = min(min(scores[name]) for name in names)
    # close scores need a zoomed axis; the label then says the bars do not start at zero
    left = round(lowest - 0.1, 2) if lowest > 0.2 else 0.0
    ax.set(xlabel=xlabel if left == 0 else f"{xlabel} (axis from {left:g})",
           xlim=(left, min(1.05, max(means) + max(stds) + 0.08)))
    ax.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    return figure


def plot_error_ladder(scores: Mapping[str, Sequence[float]], references: Mapping[str, float] | None = None,
                      ax=None):
    """Test *error* (1 − accuracy, in %) of each rung of a ladder on a logarithmic axis, one
    row per setting: each seed's error as a dot, the mean as a bar. On a log axis, cutting
    the error from 20 % to 2 % looks as big as from 2 % to 0.2 %, which is how hard each
    step is.

    ``references`` draws a labelled dotted vertical line at each given *accuracy* (a paper's
    baseline, a goal).
    """
    if not scores:
        raise ValueError("scores is empty: give at least one setting")
    for name, values in scores.items():
        if len(values) == 0:
            raise ValueError(f"setting {name!r} has no scores")
        if not all(0 <= v <= 1 for v in values):
            raise ValueError(f"setting {name!r} has an accuracy outside [0, 1]: {list(values)}")
    names = list(scores)
    errors = {name: [100 * (1 - float(v)) for v in scores[name]] for name in names}
    # a perfect seed has no place on a log axis: draw it at the floor
    floor = min([e for values in errors.values() for e in values if e > 0] + [1.0]) / 2
    figure, (ax,) = _axes(ax, 1, width=6.5, height=0.38 * len(names) + 1.2)
    means = [max(float(np.mean(errors[name])), floor) for name in names]
    ax.barh(range(len(names)), means, color="tab:red", alpha=0.35)
    for row, name in enumerate(names):
        ax.plot([max(e, floor) for e in errors[name]], [row] * len(errors[name]), "o", color="black", ms=3)
        ax.text(means[row] * 1.08, row, f"{means[row]:.2g} %", va="center", fontsize="small")
    for label, accuracy in (references or {}).items():
        error = 100 * (1 - accuracy)
        ax.axvline(error, ls=":", color="gray")
        ax.text(error, -0.7, label, rotation=90, va="bottom", ha="right", fontsize="x-small", color="gray")
    ax.set_yticks(range(len(names)), names)
    ax.set_ylim(len(names) - 0.5, -0.8 - 0.6 * bool(references))
    ax.set_xscale("log")
    ax.set(xlabel="test error (%, log scale)", xlim=(floor, 100))
    ax.grid(axis="x", alpha=0.3, which="both")
    figure.tight_layout()
    return figure


def plot_mistakes(x: torch.Tensor, labels: torch.Tensor, predicted: torch.Tensor, t: np.ndarray | None = None,
                  axes=None):
    """One panel per misclassified signal, titled "label → predicted"; ``x`` is ``(N, L)`` or
    ``(N, 1, L)``. The signal is drawn as MNIST-1D draws it: time runs down the vertical axis."""
    if len(x) == 0:
        raise ValueError("no signals to draw")
    if not len(x) == len(labels) == len(predicted):
        raise ValueError(f"need one label and one prediction per signal, got {len(x)}, {len(labels)}, "
                         f"{len(predicted)}")
    x = x.reshape(len(x), -1).cpu().numpy()
    figure, ax = _axes(axes, len(x), width=1.3, height=2.4)
    t = np.arange(x.shape[1]) if t is None else t
    for panel, signal, label, guess in zip(ax, x, labels.tolist(), predicted.tolist()):
        panel.plot(signal, t, lw=1.2, color="tab:red")
        panel.set_title(f"{label} \u2192 {guess}")
        panel.set_xticks([])
        panel.set_yticks([])
    figure.tight_layout()
    return figure


def plot_gradient_flow(norms: Mapping[str, float], ax=None, label: str | None = None):
    """Gradient norm per weight matrix, input side on the left (from
    :func:`nnlab.diagnostics.gradient_norms` with ``weights_only=True``).

    A curve that falls steeply towards the input is a vanishing gradient; one that rises is
    an exploding gradient.
    """
    figure = plot_layer_statistic(norms, "gradient norm", ax=ax, log=True, label=label)
    figure.axes[0].set_xticks(range(1, len(norms) + 1), [name.removesuffix(".weight") for name in norms],
                              rotation=90, fontsize="x-small")
    figure.tight_layout()
    return figure


def plot_curves(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]] | Sequence[float]],
    xlabel: str,
    ylabel: str,
    ax=None,
    logx: bool = False,
    logy: bool = False,
    title: str | None = None,
    marker: str | None = None,
    vlines: Mapping[str, float] | None = None,
    spreads: Mapping[str, Sequence[float]] | None = None,
):
    """Several labelled curves on one panel: ``{label: ys}`` or ``{label: (xs, ys)}``.

    For sweeps (accuracy against a dropout rate or a batch size), schedules (lr against the
    step) and loss curves of competing runs. ``vlines`` marks positions on the x axis
    (``{label: x}``: a learning-rate range test's suggestions, say) as grey vertical lines.
    ``spreads`` (``{label: stds}``, one per point) shades ± one spread around a curve of
    means over seeds, so a reader sees which gaps the seeds could explain.
    """
    figure, (ax,) = _axes(ax, 1, width=5.0, height=3.2)
    unknown = set(spreads or {}) - set(curves)
    if unknown:
        raise ValueError(f"spreads given for curves that are not plotted: {sorted(unknown)}")
    for label, curve in curves.items():
        if isinstance(curve, tuple) and len(curve) == 2:
            xs, ys = curve
        else:
            ys = list(curve)
            xs = range(len(ys))
        xs, ys = list(xs), list(ys)
        line = ax.plot(xs, ys, label=label, marker=marker, ms=4)[0]
        if spreads and label in spreads:
            spread = list(spreads[label])
            if len(spread) != len(ys):
                raise ValueError(f"curve {label!r} has {len(ys)} points but {len(spread)} spreads")
            ax.fill_between(xs, [y - s for y, s in zip(ys, spread)], [y + s for y, s in zip(ys, spread)],
                            color=line.get_color(), alpha=0.2, lw=0)
    for (label, x), style in zip((vlines or {}).items(), [":", "--", "-.", (0, (1, 4))] * 8):
        ax.axvline(x, ls=style, color="gray", label=label)
    ax.set(xlabel=xlabel, ylabel=ylabel, xscale="log" if logx else "linear", yscale="log" if logy else "linear")
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    if len(curves) + len(vlines or {}) > 1:
        ax.legend(fontsize="small")
    figure.tight_layout()
    return figure


def plot_stopping(history, test_accuracy: Sequence[float], marks: Mapping[str, float], axes=None):
    """One run seen by a stopping rule: the training and validation loss (left), the validation
    and test accuracy (right), epochs counted from 1, and ``marks`` (``{label: epoch}``: where a
    rule stopped, which epoch it restored) as grey vertical lines on both panels."""
    if len(test_accuracy) != len(history):
        raise ValueError(f"test_accuracy has {len(test_accuracy)} values for {len(history)} epochs")
    figure, (left, right) = _axes(axes, 2, width=4.5, height=3.2)
    epochs = list(range(1, len(history) + 1))
    plot_curves({"validation loss": (epochs, history.val_loss), "training loss": (epochs, history.train_loss)},
                "epoch", "loss", ax=left, vlines=marks)
    plot_curves({"validation": (epochs, history.val_acc), "test": (epochs, list(test_accuracy))},
                "epoch", "accuracy", ax=right, vlines=marks)
    figure.tight_layout()
    return figure


def plot_regression(x: torch.Tensor, y: torch.Tensor, predictions: Mapping[str, torch.Tensor], ax=None,
                    at: torch.Tensor | None = None, ylim: tuple[float, float] | None = None):
    """A 1-D regression: the training points ``(x, y)`` as grey dots and each model's
    ``{label: predictions}`` as a line, the predictions made at the inputs ``at`` (default:
    ``x``). ``ylim`` crops far outliers out of view."""
    x, y = x.reshape(-1).detach().cpu(), y.reshape(-1).detach().cpu()
    inputs = x if at is None else at.reshape(-1).detach().cpu()
    figure, (ax,) = _axes(ax, 1, width=5.0, height=3.2)
    ax.scatter(x.numpy(), y.numpy(), s=4, color="0.6", label="training targets")
    order = torch.argsort(inputs)
    for label, predicted in predictions.items():
        predicted = predicted.reshape(-1).detach().cpu()
        if len(predicted) != len(inputs):
            raise ValueError(f"{label!r} has {len(predicted)} predictions for {len(inputs)} inputs")
        ax.plot(inputs[order].numpy(), predicted[order].numpy(), label=label)
    ax.set(xlabel="x", ylabel="y")
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    figure.tight_layout()
    return figure


def plot_range_test(result, ax=None, label: str | None = None):
    """The loss of an LR range test against the learning rate (log scale), marking the
    steepest descent and, if reached, the divergence (from :func:`nnlab.schedules.lr_range_test`)."""
    figure, (ax,) = _axes(ax, 1, width=5.0, height=3.2)
    line = ax.plot(result.lrs, result.losses, label=label)[0]
    ax.axvline(result.steepest, color=line.get_color(), ls=":", lw=1)
    if not math.isnan(result.diverged_at):
        ax.axvline(result.diverged_at, color=line.get_color(), ls="--", lw=1)
    ax.set(xlabel="learning rate", ylabel="smoothed training loss", xscale="log")
    ax.set_ylim(top=min(max(result.losses), 3 * min(result.losses) + 1))
    ax.grid(alpha=0.3)
    if label:
        ax.legend(fontsize="small")
    figure.tight_layout()
    return figure


def plot_trajectories(
    loss,
    paths: Mapping[str, torch.Tensor],
    xlim: tuple[float, float],
    ylim: tuple[float, float],
    ax=None,
    title: str | None = None,
    levels: int = 25,
):
    """Paths of optimizers (``{label: (steps, 2) points}``, from :func:`nnlab.optim.trajectory`)
    over the contour lines of a 2-D ``loss(point)``."""
    figure, (ax,) = _axes(ax, 1, width=5.0, height=4.0)
    xs = torch.linspace(*xlim, 200, dtype=torch.float64)
    ys = torch.linspace(*ylim, 200, dtype=torch.float64)
    grid_x, grid_y = torch.meshgrid(xs, ys, indexing="xy")
    with torch.no_grad():
        values = torch.stack([loss(torch.stack([x, y])) for x, y in zip(grid_x.flatten(), grid_y.flatten())])
    ax.contour(grid_x.numpy(), grid_y.numpy(), values.reshape(grid_x.shape).numpy(), levels=levels, cmap="Greys", linewidths=0.6)
    for label, points in paths.items():
        points = points.detach().cpu().numpy()
        ax.plot(points[:, 0], points[:, 1], marker=".", ms=3, lw=1, label=label)
    ax.set(xlim=xlim, ylim=ylim, xlabel="$w_1$", ylabel="$w_2$")
    if title:
        ax.set_title(title)
    if paths:
        ax.legend(fontsize="small")
    figure.tight_layout()
    return figure


def plot_trials(
    values: Mapping[str, Sequence[float]],
    scores: Sequence[float],
    log: Sequence[str] = (),
    axes=None,
    ylabel: str = "validation accuracy",
    titles: Mapping[str, str] | None = None,
):
    """The trials of a search, one panel per hyperparameter: each trial's score against its
    value of that hyperparameter (``log`` names the axes searched on a log scale). A
    hyperparameter that matters shows a shape; one that does not, a cloud."""
    names = list(values)
    figure, axes = _axes(axes, len(names), width=3.4, height=3.0)
    for ax, name in zip(axes, names):
        if len(values[name]) != len(scores):
            raise ValueError(f"{name!r} has {len(values[name])} values for {len(scores)} scores")
        ax.scatter(values[name], scores, s=14, alpha=0.8)
        ax.set(xlabel=name, xscale="log" if name in log else "linear")
        if titles and name in titles:
            ax.set_title(titles[name], fontsize="small")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(ylabel)
    figure.tight_layout()
    return figure
