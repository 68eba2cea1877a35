import math

import pytest
import torch
from torch import nn

import nnlab
from nnlab import diagnostics
from nnlab.data import TensorLoader


def test_activation_stats_match_a_manual_forward_pass():
    torch.manual_seed(0)
    model = nnlab.mlp(10, 3, width=20, depth=3, activation="tanh")
    x = torch.randn(64, 10)
    stats = diagnostics.activation_stats(model, x)
    assert [s.name for s in stats] == ["0", "1", "2", "3"]
    h = x
    for layer, s in zip(model, stats):
        h = layer(h).detach()
        assert s.mean == pytest.approx(h.mean().item(), abs=1e-6)
        assert s.std == pytest.approx(h.std().item(), rel=1e-5)
    assert math.isnan(stats[-1].saturated)  # the output Linear is not bounded
    assert 0 <= stats[0].saturated <= 1


def test_saturation_of_tanh_is_measured():
    layer = nn.Sequential(nn.Linear(1, 1), nn.Tanh())
    with torch.no_grad():
        layer[0].weight.fill_(100.0)
        layer[0].bias.zero_()
    x = torch.tensor([[-1.0], [1.0], [0.0], [0.001]])
    (stats,) = diagnostics.activation_stats(nn.Sequential(layer), x)
    assert stats.saturated == pytest.approx(0.5)  # tanh(±100) saturates, tanh(0) and tanh(0.1) do not


def test_dead_relu_units_are_counted():
    layer = nn.Linear(3, 4)
    with torch.no_grad():
        layer.weight.zero_()
        layer.bias.copy_(torch.tensor([-1.0, -1.0, 1.0, 1.0]))  # two units can never fire
    model = nn.Sequential(layer, nn.ReLU())
    stats = diagnostics.activation_stats(model, torch.randn(16, 3))
    assert stats[1].dead == pytest.approx(0.5)


def test_default_layers_of_a_cnn_are_its_blocks():
    model = nnlab.cnn1d(channels=(4, 8, 8))
    names = [name for name, _ in diagnostics.default_layers(model)]
    assert names == ["features.0", "features.1", "features.2"]
    stats = diagnostics.activation_stats(model, torch.randn(5, 1, 40))
    assert len(stats) == 3


def test_activation_stats_detach_their_hooks():
    model = nnlab.mlp(4, 2)
    diagnostics.activation_stats(model, torch.randn(3, 4))
    assert all(not module._forward_hooks for module in model.modules())


def test_gradient_norms_match_torch():
    model = nnlab.mlp(4, 2, width=5, depth=2)
    loss = model(torch.randn(8, 4)).pow(2).sum()
    loss.backward()
    norms = diagnostics.gradient_norms(model)
    assert list(norms) == [name for name, _ in model.named_parameters()]
    for name, p in model.named_parameters():
        assert norms[name] == pytest.approx(torch.linalg.vector_norm(p.grad).item(), rel=1e-6)
    assert all(name.endswith("weight") for name in diagnostics.gradient_norms(model, weights_only=True))


def test_gradient_norms_shrink_towards_the_input_in_a_deep_sigmoid_net():
    # The vanishing-gradient effect the chapters show: sigmoid' <= 1/4 per layer.
    torch.manual_seed(0)
    model = nnlab.mlp(20, 2, width=32, depth=10, activation="sigmoid", init="xavier")
    nn.functional.cross_entropy(model(torch.randn(64, 20)), torch.randint(0, 2, (64,))).backward()
    norms = list(diagnostics.gradient_norms(model, weights_only=True).values())
    assert norms[0] < norms[-2] / 100


def test_diagnostics_records_during_fit():
    x, y = nnlab.make_spirals(256, seed=0)
    model = nnlab.mlp(2, 2, width=16, depth=2)
    recorder = nnlab.Diagnostics(model, every=4)
    fit_steps = 3 * 8  # 3 epochs of 8 batches
    nnlab.fit(model, TensorLoader(x, y, 32, shuffle=True), epochs=3, optimizer="sgd", lr=0.1, callbacks=[recorder])
    assert recorder.steps == list(range(0, fit_steps, 4))
    for stats in recorder.activations.values():
        assert len(stats) == len(recorder.steps)
    weights = [name for name, p in model.named_parameters() if p.dim() >= 2]
    assert list(recorder.grad_norms) == weights
    for name in weights:  # exact values: test_update_ratio_equals_lr_times_gradient_over_weight
        assert all(r > 0 for r in recorder.update_ratios[name])
    assert all(not m._forward_hooks for m in model.modules())  # removed when fit ends
    assert len(recorder.series("std")) == 3
    figure = recorder.plot()
    assert len(figure.axes) == 3


def test_update_ratio_equals_lr_times_gradient_over_weight():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 3, bias=False))
    recorder = nnlab.Diagnostics(model, every=1)
    x, y = torch.randn(8, 3), torch.randint(0, 3, (8,))
    w0 = model[0].weight.detach().clone()
    nnlab.fit(model, [(x, y)], epochs=1, optimizer="sgd", lr=0.5, callbacks=[recorder])
    expected = 0.5 * recorder.grad_norms["0.weight"][0] / w0.norm().item()
    assert recorder.update_ratios["0.weight"][0] == pytest.approx(expected, rel=1e-5)


def test_diagnostics_rejects_bad_every():
    with pytest.raises(ValueError, match="every"):
        nnlab.Diagnostics(nnlab.mlp(2, 2), every=0)
    with pytest.raises(ValueError, match="statistic"):
        nnlab.Diagnostics(nnlab.mlp(2, 2)).series("median")


def test_variance_shift_matches_dropouts_derived_ratio_and_restores_the_mode():
    # after dropout(p) a unit of mean m and variance v has variance (v + m^2)/(1-p) - m^2 in training mode
    torch.manual_seed(0)
    p, mean, std = 0.5, 2.0, 1.0
    model = torch.nn.Sequential(torch.nn.Identity(), torch.nn.Dropout(p), torch.nn.Identity())
    x = mean + std * torch.randn(200_000, 3)
    model.eval()
    ratio = diagnostics.variance_shift(model, x, model[1])
    derived = ((std**2 + mean**2) / (1 - p) - mean**2) / std**2
    assert ratio.shape == (3,)
    assert torch.allclose(ratio, torch.full((3,), derived), rtol=0.03)
    assert not model.training


def test_variance_shift_leaves_out_units_without_variance():
    model = torch.nn.Sequential(torch.nn.Dropout(0.3))
    x = torch.randn(1000, 4)
    x[:, 1] = 0.0  # a unit that never fires
    model.train()
    assert diagnostics.variance_shift(model, x, model[0]).shape == (3,)
    assert model.training
