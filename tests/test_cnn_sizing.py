import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn

from nnlab import cnn_sizing as cs

pytestmark = pytest.mark.cnn_sizing  # the reference of the cnn_sizing assignment


@settings(max_examples=150, deadline=None)
@given(n=st.integers(1, 40), k=st.integers(1, 7), s=st.integers(1, 4), p=st.integers(0, 3), d=st.integers(1, 3))
def test_conv_output_size_matches_torch(n, k, s, p, d):
    assume(n + 2 * p >= d * (k - 1) + 1)
    conv = nn.Conv1d(1, 1, k, stride=s, padding=p, dilation=d)
    assert cs.conv_output_size(n, k, s, p, d) == conv(torch.zeros(1, 1, n)).shape[-1]


def test_conv_output_size_examples_and_the_seed_formula_error():
    # The formula printed in one source, floor((N - 2 + 2P)/S) + 1, is right only for k = 2.
    assert cs.conv_output_size(32, 3, 1, 1) == 32
    assert cs.conv_output_size(32, 5, 1, 0) == 28 != (32 - 2 + 0) // 1 + 1
    assert cs.conv_output_size(7, 3, 2, 0, dilation=2) == 2


@pytest.mark.parametrize("args", [(3, 5), (10, 0), (10, 3, 0), (10, 3, 1, -1), (10, 3, 1, 0, 0)])
def test_conv_output_size_rejects_impossible_layers(args):
    with pytest.raises(ValueError):
        cs.conv_output_size(*args)


@settings(max_examples=60, deadline=None)
@given(ci=st.integers(1, 8), co=st.integers(1, 8), k=st.integers(1, 5), bias=st.booleans(), g=st.sampled_from([1, 2, 4]))
def test_conv_params_match_torch(ci, co, k, bias, g):
    ci, co = ci * g, co * g
    conv = nn.Conv2d(ci, co, k, bias=bias, groups=g)
    assert cs.conv_params(ci, co, k, bias, g) == sum(p.numel() for p in conv.parameters())
    conv1d = nn.Conv1d(ci, co, k, bias=bias, groups=g)
    assert cs.conv_params(ci, co, (k,), bias, g) == sum(p.numel() for p in conv1d.parameters())


def test_conv_params_rejects_groups_that_do_not_divide():
    with pytest.raises(ValueError, match="groups"):
        cs.conv_params(6, 4, 3, groups=4)


@settings(max_examples=40, deadline=None)
@given(ci=st.integers(1, 16), co=st.integers(1, 16), k=st.integers(1, 5), bias=st.booleans())
def test_separable_params_match_torch(ci, co, k, bias):
    depthwise = nn.Conv2d(ci, ci, k, groups=ci, bias=bias)
    pointwise = nn.Conv2d(ci, co, 1, bias=bias)
    expected = sum(p.numel() for p in [*depthwise.parameters(), *pointwise.parameters()])
    assert cs.separable_conv_params(ci, co, k, bias) == expected


def test_separable_is_cheaper_than_full_convolution():
    assert cs.separable_conv_params(64, 128, 3) < cs.conv_params(64, 128, 3) / 7


def _empirical_receptive_field(layers):
    # Oracle: the span of inputs with a nonzero gradient for the centre output.
    n = 200
    x = torch.zeros(1, 1, n, requires_grad=True)
    h = x
    for k, s in layers:
        conv = nn.Conv1d(1, 1, k, stride=s, bias=False)
        nn.init.constant_(conv.weight, 1.0)
        h = conv(h)
    h[0, 0, h.shape[-1] // 2].backward()
    touched = torch.nonzero(x.grad[0, 0]).flatten()
    return int(touched.max() - touched.min() + 1)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 5), st.integers(1, 3)), min_size=1, max_size=4))
def test_receptive_field_matches_gradients(layers):
    assert cs.receptive_field(layers) == _empirical_receptive_field(layers)


def test_receptive_field_rejects_bad_layers():
    assert cs.receptive_field([]) == 1
    with pytest.raises(ValueError, match="pair"):
        cs.receptive_field([(3,)])
