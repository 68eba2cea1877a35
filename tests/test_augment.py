import pytest
import torch

from nnlab.augment import Augmented, shift_scale_noise
from nnlab.data import TensorLoader


def test_a_shift_alone_is_torch_roll_of_each_signal_by_its_own_amount():
    x = torch.arange(60, dtype=torch.float64).reshape(3, 20)
    out = shift_scale_noise(x, torch.Generator().manual_seed(0), max_shift=5, scale=0.0, noise=0.0)
    for row, rolled in zip(x, out):
        shifts = [s for s in range(-5, 6) if torch.equal(torch.roll(row, s), rolled)]
        assert len(shifts) == 1  # the row is the original rolled by one shift within the range


def test_the_scale_and_noise_have_the_stated_ranges():
    x = torch.ones(20_000, 8, dtype=torch.float64)
    scaled = shift_scale_noise(x, torch.Generator().manual_seed(1), max_shift=0, scale=0.2, noise=0.0)
    factors = scaled[:, 0]
    assert torch.all((factors >= 0.8) & (factors <= 1.2)) and torch.allclose(scaled, factors.unsqueeze(1).expand_as(scaled))
    assert factors.var().item() == pytest.approx(0.4**2 / 12, rel=0.05)  # uniform on [0.8, 1.2]
    noisy = shift_scale_noise(x, torch.Generator().manual_seed(2), max_shift=0, scale=0.0, noise=0.3)
    assert (noisy - 1).std().item() == pytest.approx(0.3, rel=0.02)


def test_no_change_asked_is_no_change_and_bad_settings_are_refused():
    x = torch.randn(4, 10)
    assert torch.equal(shift_scale_noise(x, torch.Generator(), max_shift=0, scale=0.0, noise=0.0), x)
    with pytest.raises(ValueError, match="batch of 1-D signals"):
        shift_scale_noise(torch.randn(2, 1, 2, 10), torch.Generator())
    with pytest.raises(ValueError, match="max_shift >= 0"):
        shift_scale_noise(x, torch.Generator(), max_shift=-1)


def test_augmented_batches_keep_labels_and_lengths_and_repeat_with_the_seed():
    x, y = torch.randn(50, 12), torch.arange(50)
    loader = TensorLoader(x, y, batch_size=16)
    first, second = list(Augmented(loader, seed=3)), list(Augmented(loader, seed=3))
    assert len(Augmented(loader)) == len(loader) == 4
    assert [b[1].tolist() for b in first] == [b[1].tolist() for b in TensorLoader(x, y, batch_size=16)]
    assert all(torch.equal(a[0], b[0]) for a, b in zip(first, second))
    assert not torch.equal(first[0][0], x[:16])


def test_channels_of_a_signal_move_together_and_one_channel_is_the_plain_case():
    x = torch.randn(64, 40, dtype=torch.float64)
    plain = shift_scale_noise(x, torch.Generator().manual_seed(5))
    channelled = shift_scale_noise(x.unsqueeze(1), torch.Generator().manual_seed(5))
    assert channelled.shape == (64, 1, 40) and torch.equal(channelled[:, 0], plain)
    two = torch.stack([x, 2 * x], dim=1)  # the second channel is twice the first
    moved = shift_scale_noise(two, torch.Generator().manual_seed(6), max_shift=5, noise=0.0)
    assert torch.allclose(moved[:, 1], 2 * moved[:, 0])  # same shift and factor for both channels


def test_predict_shifted_averages_the_softmax_over_rolled_inputs():
    from nnlab.augment import predict_shifted

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(12, 5), torch.nn.Dropout(0.5))  # eval mode turns dropout off
    x = torch.randn(7, 12)
    model.train()
    expected = torch.stack([torch.softmax(model.eval()(torch.roll(x, s, dims=1)), dim=1) for s in (-1, 0, 1)]).mean(0)
    model.train()
    probabilities = predict_shifted(model, x, max_shift=1)
    assert torch.allclose(probabilities, expected, atol=1e-6) and model.training  # mode restored
    assert torch.allclose(probabilities.sum(dim=1), torch.ones(7))
    assert torch.allclose(predict_shifted(model, x, max_shift=0), torch.softmax(model.eval()(x), dim=1))
    with pytest.raises(ValueError, match="max_shift must be an int >= 0"):
        predict_shifted(model, x, max_shift=-1)
