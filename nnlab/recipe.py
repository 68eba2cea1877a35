"""Training one model by a named recipe, the way *The recipe, measured* and
``benchmarks/train_mnist1d.py`` compare them.

A :class:`Recipe` fixes everything about a run except the seed: the model, how long and
with what optimizer it trains, whether the training batches are augmented, whether the
exponential moving average (EMA) of the weights is tested instead of the last weights, and
over how many circular shifts the test predictions are averaged. :func:`train_recipe` runs
it on a :class:`~nnlab.data.Splits` and returns the tested model with its accuracies, so a
chapter can build a ladder of recipes, each adding one trick to the one before.
"""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from nnlab.augment import Augmented, predict_shifted
from nnlab.data import Splits
from nnlab.evidence import SeedComparison
from nnlab.regularization import WeightAverages
from nnlab.seed import seed_everything
from nnlab.train import fit, one_cycle

OPTIMIZERS = ("sgd", "adamw")


@dataclass(frozen=True)
class Recipe:
    """One model and how to train and test it.

    * ``optimizer="sgd"``: SGD with momentum 0.9 at the constant rate ``lr``, the plain
      baseline; ``"adamw"``: AdamW on a one-cycle schedule that peaks at ``lr``.
    * ``weight_decay``: decoupled weight decay (AdamW) or L2 (SGD).
    * ``augment``: every training batch shifted, rescaled and given noise (:mod:`nnlab.augment`).
    * ``ema_decay``: test the EMA of the weights (BatchNorm statistics recomputed for it).
    * ``test_shifts``: average the test predictions over circular shifts of ``-k..k`` samples.
    """

    name: str
    build: Callable[[], nn.Module]  # a fresh model, drawn from the global torch generator
    epochs: int
    lr: float
    optimizer: str = "adamw"
    weight_decay: float = 0.0
    batch_size: int = 128
    augment: bool = False
    ema_decay: float | None = None
    test_shifts: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.epochs, int) or isinstance(self.epochs, bool) or self.epochs < 1:
            raise ValueError(f"recipe {self.name!r}: epochs must be a positive int, got {self.epochs!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"recipe {self.name!r}: optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if not self.lr > 0:
            raise ValueError(f"recipe {self.name!r}: lr must be positive, got {self.lr!r}")
        if self.ema_decay is not None and not 0 < self.ema_decay < 1:
            raise ValueError(f"recipe {self.name!r}: ema_decay must be in (0, 1), got {self.ema_decay!r}")
        if not isinstance(self.test_shifts, int) or self.test_shifts < 0:
            raise ValueError(f"recipe {self.name!r}: test_shifts must be an int >= 0, got {self.test_shifts!r}")


@dataclass
class RecipeRun:
    """What one run of a recipe gives: the model that was tested and how it did."""

    recipe: Recipe
    seed: int
    model: nn.Module  # the tested weights: the EMA copy when the recipe averages them
    last_model: nn.Module  # the weights of the last step (the same object as model without EMA)
    test_probabilities: torch.Tensor  # (N, classes), averaged over the test shifts
    test_labels: torch.Tensor
    test_accuracy: float
    train_accuracy: float  # of the tested weights on the un-augmented training split
    seconds: float  # training and testing, not data loading

    @property
    def test_errors(self) -> torch.Tensor:
        """Indices of the test examples this run gets wrong."""
        return torch.nonzero(self.test_probabilities.argmax(dim=1) != self.test_labels).flatten()


def _accuracy(probabilities: torch.Tensor, labels: torch.Tensor) -> float:
    return float((probabilities.argmax(dim=1) == labels).float().mean())


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, test_shifts: int = 0) -> float:
    """Accuracy of ``model`` (in eval mode) on ``(x, y)``, its predictions averaged over
    circular shifts of ``-test_shifts..test_shifts`` samples."""
    return _accuracy(predict_shifted(model, x, max_shift=test_shifts), y)


def train_recipe(recipe: Recipe, data: Splits, seed: int, data_seed: int | None = None) -> RecipeRun:
    """Train ``recipe`` on ``data``'s training split and test it on its test split.

    ``seed`` draws the initial weights; ``data_seed`` (default: ``seed``) draws the order of
    the batches and the augmentation, so runs that differ only in their initial weights keep
    the same ``data_seed``.
    """
    data_seed = seed if data_seed is None else data_seed
    seed_everything(seed)
    model = last_model = recipe.build()
    train, _, _ = data.loaders(recipe.batch_size, seed=data_seed)
    averages = WeightAverages(ema_decay=recipe.ema_decay) if recipe.ema_decay else None
    start = time.perf_counter()
    if recipe.optimizer == "sgd":
        options = {"optimizer": "sgd", "momentum": 0.9}
    else:
        options = {"optimizer": "adamw", "scheduler": one_cycle(recipe.lr)}
    fit(model, Augmented(train, seed=data_seed) if recipe.augment else train, epochs=recipe.epochs, lr=recipe.lr,
        weight_decay=recipe.weight_decay, callbacks=[averages] if averages else [], progress=False, **options)
    if averages:
        model = averages.ema
        # the averaged weights need BatchNorm statistics of their own: one pass over the training set
        torch.optim.swa_utils.update_bn(train, model)
    probabilities = predict_shifted(model, data.x_test, max_shift=recipe.test_shifts)
    seconds = time.perf_counter() - start
    train_probabilities = predict_shifted(model, data.x_train, max_shift=0)
    return RecipeRun(recipe, seed, model, last_model, probabilities, data.y_test, _accuracy(probabilities, data.y_test),
                     _accuracy(train_probabilities, data.y_train), seconds)


def ladder_markdown(scores: Mapping[str, Sequence[float]], seconds: Mapping[str, float] | None = None,
                    train_scores: Mapping[str, Sequence[float]] | None = None,
                    steps: Mapping[str, SeedComparison] | None = None) -> str:
    """A Markdown table of a ladder: one row per rung with its test accuracy (mean ± standard
    deviation over seeds), and where given its training accuracy, seconds per run, and the
    verdict of its comparison with the rung it adds a trick to (``steps``, by rung name). A rung missing
    from an optional mapping shows "–" there (a rung that only changes how a trained model is
    tested has no training of its own)."""
    if not scores:
        raise ValueError("scores is empty: give at least one rung")
    seconds, train_scores, steps = seconds or {}, train_scores or {}, steps or {}

    def spread(values: Sequence[float]) -> str:
        values = [float(v) for v in values]
        if not values:
            raise ValueError("every rung needs at least one score")
        if len(values) == 1:
            return f"{values[0]:.2%} (one run)"  # a single number has no spread to show
        return f"{statistics.mean(values):.2%} ± {statistics.stdev(values):.2%}"

    rows = ["| rung | test accuracy | training accuracy | seconds per run | against its base rung |",
            "|---|---|---|---|---|"]
    for name, values in scores.items():
        train = spread(train_scores[name]) if name in train_scores else "–"
        per_run = f"{seconds[name]:.1f}" if name in seconds else "–"
        if name in steps:
            step = steps[name]
            verdict = "ahead beyond the noise" if step.winner == name else (
                "behind beyond the noise" if step.winner else "within the noise")
        else:
            verdict = "–"
        rows.append(f"| {name} | {spread(values)} | {train} | {per_run} | {verdict} |")
    return "\n".join(rows)
