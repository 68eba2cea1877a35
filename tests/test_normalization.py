import pytest
import torch
from torch import nn

from nnlab.normalization import BatchNorm1d, batchnorm_forward

pytestmark = pytest.mark.batchnorm  # the reference of the batchnorm assignment


def _pair(num_features=6, momentum=0.1, eps=1e-5):
    torch.manual_seed(0)
    ours = BatchNorm1d(num_features, eps=eps, momentum=momentum).double()
    theirs = nn.BatchNorm1d(num_features, eps=eps, momentum=momentum).double()
    with torch.no_grad():
        for module in (ours, theirs):
            module.weight.copy_(torch.linspace(0.5, 2.0, num_features))
            module.bias.copy_(torch.linspace(-1.0, 1.0, num_features))
    return ours, theirs


@pytest.mark.parametrize("momentum", [0.1, 0.3])
def test_batchnorm1d_matches_torch_in_train_and_eval(momentum):
    ours, theirs = _pair(momentum=momentum)
    for step in range(4):
        x = (torch.randn(16, 6, dtype=torch.float64) * 3 + 2).requires_grad_(True)
        x2 = x.detach().clone().requires_grad_(True)
        grad_out = torch.randn(16, 6, dtype=torch.float64)
        y, y2 = ours(x), theirs(x2)
        y.backward(grad_out)
        y2.backward(grad_out)
        assert torch.allclose(y, y2, atol=1e-10)
        assert torch.allclose(x.grad, x2.grad, atol=1e-10)
        assert torch.allclose(ours.weight.grad, theirs.weight.grad, atol=1e-10)
        assert torch.allclose(ours.bias.grad, theirs.bias.grad, atol=1e-10)
        assert torch.allclose(ours.running_mean, theirs.running_mean, atol=1e-12)
        assert torch.allclose(ours.running_var, theirs.running_var, atol=1e-12)
    ours.eval(), theirs.eval()
    x = torch.randn(5, 6, dtype=torch.float64)
    before = ours.running_var.clone()
    assert torch.allclose(ours(x), theirs(x), atol=1e-10)
    assert torch.equal(ours.running_var, before), "eval mode must not touch the running statistics"


def test_module_layout_matches_torch():
    ours = BatchNorm1d(3)
    assert [n for n, _ in ours.named_parameters()] == ["weight", "bias"]
    assert {n for n, _ in ours.named_buffers()} == {"running_mean", "running_var"}
    assert torch.equal(ours.running_var, torch.ones(3)) and torch.equal(ours.weight, torch.ones(3))


def test_batchnorm_forward_rejects_bad_shapes_and_single_samples():
    gamma, beta, rm, rv = torch.ones(3), torch.zeros(3), torch.zeros(3), torch.ones(3)
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        batchnorm_forward(torch.randn(2, 3, 4), gamma, beta, rm, rv, training=True)
    with pytest.raises(ValueError, match="at least 2 samples"):
        batchnorm_forward(torch.randn(1, 3), gamma, beta, rm, rv, training=True)
