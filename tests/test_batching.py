import math

import pytest
import torch

import nnlab
from nnlab.batching import fit_batch_schedule, gradient_noise, step_times
from nnlab.data import split


def blobs(n=600, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    x = torch.randn(n, 5, generator=g) + 2.0 * torch.nn.functional.one_hot(y, 5).float()
    return x, y


def test_the_noise_of_a_mean_gradient_falls_as_one_over_the_batch_size_as_derived():
    x, y = blobs()
    torch.manual_seed(0)
    model = nnlab.mlp(5, 3, width=16, depth=1).double()
    results = gradient_noise(model, x.double(), y, [4, 16, 64], draws=200, examples=600, seed=1)
    for r in results:
        # the measured noise agrees with trace(Sigma)/B * (N-B)/(N-1) within sampling error (200 draws)
        assert r.noise == pytest.approx(r.predicted, rel=0.15), r
    assert results[0].noise / results[2].noise == pytest.approx(16 * (600 - 4) / (600 - 64), rel=0.2)
    assert results[2].signal_to_noise > results[0].signal_to_noise


def test_summing_instead_of_averaging_scales_signal_and_noise_alike():
    x, y = blobs()
    torch.manual_seed(0)
    model = nnlab.mlp(5, 3, width=16, depth=1).double()
    mean = gradient_noise(model, x.double(), y, [8, 32], draws=50, examples=16, seed=2)
    summed = gradient_noise(model, x.double(), y, [8, 32], draws=50, examples=16, seed=2, reduction="sum")
    for m, s in zip(mean, summed):
        assert s.noise == pytest.approx(m.noise * m.batch_size**2, rel=1e-9)
        assert s.signal_to_noise == pytest.approx(m.signal_to_noise, rel=1e-9)


def test_a_batch_of_every_example_has_no_noise():
    x, y = blobs(n=50)
    model = nnlab.mlp(5, 3, width=8, depth=1).double()
    (whole,) = gradient_noise(model, x.double(), y, [50], draws=3)
    assert whole.noise == pytest.approx(0.0, abs=1e-20) and whole.predicted == 0.0
    with pytest.raises(ValueError, match="batch sizes must be ints in"):
        gradient_noise(model, x.double(), y, [51])
    with pytest.raises(ValueError, match="reduction must be"):
        gradient_noise(model, x.double(), y, [5], reduction="max")


def test_step_times_are_positive_and_grow_with_a_much_larger_batch():
    x, y = blobs(n=4096)
    times = step_times(nnlab.mlp(5, 3, width=256, depth=2), x, y, [8, 4096], steps=3, rounds=2)
    assert list(times) == [8, 4096]
    assert 0 < times[8] < times[4096]
    with pytest.raises(ValueError, match="batch sizes must be ints"):
        step_times(nnlab.mlp(5, 3), x, y, [0])


def test_a_batch_schedule_sets_each_epochs_batch_size_and_rate_and_counts_the_steps():
    x, y = blobs()
    splits = split(x, y, val_fraction=0.2, test_fraction=0.0, seed=0)  # 480 training examples
    torch.manual_seed(0)
    run = fit_batch_schedule(nnlab.mlp(5, 3, width=16, depth=1), splits,
                             lambda epoch: (48 * 2**epoch, 0.1 / (epoch + 1)), epochs=3)
    assert run.batch_size == [48, 96, 192]
    assert run.lr == pytest.approx([0.1, 0.05, 0.1 / 3])
    assert run.steps == 10 + 5 + math.ceil(480 / 192)
    assert run.val_acc[-1] > 0.9  # the blobs are easy: it learned
    with pytest.raises(ValueError, match="lr=0"):
        fit_batch_schedule(nnlab.mlp(5, 3), splits, lambda epoch: (32, 0.0), epochs=1)
