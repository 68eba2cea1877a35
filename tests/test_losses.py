import pytest
import torch
import torch.nn.functional as F

from nnlab.data import make_regression_1d
from nnlab.losses import (bin_centres, bin_edges, binned_prediction, softmax_squared_error, temperature_scaled_loss,
                          to_bins)


def test_softmax_squared_error_and_its_gradient():
    torch.manual_seed(0)
    logits = torch.randn(6, 4, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([0, 3, 1, 1, 2, 0])
    loss = softmax_squared_error(logits, labels)
    p = F.softmax(logits, dim=1)
    e = F.one_hot(labels, 4).double()
    assert torch.allclose(loss, ((p - e) ** 2).sum(1).mean())
    loss.backward()
    # the derivation: d/dz ‖p − e‖² = 2 J (p − e), J = diag(p) − p pᵀ (symmetric), divided by N for the mean
    expected = torch.stack([2 * (torch.diag(pi) - torch.outer(pi, pi)) @ (pi - ei) for pi, ei in zip(p.detach(), e)]) / 6
    assert torch.allclose(logits.grad, expected)


def test_the_squared_error_gradient_vanishes_when_confidently_wrong():
    logits = torch.tensor([[12.0, 0.0, 0.0]], requires_grad=True)  # sure of class 0; the label is 2
    softmax_squared_error(logits, torch.tensor([2])).backward()
    squared = logits.grad.norm()
    logits.grad = None
    F.cross_entropy(logits, torch.tensor([2])).backward()
    assert squared < 1e-3 < 1.0 < logits.grad.norm()


def test_bins_round_trip():
    edges = bin_edges(-1.0, 1.0, 4)
    assert torch.allclose(edges, torch.tensor([-1.0, -0.5, 0.0, 0.5, 1.0]))
    assert torch.allclose(bin_centres(edges), torch.tensor([-0.75, -0.25, 0.25, 0.75]))
    values = torch.tensor([-3.0, -1.0, -0.6, -0.5, 0.1, 0.99, 1.0, 7.0])
    assert to_bins(values, edges).tolist() == [0, 0, 0, 1, 2, 3, 3, 3]
    logits = torch.tensor([[0.0, 5.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    assert torch.allclose(binned_prediction(logits, edges), torch.tensor([-0.25, -0.75]))
    assert torch.allclose(binned_prediction(logits, edges, how="mean")[1], torch.tensor(0.0), atol=1e-6)
    with pytest.raises(ValueError, match="bins must be"):
        bin_edges(0.0, 1.0, 1)
    with pytest.raises(ValueError, match="how must be"):
        binned_prediction(logits, edges, how="median")


def test_temperature_changes_the_loss_not_the_accuracy():
    torch.manual_seed(1)
    logits, labels = torch.randn(50, 5), torch.randint(0, 5, (50,))
    losses = [temperature_scaled_loss(logits, labels, t) for t in (0.5, 1.0, 2.0)]
    assert losses[1] == pytest.approx(float(F.cross_entropy(logits, labels)))
    assert len(set(round(v, 6) for v in losses)) == 3
    assert all(torch.equal((logits / t).argmax(1), logits.argmax(1)) for t in (0.5, 2.0))


def test_regression_set_branches_and_outliers():
    x, y = make_regression_1d(2000, noise=0.0, seed=3)
    assert x.shape == (2000, 1) and torch.allclose(y, torch.sin(3 * x[:, 0]))
    _, branched = make_regression_1d(2000, noise=0.0, branches=True, seed=3)
    assert torch.allclose((branched - y).abs(), torch.full_like(y, 0.8), atol=1e-6)
    _, dirty = make_regression_1d(2000, outliers=0.1, seed=3)
    share = (dirty == 10.0).float().mean()
    assert 0.08 < share < 0.12
    with pytest.raises(ValueError, match="outliers"):
        make_regression_1d(10, outliers=1.0)
