import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from nnlab import grading, init

pytestmark = pytest.mark.initialization  # the reference of the initialization assignment

shapes = st.lists(st.integers(1, 6), min_size=2, max_size=5).map(tuple)


@settings(max_examples=60, deadline=None)
@given(shape=shapes)
def test_fans_match_torch(shape):
    expected = nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    assert init.fans(torch.empty(shape)) == expected
    assert all(type(v) is int for v in init.fans(torch.empty(shape)))


@pytest.mark.parametrize("shape", [(), (5,)])
def test_fans_need_two_dims(shape):
    with pytest.raises(ValueError, match="at least 2 dims"):
        init.fans(torch.empty(shape))


def _assert_distribution(w: torch.Tensor, std: float, uniform_bound: float | None = None):
    # The same statistical check the exercises use (6 standard errors), tested in test_grading.py.
    kind = "normal" if uniform_bound is None else "uniform"
    grading.assert_distribution(w, std, "initializer", kind=kind)


@pytest.mark.parametrize("shape", [(400, 300), (64, 32, 3, 3)])
def test_initializers_have_the_stated_distribution(shape):
    torch.manual_seed(0)
    fan_in, fan_out = init.fans(torch.empty(shape))
    bound = 2.0 * math.sqrt(6 / (fan_in + fan_out))
    w = init.xavier_uniform_(torch.empty(shape), gain=2.0)
    _assert_distribution(w, bound / math.sqrt(3), uniform_bound=bound)
    _assert_distribution(init.xavier_normal_(torch.empty(shape), gain=0.5), 0.5 * math.sqrt(2 / (fan_in + fan_out)))
    _assert_distribution(init.he_normal_(torch.empty(shape)), math.sqrt(2 / fan_in))
    _assert_distribution(init.he_normal_(torch.empty(shape), mode="fan_out"), math.sqrt(2 / fan_out))
    _assert_distribution(init.lecun_normal_(torch.empty(shape)), math.sqrt(1 / fan_in))


def test_initializers_agree_with_torch_in_distribution():
    # Same generator state, same draws: torch's initializers are the oracle.
    for ours, theirs in [
        (lambda w: init.xavier_uniform_(w, gain=1.5), lambda w: nn.init.xavier_uniform_(w, gain=1.5)),
        (lambda w: init.xavier_normal_(w), lambda w: nn.init.xavier_normal_(w)),
        (lambda w: init.he_normal_(w), lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu")),
        (lambda w: init.he_normal_(w, "fan_out"), lambda w: nn.init.kaiming_normal_(w, mode="fan_out")),
    ]:
        torch.manual_seed(1)
        a = ours(torch.empty(50, 20, 3))
        torch.manual_seed(1)
        b = theirs(torch.empty(50, 20, 3))
        torch.testing.assert_close(a, b)


def test_initializers_work_in_place_and_return_the_tensor():
    layer = nn.Linear(10, 5)
    for function in (init.xavier_uniform_, init.xavier_normal_, init.he_normal_, init.lecun_normal_):
        before = layer.weight.detach().clone()
        returned = function(layer.weight)
        assert returned is layer.weight and layer.weight.requires_grad
        assert not torch.equal(before, layer.weight)


def test_he_mode_is_checked():
    with pytest.raises(ValueError, match="mode"):
        init.he_normal_(torch.empty(3, 3), mode="fan_avg")
