"""Each optimizer against its torch counterpart: 50 steps in float64 on a small network."""
import pytest
import torch
from torch import nn

from nnlab import optim

pytestmark = pytest.mark.optimizers  # the reference of the optimizers assignment

CASES = [
    (optim.SGD, torch.optim.SGD, dict(lr=0.05)),
    (optim.SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.9)),
    (optim.SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-2)),
    (optim.Adagrad, torch.optim.Adagrad, dict(lr=0.1)),
    (optim.Adagrad, torch.optim.Adagrad, dict(lr=0.05, eps=1e-6)),
    (optim.RMSprop, torch.optim.RMSprop, dict(lr=0.01)),
    (optim.RMSprop, torch.optim.RMSprop, dict(lr=0.01, alpha=0.9, weight_decay=1e-2)),
    (optim.Adam, torch.optim.Adam, dict()),
    (optim.Adam, torch.optim.Adam, dict(lr=0.01, betas=(0.8, 0.99), weight_decay=1e-2)),
]


def _model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3)).double()


def _train(model, optimizer, steps=50, groups=False):
    torch.manual_seed(1)
    losses = []
    for _ in range(steps):
        x, y = torch.randn(16, 5, dtype=torch.float64), torch.randn(16, 3, dtype=torch.float64)

        def closure():
            optimizer.zero_grad()
            loss = ((model(x) - y) ** 2).mean()
            loss.backward()
            return loss

        losses.append(float(optimizer.step(closure).detach()))
    return losses


@pytest.mark.parametrize("ours, theirs, options", CASES)
def test_fifty_steps_match_torch(ours, theirs, options):
    a, b = _model(), _model()
    losses_a = _train(a, ours(a.parameters(), **options))
    losses_b = _train(b, theirs(b.parameters(), **options))
    assert losses_a == pytest.approx(losses_b, rel=1e-9), "step() returns the closure's loss"
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.allclose(p, q, rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("ours, theirs, options", CASES[2::2])
def test_param_groups_and_parameters_without_gradients(ours, theirs, options):
    a, b = _model(), _model()
    frozen_before = a[2].bias.detach().clone()
    a[2].bias.requires_grad_(False)
    b[2].bias.requires_grad_(False)
    lr = options.get("lr", 1e-3)

    def groups(model):
        return [{"params": [model[0].weight, model[0].bias]},
                {"params": [model[2].weight, model[2].bias], "lr": lr / 3}]

    _train(a, ours(groups(a), **options), steps=20)
    _train(b, theirs(groups(b), **options), steps=20)
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.allclose(p, q, rtol=1e-6, atol=1e-12)
    assert torch.equal(a[2].bias, frozen_before)


@pytest.mark.parametrize("make", [
    lambda p: optim.SGD(p, lr=-1.0),
    lambda p: optim.SGD(p, lr=0.1, momentum=-0.5),
    lambda p: optim.SGD(p, lr=0.1, nesterov=True),
    lambda p: optim.Adagrad(p, eps=-1.0),
    lambda p: optim.RMSprop(p, alpha=1.5),
    lambda p: optim.Adam(p, betas=(0.9, 1.0)),
    lambda p: optim.Adam(p, weight_decay=-0.1),
    lambda p: optim.NormalizedSGD(p, lr=-0.1),
])
def test_invalid_hyperparameters_are_refused(make):
    with pytest.raises(ValueError):
        make(_model().parameters())


def test_normalized_sgd_takes_steps_of_length_lr():
    w = torch.nn.Parameter(torch.tensor([3.0, 4.0]))
    w.grad = torch.tensor([30.0, 40.0])
    optim.NormalizedSGD([w], lr=0.5).step()
    assert torch.allclose(w.detach(), torch.tensor([3.0 - 0.3, 4.0 - 0.4]))


def test_adam_bias_correction_makes_the_first_step_lr_sized():
    w = torch.nn.Parameter(torch.zeros(3))
    w.grad = torch.tensor([1e-3, 1.0, -50.0])
    optim.Adam([w], lr=0.1).step()
    assert torch.allclose(w.detach(), torch.tensor([-0.1, -0.1, 0.1]), rtol=1e-4)


def test_trajectory_follows_gradient_descent_by_hand():
    from nnlab.optim import SGD, trajectory

    def bowl(w):
        return 0.5 * (w[0] ** 2 + 10 * w[1] ** 2)

    points, losses = trajectory(lambda p: SGD(p, lr=0.05), bowl, (1.0, 1.0), steps=20)
    assert points.shape == (21, 2) and len(losses) == 21
    # gradient descent on a diagonal quadratic: each coordinate shrinks by (1 - lr * curvature) per step
    expected = torch.tensor([(1 - 0.05) ** 20, (1 - 0.5) ** 20], dtype=torch.float64)
    assert torch.allclose(points[-1], expected)
    assert losses[-1] == pytest.approx(float(bowl(points[-1])))
    diverging, _ = trajectory(lambda p: SGD(p, lr=1.0), lambda w: torch.exp(w[0] ** 2).sum() + w[1], (3.0, 0.0), steps=50)
    assert len(diverging) < 51  # stopped once the loss overflowed
    with pytest.raises(ValueError, match="steps"):
        trajectory(lambda p: SGD(p, lr=0.1), bowl, (1.0, 1.0), steps=0)


def test_full_batch_losses_counts_evaluations_and_trains():
    from nnlab.optim import full_batch_losses

    torch.manual_seed(0)
    x, y = torch.randn(64, 5), torch.randint(0, 3, (64,))
    model = torch.nn.Linear(5, 3)
    start = torch.nn.functional.cross_entropy(model(x), y).item()
    lbfgs = torch.optim.LBFGS(model.parameters(), max_iter=10, line_search_fn="strong_wolfe")
    losses = full_batch_losses(model, x, y, lbfgs, 25)
    assert len(losses) == 25 and losses[0] == pytest.approx(start)
    assert min(losses) < start
    with pytest.raises(ValueError, match="evaluations"):
        full_batch_losses(model, x, y, lbfgs, 0)
