"""Hyperparameter search: where to place trials, how many, and what the results say.

The pieces the *Hyperparameter search* chapter measures with:

* :func:`log_uniform` and :func:`shifted_grid`: random and grid placements of trials in a
  box of hyperparameters, each axis on a log or a linear scale;
* :func:`importance`: how much of the spread of the scores one hyperparameter explains;
* :func:`best_on_curve` and :func:`hit_probability`: searches replayed on a measured curve
  of score against one hyperparameter;
* :func:`trials_needed`: how many random trials find the top fraction ``q`` of a space;
* :func:`rank_correlation`: whether a cheap screen (one epoch) ranks trials like the full run;
* :func:`kfold_splits`: the folds of cross-validation over the training and validation data.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from nnlab.data import Splits


@dataclass(frozen=True)
class Axis:
    """One hyperparameter's range: ``low`` to ``high``, searched on a log or a linear scale."""

    name: str
    low: float
    high: float
    log: bool = True  # rates and penalties span decades: search their exponent

    def __post_init__(self) -> None:
        if not self.low < self.high:
            raise ValueError(f"{self.name}: low must be below high, got {self.low} and {self.high}")
        if self.log and self.low <= 0:
            raise ValueError(f"{self.name}: a log-scale range must be positive, got low={self.low}")

    def from_unit(self, u: np.ndarray) -> np.ndarray:
        """Map points of [0, 1] onto the range (evenly in the exponent when ``log``)."""
        u = np.asarray(u, dtype=float)
        if self.log:
            return 10 ** (math.log10(self.low) + u * (math.log10(self.high) - math.log10(self.low)))
        return self.low + u * (self.high - self.low)

    def to_unit(self, value: np.ndarray) -> np.ndarray:
        """The inverse of :meth:`from_unit`."""
        value = np.asarray(value, dtype=float)
        if self.log:
            return (np.log10(value) - math.log10(self.low)) / (math.log10(self.high) - math.log10(self.low))
        return (value - self.low) / (self.high - self.low)


def _rng(seed: int | np.random.Generator) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def log_uniform(low: float, high: float, size: int, seed: int | np.random.Generator = 0) -> np.ndarray:
    """``size`` values ``10**U(log10 low, log10 high)``: as many per decade, as cs231n advises."""
    return Axis("value", low, high, log=True).from_unit(_rng(seed).uniform(size=size))


def random_points(axes: Sequence[Axis], trials: int, seed: int | np.random.Generator = 0) -> np.ndarray:
    """``(trials, len(axes))`` points drawn independently and uniformly on each axis's scale."""
    _check_count("trials", trials)
    unit = _rng(seed).uniform(size=(trials, len(axes)))
    return np.stack([axis.from_unit(unit[:, i]) for i, axis in enumerate(axes)], axis=1)


def shifted_grid(axes: Sequence[Axis], per_axis: int, seed: int | np.random.Generator | None = None) -> np.ndarray:
    """``(per_axis ** len(axes), len(axes))`` points of a grid, cell centres on each axis's scale.

    With a ``seed``, the whole grid is shifted by one random offset (within a cell) on each
    axis: a grid laid out without knowing where the optimum lies, which is how a grid is
    used. Without one, the points sit at the cell centres.
    """
    _check_count("per_axis", per_axis)
    offsets = _rng(seed).uniform(size=len(axes)) if seed is not None else np.full(len(axes), 0.5)
    ticks = [(np.arange(per_axis) + offsets[i]) / per_axis for i in range(len(axes))]
    mesh = np.meshgrid(*ticks, indexing="ij")
    unit = np.stack([m.ravel() for m in mesh], axis=1)
    return np.stack([axis.from_unit(unit[:, i]) for i, axis in enumerate(axes)], axis=1)


def importance(values: Sequence[float], scores: Sequence[float], bins: int = 4) -> float:
    """The share of the scores' variance explained by one hyperparameter (0 to 1).

    The trials are cut into ``bins`` groups of (nearly) equal size by the hyperparameter's
    value; the share is the variance of the group means (each trial scored by its group's
    mean) over the variance of the scores. Unlike a correlation it sees effects that are not
    monotone, like a learning rate's, which is bad at both ends. Pass the log of a value
    searched on a log scale (the grouping by rank does not change, but say what you mean).
    """
    values, scores = np.asarray(values, dtype=float), np.asarray(scores, dtype=float)
    if values.shape != scores.shape or values.ndim != 1:
        raise ValueError(f"values and scores must be 1-D of one length, got {values.shape} and {scores.shape}")
    _check_count("bins", bins)
    if len(values) < 2 * bins:
        raise ValueError(f"{bins} bins need at least {2 * bins} trials, got {len(values)}")
    total = scores.var()
    if total == 0:
        return 0.0
    groups = np.array_split(np.argsort(values, kind="stable"), bins)
    explained = np.empty_like(scores)
    for group in groups:
        explained[group] = scores[group].mean()
    return float(explained.var() / total)


def best_on_curve(xs: Sequence[float], ys: Sequence[float], tried: Sequence[float], log: bool = True) -> float:
    """The best score of trials at ``tried``, read off the measured curve ``ys`` at ``xs``.

    Linear interpolation (in ``log10 x`` when ``log``) between measured points; ``tried``
    must lie within the measured range.
    """
    xs, ys, tried = (np.asarray(a, dtype=float) for a in (xs, ys, tried))
    if log:
        xs, tried = np.log10(xs), np.log10(tried)
    if np.any(np.diff(xs) <= 0):
        raise ValueError("the curve's xs must increase")
    if tried.size == 0 or tried.min() < xs[0] - 1e-9 or tried.max() > xs[-1] + 1e-9:
        raise ValueError("every tried value must lie within the measured curve")
    return float(np.interp(tried, xs, ys).max())


def hit_probability(good_fraction: float, trials: int) -> float:
    """The chance that at least one of ``trials`` random trials lands in a region holding
    ``good_fraction`` of the space: ``1 - (1 - q)^n``."""
    _check_fraction(good_fraction)
    _check_count("trials", trials)
    return 1.0 - (1.0 - good_fraction) ** trials


def trials_needed(good_fraction: float, confidence: float = 0.95) -> int:
    """The fewest random trials that land in a region holding ``good_fraction`` of the space
    with probability ``confidence``: ``ceil(log(1 - c) / log(1 - q))``. For the top 5 % at
    95 %: 59 trials (the "60 trials" often quoted)."""
    _check_fraction(good_fraction)
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if good_fraction == 1:
        return 1
    return max(1, math.ceil(math.log(1 - confidence) / math.log(1 - good_fraction) - 1e-12))


def rank_correlation(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman's rank correlation of two scorings of the same trials (ties get mean ranks)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or len(a) < 3:
        raise ValueError(f"need two 1-D scorings of the same >= 3 trials, got {a.shape} and {b.shape}")
    ra, rb = _ranks(a), _ranks(b)
    if ra.std() == 0 or rb.std() == 0:
        raise ValueError("a scoring that ranks every trial equal has no rank correlation")
    return float(np.corrcoef(ra, rb)[0, 1])


def _ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values), dtype=float)
    for value in np.unique(values):  # mean rank for ties
        tied = values == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def kfold_splits(splits: Splits, k: int = 5, seed: int = 0) -> list[Splits]:
    """``k`` copies of ``splits`` whose validation parts are the ``k`` disjoint folds of the
    training and validation data pooled (shuffled once with ``seed``); the test split is
    unchanged in each. Every sample is validated on exactly once."""
    _check_count("k", k)
    if k < 2:
        raise ValueError(f"cross-validation needs k >= 2 folds, got {k}")
    x = torch.cat([splits.x_train, splits.x_val])
    y = torch.cat([splits.y_train, splits.y_val])
    if len(x) < k:
        raise ValueError(f"{len(x)} samples cannot make {k} folds")
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    folds = torch.tensor_split(order, k)
    result = []
    for i, fold in enumerate(folds):
        rest = torch.cat([f for j, f in enumerate(folds) if j != i])
        result.append(replace(splits, x_train=x[rest], y_train=y[rest], x_val=x[fold], y_val=y[fold]))
    return result


def _check_count(name: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def _check_fraction(q: float) -> None:
    if not 0 < q <= 1:
        raise ValueError(f"good_fraction must be in (0, 1], got {q}")
