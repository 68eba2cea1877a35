"""nnlab.architecture against torch's own parameter count, nnlab.mlp, and the formulas of the layers."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import nnlab
from nnlab.architecture import (HighwayBlock, ScaledTanh, deep_mlp, mlp_of_widths, mlp_parameters,
                                width_for_budget)
from nnlab.models import MLPBlock


@given(widths=st.lists(st.integers(1, 40), min_size=0, max_size=4), n_in=st.integers(1, 30), n_out=st.integers(1, 12))
@settings(max_examples=40, deadline=None)
def test_mlp_parameters_counts_what_torch_counts(widths, n_in, n_out):
    assert mlp_parameters(n_in, n_out, widths) == nnlab.count_parameters(mlp_of_widths(n_in, n_out, widths))


@given(depth=st.integers(1, 8), budget=st.integers(2_000, 200_000))
@settings(max_examples=60, deadline=None)
def test_width_for_budget_is_the_width_nearest_the_budget(depth, budget):
    width = width_for_budget(depth, budget, 40, 10)
    cost = lambda w: mlp_parameters(40, 10, [w] * depth)
    # no other width comes closer to the budget (the count grows with the width)
    assert abs(cost(width) - budget) <= abs(cost(width + 1) - budget)
    assert width == 1 or abs(cost(width) - budget) <= abs(cost(width - 1) - budget)


def test_width_for_budget_matches_the_chapter_s_networks_and_refuses_an_impossible_budget():
    assert [width_for_budget(d, 30_000, 40, 10) for d in (1, 3, 6)] == [588, 110, 72]
    with pytest.raises(ValueError, match="cannot pay for even one unit per layer at depth 3"):
        width_for_budget(3, 20, 40, 10)
    with pytest.raises(ValueError, match="depth must be an int >= 1"):
        width_for_budget(0, 30_000, 40, 10)


def test_equal_widths_build_exactly_nnlab_mlp():
    torch.manual_seed(3)
    uniform = nnlab.mlp(40, 10, width=32, depth=3, activation="tanh")
    torch.manual_seed(3)
    same = mlp_of_widths(40, 10, [32, 32, 32], activation="tanh")
    x = torch.randn(16, 40)
    assert torch.equal(uniform(x), same(x))
    assert [type(m) for m in same] == [MLPBlock, MLPBlock, MLPBlock, nn.Linear]


def test_mlp_of_widths_refuses_a_width_of_zero_and_a_bad_dropout():
    with pytest.raises(ValueError, match="every width must be an int >= 1"):
        mlp_of_widths(40, 10, [64, 0])
    with pytest.raises(ValueError, match="dropout must be a probability"):
        mlp_of_widths(40, 10, [64], dropout=1.5)


def test_scaled_tanh_is_scale_times_tanh_and_stays_in_its_range():
    head = ScaledTanh(2.5)
    x = torch.linspace(-50, 50, 1001)
    assert torch.allclose(head(x), 2.5 * torch.tanh(x))
    assert head(x).abs().max() <= 2.5
    for bad in (0, -1.0, True, "2"):
        with pytest.raises(ValueError, match="scale must be a positive number"):
            ScaledTanh(bad)


def test_highway_block_computes_the_gated_sum():
    torch.manual_seed(0)
    block = HighwayBlock(8, activation="tanh", gate_bias=-1.0)
    x = torch.randn(5, 8)
    transform = torch.tanh(x @ block.transform.weight.T + block.transform.bias)
    gate = torch.sigmoid(x @ block.gate.weight.T + block.gate.bias)
    assert torch.allclose(block(x), gate * transform + (1 - gate) * x, atol=1e-6)
    assert torch.all(block.gate.bias == -1.0)


def test_a_shut_highway_gate_passes_its_input_through():
    block = HighwayBlock(6, gate_bias=-60.0)  # sigmoid(-60) is 1e-26
    x = torch.randn(4, 6)
    assert torch.allclose(block(x), x, atol=1e-6)


@pytest.mark.parametrize("connection", ["plain", "residual", "highway"])
def test_deep_mlp_has_the_requested_depth_and_connection(connection):
    model = deep_mlp(40, 10, width=16, depth=4, connection=connection, init="he")
    hidden = list(model)[:-1]
    assert len(hidden) == 4 and model(torch.randn(3, 40)).shape == (3, 10)
    expected = HighwayBlock if connection == "highway" else MLPBlock
    assert all(isinstance(block, expected) for block in hidden[1:]) and isinstance(hidden[0], MLPBlock)
    if connection == "residual":
        assert all(block.residual for block in hidden[1:]) and not hidden[0].residual
    if connection == "highway":
        # a re-initialization zeroes biases; the gates must keep their negative start
        assert all(torch.all(block.gate.bias == -2.0) for block in hidden[1:])


def test_a_residual_layer_adds_its_input():
    model = deep_mlp(4, 2, width=4, depth=2, connection="residual")
    second = model[1]
    nn.init.zeros_(second.linear.weight)
    nn.init.zeros_(second.linear.bias)
    h = torch.randn(3, 4).abs()  # after the first layer's ReLU
    assert torch.equal(second(h), h)  # relu(0) = 0, so the layer returns its input


def test_he_initialized_residual_stack_grows_the_mean_square_as_derived():
    # He's init keeps E f(x)^2 = E x^2, and a residual stream of ReLU outputs has x, f(x) >= 0,
    # so E (x + f(x))^2 >= 2 E x^2: five residual layers grow the root mean square at least
    # sqrt(32)-fold, while the plain stack keeps it
    torch.manual_seed(0)
    x = torch.randn(4096, 64)
    growth = {}
    for connection in ("plain", "residual"):
        torch.manual_seed(1)
        model = deep_mlp(64, 10, width=256, depth=6, connection=connection, init="he")
        stats = nnlab.activation_stats(model, x)
        root_mean_square = [math.hypot(layer.mean, layer.std) for layer in stats]
        growth[connection] = root_mean_square[-2] / root_mean_square[0]
    assert 0.7 < growth["plain"] < 1.4, growth
    assert growth["residual"] > 0.95 * math.sqrt(32), growth


def test_deep_mlp_refuses_an_unknown_connection():
    with pytest.raises(ValueError, match="unknown connection 'dense'"):
        deep_mlp(40, 10, width=16, depth=3, connection="dense")


@pytest.mark.parametrize("name", ["prelu", "rrelu"])
def test_the_activations_the_sources_recommend_can_be_built(name):
    model = nnlab.mlp(40, 10, width=16, depth=2, activation=name)
    assert model(torch.randn(4, 40)).shape == (4, 10)
