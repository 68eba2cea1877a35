import math

import pytest
import torch

from nnlab.dropout import Dropout, dropout

pytestmark = pytest.mark.dropout  # the reference of the dropout assignment


def test_eval_and_zero_rate_return_the_input_unchanged():
    x = torch.randn(10, 10)
    assert dropout(x, 0.5, training=False) is x
    assert dropout(x, 0.0, training=True) is x
    assert torch.equal(dropout(x, 1.0, training=True), torch.zeros_like(x))


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_each_element_is_dropped_with_probability_p_and_survivors_are_scaled(p):
    x = torch.full((200_000,), 2.0)
    y = dropout(x, p, training=True, generator=torch.Generator().manual_seed(0))
    dropped = float((y == 0).float().mean())
    standard_error = math.sqrt(p * (1 - p) / len(x))
    assert abs(dropped - p) < 6 * standard_error
    assert torch.allclose(y[y != 0], torch.tensor(2.0 / (1 - p)))
    assert abs(float(y.mean()) - 2.0) < 0.05, "inverted dropout keeps the mean"


def test_generator_makes_masks_reproducible():
    x = torch.randn(1000)
    a = dropout(x, 0.3, True, generator=torch.Generator().manual_seed(5))
    b = dropout(x, 0.3, True, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b)


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_rates_outside_the_unit_interval_are_refused(p):
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\]"):
        dropout(torch.ones(3), p, True)
    with pytest.raises(ValueError):
        Dropout(p)


def test_module_follows_train_and_eval_mode():
    layer = Dropout(0.5)
    x = torch.ones(10_000)
    assert (layer(x) == 0).any()
    layer.eval()
    assert torch.equal(layer(x), x)
