import pytest
import torch
from torch import nn

from nnlab import gradients

pytestmark = pytest.mark.vanishing_gradients  # the reference of the vanishing_gradients assignment


def test_sigmoid_derivative_matches_autograd_and_peaks_at_a_quarter():
    x = torch.linspace(-8, 8, 101, dtype=torch.float64, requires_grad=True)
    torch.sigmoid(x).sum().backward()
    assert torch.allclose(gradients.sigmoid_derivative(x.detach()), x.grad, rtol=1e-12)
    assert float(gradients.sigmoid_derivative(torch.zeros(1))) == 0.25


def test_grad_norms_lists_parameters_with_gradients_in_order():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2))
    model[2].bias.requires_grad_(False)
    model(torch.randn(5, 4)).sum().backward()
    norms = gradients.grad_norms(model)
    assert list(norms) == ["0.weight", "0.bias", "2.weight"]
    for name, param in model.named_parameters():
        if param.grad is not None:
            assert norms[name] == pytest.approx(torch.linalg.vector_norm(param.grad).item(), rel=1e-6)


def test_activation_stds_follow_each_child():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    x = torch.randn(32, 8)
    h1 = model[0](x)
    expected = [h1.std().item(), h1.relu().std().item(), model[2](h1.relu()).std().item()]
    assert gradients.activation_stds(model, x) == pytest.approx(expected, rel=1e-6)
    with pytest.raises(TypeError, match="nn.Sequential"):
        gradients.activation_stds(nn.Linear(2, 2), torch.randn(3, 2))
