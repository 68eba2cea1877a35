import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from nnlab import models


def test_mlp_structure_and_output_shape():
    m = models.mlp(40, 10, width=32, depth=3)
    assert isinstance(m, nn.Sequential) and len(m) == 4
    assert all(isinstance(block, models.MLPBlock) for block in m[:3])
    assert m(torch.randn(5, 40)).shape == (5, 10)


def test_mlp_parameter_count_by_formula():
    # (in+1)*w + (depth-1)*(w+1)*w + (w+1)*out for plain Linear layers with bias
    m = models.mlp(40, 10, width=32, depth=3)
    assert models.count_parameters(m) == 41 * 32 + 2 * 33 * 32 + 33 * 10
    # BatchNorm before the activation: the Linear loses its bias, BN adds 2 per unit
    bn = models.mlp(40, 10, width=32, depth=1, norm="batch")
    assert models.count_parameters(bn) == 40 * 32 + 2 * 32 + 33 * 10


def test_count_parameters_agrees_with_torch_and_trainable_only():
    m = models.cnn1d(channels=(8, 16))
    assert models.count_parameters(m) == sum(p.numel() for p in m.parameters())
    for p in m.features.parameters():
        p.requires_grad_(False)
    assert models.count_parameters(m, trainable_only=True) == m.head.weight.numel() + m.head.bias.numel()


@settings(max_examples=25, deadline=None)
@given(
    width=st.integers(1, 16), depth=st.integers(0, 4), act=st.sampled_from(sorted(models.ACTIVATIONS)),
    norm=st.sampled_from(models.NORMS), position=st.sampled_from(models.NORM_POSITIONS),
    residual=st.booleans(), n=st.integers(2, 6),
)
def test_mlp_any_configuration_runs(width, depth, act, norm, position, residual, n):
    m = models.mlp(7, 3, width=width, depth=depth, activation=act, norm=norm, norm_position=position, residual=residual)
    out = m(torch.randn(n, 7))
    assert out.shape == (n, 3) and torch.isfinite(out).all()


def test_residual_block_adds_its_input():
    block = models.MLPBlock(6, 6, activation="relu", residual=True)
    plain = models.MLPBlock(6, 6, activation="relu")
    plain.load_state_dict(block.state_dict())
    x = torch.randn(4, 6)
    torch.testing.assert_close(block(x), x + plain(x))


def test_norm_position_orders_the_layers():
    torch.manual_seed(0)
    before = models.MLPBlock(5, 4, activation="relu", norm="batch", norm_position="before")
    x = torch.randn(16, 5)
    expected = torch.relu(nn.functional.batch_norm(before.linear(x), None, None, training=True))
    torch.testing.assert_close(before(x), expected)
    after = models.MLPBlock(5, 4, activation="relu", norm="batch", norm_position="after")
    expected = nn.functional.batch_norm(torch.relu(after.linear(x)), None, None, training=True)
    torch.testing.assert_close(after(x), expected)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(width=0), "width"),
        (dict(depth=-1), "depth"),
        (dict(activation="relux"), "unknown activation 'relux'"),
        (dict(norm="instance"), "unknown norm"),
        (dict(dropout=1.0), "dropout"),
        (dict(init="glorot"), "unknown init"),
        (dict(norm_position="middle"), "norm_position"),
    ],
)
def test_mlp_rejects_bad_arguments_by_name(kwargs, message):
    with pytest.raises(ValueError, match=message):
        models.mlp(4, 2, **kwargs)


def test_cnn1d_layout_for_transfer_learning():
    m = models.cnn1d(channels=(8, 16, 32), pool_after=(0, 1))
    assert isinstance(m.features, nn.Sequential) and len(m.features) == 3
    assert isinstance(m.head, nn.Linear) and m.head.in_features == 32
    assert m(torch.randn(3, 1, 40)).shape == (3, 10)


def test_cnn_global_max_pool_is_translation_invariant():
    # Circular shifts by a multiple of the pooling stride keep a max-pooled CNN's output;
    # with zero-padded borders this holds when the pattern sits away from the edges.
    torch.manual_seed(0)
    m = models.cnn1d(channels=(4, 8), pool_after=(0,), norm=None).eval()
    x = torch.zeros(1, 1, 64)
    x[0, 0, 20:28] = torch.randn(8)
    shifted = torch.roll(x, 10, dims=2)
    torch.testing.assert_close(m(x), m(shifted))


def test_cnn2d_on_digits_shape():
    m = models.cnn2d(channels=(8, 16), pool_after=(0,))
    assert m(torch.randn(2, 1, 8, 8)).shape == (2, 10)
    assert isinstance(m.features[0].conv, nn.Conv2d)


def test_conv_block_residual_projection():
    block = models.ConvBlock(3, 8, 3, residual=True, norm=None)
    assert isinstance(block.shortcut, nn.Conv1d)
    x = torch.randn(2, 3, 10)
    expected = torch.relu(block.conv(x)) + block.shortcut(x)
    torch.testing.assert_close(block(x), expected)


def test_cnn_rejects_bad_arguments():
    with pytest.raises(ValueError, match="odd"):
        models.cnn1d(kernel_size=4)
    with pytest.raises(ValueError, match="pool_after"):
        models.cnn1d(channels=(8,), pool_after=(3,))
    with pytest.raises(ValueError, match="at least one"):
        models.cnn1d(channels=())


@pytest.mark.parametrize(
    "init, activation, variance",
    [
        ("xavier", "tanh", lambda fi, fo: 2 / (fi + fo)),
        ("he", "relu", lambda fi, fo: 2 / fi),
        ("lecun", "selu", lambda fi, fo: 1 / fi),
    ],
)
def test_initializers_have_the_textbook_variance(init, activation, variance):
    torch.manual_seed(0)
    m = models.mlp(300, 200, width=400, depth=1, activation=activation, init=init)
    for layer, (fan_in, fan_out) in ((m[0].linear, (300, 400)), (m[1], (400, 200))):
        w = layer.weight.detach()
        expected = variance(fan_in, fan_out)
        # the sample variance of n iid normals has relative std sqrt(2/n); allow 6 of those
        assert abs(w.var().item() / expected - 1) < 6 * math.sqrt(2 / w.numel())
        assert abs(w.mean().item()) < 6 * math.sqrt(expected / w.numel())
        assert torch.count_nonzero(layer.bias) == 0


def test_he_init_matches_torch_kaiming_variance_for_convs():
    torch.manual_seed(0)
    m = models.cnn1d(channels=(64, 64), kernel_size=5, init="he")
    w = m.features[1].conv.weight.detach()
    reference = torch.empty_like(w)
    nn.init.kaiming_normal_(reference, nonlinearity="relu")
    assert abs(w.std().item() / reference.std().item() - 1) < 0.05


def test_zeros_init_makes_hidden_units_identical():
    m = models.mlp(5, 3, width=4, depth=2, init="zeros")
    assert all(torch.count_nonzero(p) == 0 for p in m.parameters() if p.dim() > 1)


def test_recurrent_classifier_reads_signals_and_starts_from_the_identity():
    from nnlab.models import RecurrentClassifier

    model = RecurrentClassifier(num_classes=7, hidden=12)
    assert torch.equal(model.rnn.weight_hh_l0, torch.eye(12))
    x = torch.randn(5, 40)
    out = model(x)
    assert out.shape == (5, 7)
    assert torch.equal(model(x.unsqueeze(1)), out)
    # with ReLU and identity recurrence, h_t = relu(h_{t-1} + W_ih x_t): check the last step by hand
    h = torch.zeros(5, 12)
    for t in range(40):
        h = torch.relu(h + x[:, t:t + 1] @ model.rnn.weight_ih_l0.T)
    assert torch.allclose(model.head(h), out, atol=1e-5)
    with pytest.raises(ValueError, match="shape"):
        model(torch.randn(2, 3, 40))
    with pytest.raises(ValueError, match="nonlinearity"):
        RecurrentClassifier(nonlinearity="gelu")
