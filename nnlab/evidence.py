"""Deciding a comparison from runs on several seeds.

A chapter that compares two settings runs each on the same seeds and asks whether the
difference is larger than the noise between seeds. The rule the course uses everywhere: a
setting wins only when its mean lead over the paired seeds is more than ``margin`` (2) times
the standard deviation of the per-seed differences; otherwise the comparison is a tie
within the noise, and the chapter says so rather than calling a winner.
"""
from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class SeedComparison:
    """Two settings measured on the same seeds (higher is better)."""

    names: tuple[str, str]
    means: tuple[float, float]
    difference: float  # mean of (first - second) over the seeds
    spread: float  # standard deviation of the per-seed differences
    margin: float

    @property
    def winner(self) -> str | None:
        """The name of the setting ahead by more than ``margin`` spreads, else ``None``."""
        if abs(self.difference) <= self.margin * self.spread or self.difference == 0:
            return None
        return self.names[0] if self.difference > 0 else self.names[1]

    @property
    def verdict(self) -> str:
        """A clause for the prose: who wins, or that the seeds do not decide."""
        if self.winner is None:
            return f"{self.names[0]} and {self.names[1]} are within the noise of the seeds"
        return f"{self.winner} is ahead by more than {self.margin:g} times the spread over seeds"


def compare_over_seeds(
    first: Sequence[float], second: Sequence[float], names: tuple[str, str] = ("first", "second"), margin: float = 2.0
) -> SeedComparison:
    """Compare two settings from their scores on the same seeds, seed ``i`` with seed ``i``.

    The difference is paired (seed by seed), which removes what the seed does to both (the
    data order, the initial weights) from the noise. Needs at least two seeds, as one seed
    has no spread.
    """
    first, second = [float(v) for v in first], [float(v) for v in second]
    if len(first) != len(second):
        raise ValueError(f"the two settings need scores on the same seeds, got {len(first)} and {len(second)}")
    if len(first) < 2:
        raise ValueError("a spread needs scores from at least two seeds")
    if not all(math.isfinite(v) for v in first + second):
        raise ValueError("scores must be finite numbers")
    if not margin > 0:
        raise ValueError(f"margin must be positive, got {margin}")
    differences = [a - b for a, b in zip(first, second)]
    return SeedComparison(
        names=(str(names[0]), str(names[1])),
        means=(statistics.fmean(first), statistics.fmean(second)),
        difference=statistics.fmean(differences),
        spread=statistics.stdev(differences),
        margin=float(margin),
    )
