"""Independent check of the `optimizers` exercise: 50 float64 steps against the reference."""
from __future__ import annotations

import torch
from torch import nn

from nnlab.grading import optimizer_run

from coursegrader.check.tasks import Task, attempt
from coursegrader.check.probes import case, generator, plain, uniform

TORCH = ("torch.optim.SGD", "torch.optim.Adagrad", "torch.optim.RMSprop", "torch.optim.Adam", "torch.optim.AdamW",
         "torch.optim.sgd.sgd", "torch.optim.adagrad.adagrad", "torch.optim.rmsprop.rmsprop", "torch.optim.adam.adam",
         "torch.optim.adamw.adamw", "torch.optim._functional")
FORBIDDEN = TORCH + ("nnlab.optim.SGD", "nnlab.optim.Adagrad", "nnlab.optim.RMSprop", "nnlab.optim.Adam", "nnlab.optim.NormalizedSGD")


def _probe(name, visible_settings, hidden_settings, group_settings, invalid):
    """The visible group checks every kind of requirement: the update rule, Nesterov and weight
    decay where the optimizer has them, per-group hyperparameters, and the validation in
    ``__init__``; the hidden group draws other settings, and the validation group other bad ones. ``group_settings`` and ``invalid`` are pairs
    (visible, hidden)."""
    def probe(cls, seed):
        def observe(kwargs, groups=None, salt=0):
            label = f"{name}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})" + (f" with param groups {groups}" if groups else "")
            return case(f"50 steps of {label}", attempt(optimizer_run, lambda params: cls(params, **kwargs), seed + salt, groups))

        def rejects(kwargs):
            made = attempt(cls, [nn.Parameter(torch.zeros(2))], **kwargs)
            # the reference raises ValueError; anything that constructs is recorded as "constructed"
            return case(f"{name}(params, {kwargs})", made if isinstance(made, dict) else "constructed")

        cases = {}
        for group, settings, (groups, defaults), salt in (
                ("visible", visible_settings(generator(seed, 51)), group_settings[0], 0),
                ("hidden", hidden_settings(generator(seed, 52)), group_settings[1], 10)):
            cases[group] = [observe(kwargs, salt=salt + i) for i, kwargs in enumerate(settings)]
            cases[group].append(observe(defaults, groups, salt=salt + 9))
        cases["visible"] += [rejects(kwargs) for kwargs in invalid[0]]
        cases["validation"] = [rejects(kwargs) for kwargs in invalid[1]]  # its own cell: a missing check costs only it
        return cases

    return probe


def _lr(rng, low, high):
    return round(uniform(rng, low, high), 4)


probe_SGD = _probe(
    "SGD",
    lambda rng: [dict(lr=_lr(rng, 0.05, 0.15), momentum=0.9),
                 dict(lr=_lr(rng, 0.02, 0.08), momentum=0.9, nesterov=True, weight_decay=0.05)],
    lambda rng: [dict(lr=_lr(rng, 0.02, 0.08)), dict(lr=_lr(rng, 0.02, 0.08), momentum=0.8, nesterov=True),
                 dict(lr=_lr(rng, 0.05, 0.15), momentum=0.5, weight_decay=0.01),
                 dict(lr=_lr(rng, 0.01, 0.05), momentum=0.9, nesterov=True, weight_decay=0.1)],
    (([dict(lr=0.1, momentum=0.0), dict(lr=0.02, momentum=0.9)], dict(lr=0.3)),
     ([dict(lr=0.2, momentum=0.0), dict(lr=0.01, momentum=0.9)], dict(lr=0.5))),
    ([dict(lr=-1.0), dict(lr=0.1, nesterov=True)],
     [dict(lr=-0.1), dict(lr=0.1, momentum=-0.5), dict(lr=0.1, weight_decay=-1.0), dict(lr=0.1, momentum=0.0, nesterov=True)]),
)
probe_Adagrad = _probe(
    "Adagrad",
    lambda rng: [dict(lr=_lr(rng, 0.05, 0.2))],
    lambda rng: [dict(lr=_lr(rng, 0.3, 0.6), eps=1e-6), dict(lr=_lr(rng, 0.005, 0.02))],
    (([dict(lr=0.2), dict(lr=0.05)], dict()), ([dict(lr=0.3), dict(lr=0.02)], dict())),
    ([dict(lr=-1.0)], [dict(lr=-0.1), dict(eps=-1e-8)]),
)
probe_RMSprop = _probe(
    "RMSprop",
    lambda rng: [dict(lr=_lr(rng, 0.005, 0.02)), dict(lr=_lr(rng, 0.002, 0.008), alpha=0.95, weight_decay=0.02)],
    lambda rng: [dict(lr=_lr(rng, 0.002, 0.005), alpha=0.9, eps=1e-6), dict(lr=_lr(rng, 0.005, 0.02), weight_decay=0.05)],
    (([dict(lr=0.01, alpha=0.8), dict(lr=0.002)], dict()), ([dict(lr=0.02, alpha=0.5), dict(lr=0.001)], dict())),
    # as torch.optim.RMSprop: alpha < 0 is refused, alpha >= 1 is not tested (torch accepts it)
    ([dict(alpha=-0.5)], [dict(lr=-0.1), dict(alpha=-0.1), dict(weight_decay=-1.0), dict(eps=-1e-3)]),
)
probe_Adam = _probe(
    "Adam",
    lambda rng: [dict(lr=_lr(rng, 0.005, 0.02)), dict(lr=_lr(rng, 0.01, 0.03), betas=(0.8, 0.99), weight_decay=0.05)],
    lambda rng: [dict(lr=_lr(rng, 0.03, 0.07), betas=(0.5, 0.9)), dict(lr=_lr(rng, 0.002, 0.005), eps=1e-4, weight_decay=0.1),
                 dict(lr=_lr(rng, 0.01, 0.03), betas=(0.0, 0.99))],
    (([dict(lr=0.02, betas=(0.7, 0.9)), dict(lr=0.005)], dict()), ([dict(lr=0.05, betas=(0.8, 0.95)), dict(lr=0.001)], dict())),
    ([dict(betas=(0.9, 1.0))], [dict(lr=-0.1), dict(betas=(1.0, 0.999)), dict(betas=(0.9, -0.1)), dict(eps=-1.0)]),
)

TASKS = {
    name: Task(probe, f"nnlab.optim.{name}", FORBIDDEN, rtol=1e-6, atol=1e-10)
    for name, probe in [("SGD", probe_SGD), ("Adagrad", probe_Adagrad), ("RMSprop", probe_RMSprop), ("Adam", probe_Adam)]
}
