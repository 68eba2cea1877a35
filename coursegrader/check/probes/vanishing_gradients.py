"""Independent check of the `vanishing_gradients` exercise."""
from __future__ import annotations

import torch
from torch import nn

from nnlab.grading import recording_grad_mode

from coursegrader.check.tasks import Task, attempt
from coursegrader.check.probes import case, generator, integer, plain

FORBIDDEN = ("nnlab.gradients", "nnlab.diagnostics")


def probe_sigmoid_derivative(derivative, seed):
    rng = generator(seed, 21)

    def observe(x, label):
        before = x.clone()
        return case(f"sigmoid_derivative({label})", {"value": plain(attempt(derivative, x)), "input_unchanged": torch.equal(x, before)})

    n = integer(rng, 5, 30)
    visible = [observe(torch.linspace(-5, 5, n, dtype=torch.float64), f"torch.linspace(-5, 5, {n})"),
               observe(torch.tensor([-100.0, 100.0]), "torch.tensor([-100., 100.])")]
    hidden = [observe(torch.randn(s, generator=rng, dtype=torch.float64) * 6, f"x of shape {s}") for s in [(7,), (3, 5), (2, 3, 4)]]
    hidden.append(observe(torch.tensor([-100.0, -60.0, 60.0, 100.0]), "torch.tensor([-100., -60., 60., 100.])"))
    return {"visible": visible, "hidden": hidden}


def probe_grad_norms(norms, seed):
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2))
    net(torch.randn(8, 4)).pow(2).sum().backward()
    visible = [case("grad_norms(a Linear-Tanh-Linear network)", plain(attempt(norms, net)))]
    net[2].bias.grad = None
    visible.append(case("grad_norms(the same network with one .grad set to None)", plain(attempt(norms, net))))
    net = nn.Sequential(nn.Conv1d(2, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6, 5), nn.Linear(5, 3))
    net[0].bias.requires_grad_(False)
    net(torch.randn(6, 2, 8))[:, :2].sum().backward()
    net[4].bias.grad = None
    hidden = [case("grad_norms(a network with a frozen bias and a parameter without .grad)", plain(attempt(norms, net)))]
    return {"visible": visible, "hidden": hidden}


def probe_activation_stds(stds, seed):
    def observe(net, x):
        with recording_grad_mode(net) as grad_modes:
            result = attempt(stds, net, x)
        return {"stds": result, "autograd_recorded_per_call": list(grad_modes),
                "no_gradients": all(p.grad is None for p in net.parameters())}

    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    visible = [case("activation_stds(Linear-ReLU-Linear, x)", observe(net, torch.randn(5, 8)))]
    net = nn.Sequential(*[layer for _ in range(6) for layer in (nn.Linear(12, 12), nn.Tanh())])
    hidden = [case("activation_stds(12 Linear/Tanh layers, x)", observe(net, torch.randn(3, 12)))]
    return {"visible": visible, "hidden": hidden}


TASKS = {
    "sigmoid_derivative": Task(probe_sigmoid_derivative, "nnlab.gradients.sigmoid_derivative", FORBIDDEN, rtol=1e-9, atol=1e-20),
    "grad_norms": Task(probe_grad_norms, "nnlab.gradients.grad_norms", FORBIDDEN),
    "activation_stds": Task(probe_activation_stds, "nnlab.gradients.activation_stds", FORBIDDEN),
}
