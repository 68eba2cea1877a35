import math

import numpy as np
import pytest
import torch

from nnlab.data import split
from nnlab.search import (
    Axis,
    best_on_curve,
    hit_probability,
    importance,
    kfold_splits,
    log_uniform,
    random_points,
    rank_correlation,
    shifted_grid,
    trials_needed,
)


def test_log_uniform_puts_as_many_values_in_each_decade():
    values = log_uniform(1e-6, 1e1, 70_000, seed=0)
    assert values.min() >= 1e-6 and values.max() <= 1e1
    per_decade = np.histogram(np.log10(values), bins=np.arange(-6, 2))[0]
    # 10,000 expected per decade; a binomial's standard error is about 93
    assert np.all(np.abs(per_decade - 10_000) < 500), per_decade


def test_an_axis_maps_the_unit_interval_onto_its_range_and_back():
    lr = Axis("lr", 1e-4, 1.0)
    assert lr.from_unit(np.array([0.0, 0.5, 1.0])) == pytest.approx([1e-4, 1e-2, 1.0])
    momentum = Axis("momentum", 0.5, 0.9, log=False)
    assert momentum.from_unit(0.25) == pytest.approx(0.6)
    assert momentum.to_unit(momentum.from_unit(0.3)) == pytest.approx(0.3)
    assert lr.to_unit(1e-3) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="low must be below high"):
        Axis("lr", 1.0, 1.0)
    with pytest.raises(ValueError, match="log-scale range must be positive"):
        Axis("lr", 0.0, 1.0)


def test_a_grid_tries_few_distinct_values_per_axis_and_random_points_as_many_as_trials():
    axes = [Axis("lr", 1e-4, 1.0), Axis("wd", 1e-6, 1e-2)]
    grid = shifted_grid(axes, 3)
    assert grid.shape == (9, 2)
    assert len(np.unique(grid[:, 0])) == 3 and len(np.unique(grid[:, 1])) == 3
    assert sorted(np.unique(np.log10(grid[:, 0]))) == pytest.approx([-4 + 4 / 6, -2, -4 / 6])  # cell centres
    shifted = shifted_grid(axes, 3, seed=1)
    steps = np.diff(np.unique(np.log10(shifted[:, 0])))
    assert steps == pytest.approx([4 / 3, 4 / 3])  # a shift keeps the spacing
    assert np.all((shifted[:, 0] >= 1e-4) & (shifted[:, 0] <= 1.0))
    points = random_points(axes, 9, seed=0)
    assert points.shape == (9, 2) and len(np.unique(points[:, 0])) == 9
    with pytest.raises(ValueError, match="per_axis must be a positive int"):
        shifted_grid(axes, 0)


def test_importance_finds_the_hyperparameter_that_moves_the_score_even_when_not_monotone():
    rng = np.random.default_rng(0)
    lr, wd = rng.uniform(-4, 0, 400), rng.uniform(-6, -2, 400)
    score = -((lr + 2) ** 2) + 0.05 * rng.normal(size=400)  # best in the middle, wd irrelevant
    # derivation: for u = lr + 2 uniform on [-2, 2] and score -u^2, the four bins' means are
    # -7/3, -1/3, -1/3, -7/3 (variance 1) and the score's variance is 16/5 - 16/9: a share of 0.703
    assert importance(lr, score) == pytest.approx(1 / (16 / 5 - 16 / 9), abs=0.03)
    assert importance(wd, score) < 0.05
    assert np.corrcoef(lr, score)[0, 1] ** 2 < 0.05  # a correlation would miss it
    assert importance(lr, np.ones(400)) == 0.0
    with pytest.raises(ValueError, match="at least 8 trials"):
        importance([1, 2, 3], [1, 2, 3])


def test_a_search_replayed_on_a_curve_reads_the_interpolated_scores():
    xs, ys = [1e-3, 1e-2, 1e-1, 1.0], [0.2, 0.6, 0.8, 0.1]
    assert best_on_curve(xs, ys, [1e-2]) == pytest.approx(0.6)
    assert best_on_curve(xs, ys, [10**-1.5]) == pytest.approx(0.7)  # halfway in the exponent
    assert best_on_curve(xs, ys, [1e-3, 1.0]) == pytest.approx(0.2)
    with pytest.raises(ValueError, match="within the measured curve"):
        best_on_curve(xs, ys, [10.0])


def test_the_chance_of_a_hit_and_the_trials_it_takes_agree_with_a_simulation():
    assert trials_needed(0.05, 0.95) == 59
    assert hit_probability(0.05, 59) >= 0.95 > hit_probability(0.05, 58)
    rng = np.random.default_rng(0)
    hits = (rng.uniform(size=(20_000, 10)) < 0.1).any(axis=1).mean()
    assert hits == pytest.approx(1 - 0.9**10, abs=0.01)
    assert trials_needed(1.0) == 1
    with pytest.raises(ValueError, match="good_fraction must be in"):
        trials_needed(0.0)


def test_rank_correlation_is_spearmans():
    scipy_stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    a = rng.normal(size=30)
    b = a + rng.normal(size=30)
    b[:5] = b[0]  # ties
    assert rank_correlation(a, b) == pytest.approx(scipy_stats.spearmanr(a, b).statistic)
    assert rank_correlation([1, 2, 3], [30, 20, 10]) == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="ranks every trial equal"):
        rank_correlation([1, 2, 3], [5, 5, 5])


def test_kfold_validates_every_sample_exactly_once_and_keeps_the_test_split():
    x = torch.arange(100, dtype=torch.float32).unsqueeze(1)
    splits = split(x, torch.arange(100) % 3, val_fraction=0.1, test_fraction=0.2, seed=0)
    folds = kfold_splits(splits, k=4, seed=1)
    assert len(folds) == 4
    pooled = torch.cat([splits.x_train, splits.x_val]).flatten().sort().values
    validated = torch.cat([f.x_val for f in folds]).flatten().sort().values
    assert torch.equal(validated, pooled)
    for fold in folds:
        assert len(fold.x_train) + len(fold.x_val) == 80
        assert not set(fold.x_train.flatten().tolist()) & set(fold.x_val.flatten().tolist())
        assert torch.equal(fold.x_test, splits.x_test)
        assert torch.equal(fold.y_val, (fold.x_val.flatten().long() % 3))  # labels travel with samples
    with pytest.raises(ValueError, match="k >= 2"):
        kfold_splits(splits, k=1)
    assert math.isclose(len(folds[0].x_val), 20)
