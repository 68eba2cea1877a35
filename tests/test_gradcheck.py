import math

import pytest
import torch
import torch.nn.functional as F

from nnlab import gradcheck


def test_numerical_gradient_matches_autograd_and_leaves_x_as_it_was():
    torch.manual_seed(0)
    x = torch.randn(3, 4, dtype=torch.float64)
    before = x.clone()
    f = lambda t: (t.sin() * t.pow(2)).sum()  # noqa: E731
    numeric = gradcheck.numerical_gradient(f, x)
    analytic = torch.func.grad(f)(x)
    assert numeric.shape == x.shape and numeric.dtype == x.dtype
    assert torch.allclose(numeric, analytic, rtol=1e-8, atol=1e-10)
    assert torch.equal(x, before)


def test_numerical_gradient_error_shrinks_as_h_squared():
    # f = exp: the centred difference overestimates by h**2 f'''/6 = h**2 e^x / 6
    x = torch.tensor([0.3], dtype=torch.float64)
    for h in (1e-2, 1e-3):
        error = float(gradcheck.numerical_gradient(lambda t: t.exp().sum(), x, h=h) - math.exp(0.3))
        assert error == pytest.approx(h**2 * math.exp(0.3) / 6, rel=1e-2)


def test_numerical_gradient_accepts_a_function_returning_a_float_and_refuses_bad_h():
    x = torch.tensor([1.0, 2.0], dtype=torch.float64)
    assert torch.allclose(gradcheck.numerical_gradient(lambda t: float((t**2).sum()), x), 2 * x)
    with pytest.raises(ValueError, match="h must be positive"):
        gradcheck.numerical_gradient(lambda t: t.sum(), x, h=0.0)
    with pytest.raises(ValueError, match="scalar"):
        gradcheck.numerical_gradient(lambda t: t * 2, x)


def test_relative_error_is_the_worst_element():
    a = torch.tensor([1.0, 2.0, 0.0])
    b = torch.tensor([1.0, 1.0, 0.0])
    assert gradcheck.relative_error(a, b) == pytest.approx(1 / 3)
    assert gradcheck.relative_error(a, -a) == pytest.approx(1.0)
    assert gradcheck.relative_error(torch.zeros(2), torch.zeros(2)) == 0.0
    assert gradcheck.relative_error(torch.tensor([1e-9]), torch.tensor([0.0]), eps=1e-8) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="same shape"):
        gradcheck.relative_error(torch.zeros(2), torch.zeros(3))


def test_check_gradient_is_tiny_for_a_correct_gradient_and_large_for_a_wrong_one():
    torch.manual_seed(1)
    x = torch.randn(5, dtype=torch.float64)
    assert gradcheck.check_gradient(lambda t: (t.tanh() ** 2).sum(), x) < 1e-8

    class WrongSquare(torch.autograd.Function):
        @staticmethod
        def forward(ctx, t):
            ctx.save_for_backward(t)
            return (t**2).sum()

        @staticmethod
        def backward(ctx, grad):
            (t,) = ctx.saved_tensors
            return grad * t  # the factor 2 forgotten

    before = x.clone()
    assert gradcheck.check_gradient(WrongSquare.apply, x) == pytest.approx(1 / 3, rel=1e-6)
    assert torch.equal(x, before)


def test_linear_backward_matches_autograd():
    torch.manual_seed(2)
    x = torch.randn(6, 4, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, dtype=torch.float64, requires_grad=True)
    dout = torch.randn(6, 3, dtype=torch.float64)
    F.linear(x, w, b).backward(dout)
    dx, dw, db = gradcheck.linear_backward(dout, x.detach(), w.detach())
    for mine, theirs in [(dx, x.grad), (dw, w.grad), (db, b.grad)]:
        assert torch.allclose(mine, theirs)
    with pytest.raises(ValueError, match="do not fit"):
        gradcheck.linear_backward(torch.randn(6, 2), x.detach(), w.detach())


def test_softmax_cross_entropy_matches_torch_even_for_huge_logits():
    torch.manual_seed(3)
    logits = (torch.randn(8, 5, dtype=torch.float64) * 3).requires_grad_(True)
    targets = torch.randint(0, 5, (8,))
    loss, dlogits = gradcheck.softmax_cross_entropy(logits.detach(), targets)
    expected = F.cross_entropy(logits, targets)
    expected.backward()
    assert loss.item() == pytest.approx(expected.item())
    assert torch.allclose(dlogits, logits.grad)
    huge = torch.tensor([[1000.0, 0.0], [0.0, 1000.0]])
    loss, dlogits = gradcheck.softmax_cross_entropy(huge, torch.tensor([0, 0]))
    assert math.isfinite(loss.item()) and loss.item() == pytest.approx(500.0)
    assert torch.isfinite(dlogits).all()


def test_batchnorm_backward_matches_autograd():
    torch.manual_seed(4)
    x = torch.randn(16, 3, dtype=torch.float64, requires_grad=True)
    gamma = torch.randn(3, dtype=torch.float64, requires_grad=True)
    beta = torch.randn(3, dtype=torch.float64, requires_grad=True)
    dout = torch.randn(16, 3, dtype=torch.float64)
    F.batch_norm(x, None, None, gamma, beta, training=True, eps=1e-5).backward(dout)
    dx, dgamma, dbeta = gradcheck.batchnorm_backward(dout, x.detach(), gamma.detach())
    for mine, theirs in [(dx, x.grad), (dgamma, gamma.grad), (dbeta, beta.grad)]:
        assert torch.allclose(mine, theirs)


@pytest.mark.parametrize("scale", [1.0, 0.5, -1.0, 3.0])
def test_a_gradient_scale_layer_is_caught_by_the_check_exactly_as_derived(scale):
    torch.manual_seed(5)
    f = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Linear(6, 1), gradcheck.GradientScale(scale)).double()
    x = torch.randn(4, dtype=torch.float64)
    assert torch.equal(f(x), f[:3](x))  # the identity going forward
    error = gradcheck.check_gradient(f, x)
    if scale == 1.0:
        assert error < 1e-7
    else:
        assert error == pytest.approx(abs(scale - 1) / (abs(scale) + 1), rel=1e-5)
