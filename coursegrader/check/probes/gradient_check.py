"""Independent check of the `gradient_check` exercise.

The functions to differentiate are small networks of torch's layers (rebuilt in the fresh
run, where the student's code calls them), some ending in :class:`nnlab.gradcheck.GradientScale`,
whose backward is wrong on purpose: a checker must report exactly how wrong.
"""
from __future__ import annotations

import torch
from torch import nn

from nnlab.gradcheck import GradientScale

from coursegrader.check.tasks import Task, attempt
from coursegrader.check.probes import case, generator, integer, plain, uniform

# the reference module's functions (GradientScale, which the probes use, stays callable) and torch's own checkers
REFERENCES = ("nnlab.gradcheck.numerical_gradient", "nnlab.gradcheck.relative_error", "nnlab.gradcheck.check_gradient",
              "nnlab.gradcheck.linear_backward", "nnlab.gradcheck.softmax_cross_entropy", "nnlab.gradcheck.batchnorm_backward")
CHECKERS = ("torch.autograd.gradcheck",)  # the module: gradcheck, gradgradcheck, get_numerical_jacobian, ...
AUTOGRAD = ("torch.autograd.grad", "torch.autograd.backward")


def scalar_network(features: int, seed: int, scale: float | None = None) -> nn.Module:
    """A smooth scalar function of a vector of ``features``: ``Linear → Tanh → Linear(·, 1)``
    in float64, its output of shape (1,); with ``scale``, a last layer whose backward is wrong."""
    torch.manual_seed(seed)
    layers = [nn.Linear(features, 6), nn.Tanh(), nn.Linear(6, 1)]
    if scale is not None:
        layers.append(GradientScale(scale))
    return nn.Sequential(*layers).double()


def probe_numerical_gradient(numerical, seed):
    rng = generator(seed, 71)

    def observe(shape, h, label):
        x = torch.randn(shape, generator=rng, dtype=torch.float64)
        before = x.clone()
        f = scalar_network(shape[-1], integer(rng, 0, 2**31))
        batch = (lambda t: f(t).sum()) if len(shape) > 1 else f  # noqa: E731 - a vector in, or a batch summed
        arguments = (batch, x) if h is None else (batch, x, h)
        result = attempt(numerical, *arguments)
        call = f"numerical_gradient(f, x of shape {shape}" + ("" if h is None else f", h={h}") + f") [{label}]"
        return case(call, {"gradient": plain(result), "x unchanged": torch.equal(x, before)})

    visible = [observe((3,), None, "a small network"), observe((4,), 0.1, "h = 0.1: the centred difference, not the exact derivative")]
    hidden = [observe((integer(rng, 2, 9),), None, "a small network"), observe((3, 5), 1e-4, "a batch of 3 vectors"),
              observe((6,), 0.05, "a large h")]
    validation = [case("numerical_gradient(f, x, h=0)", attempt(numerical, lambda t: t.sum(), torch.ones(2, dtype=torch.float64), 0.0)),
                  case("numerical_gradient(f, x, h=-1e-3)", attempt(numerical, lambda t: t.sum(), torch.ones(2, dtype=torch.float64), -1e-3))]
    return {"visible": visible, "hidden": hidden, "validation": validation}


def probe_relative_error(relative, seed):
    rng = generator(seed, 72)

    def observe(a, b, label, eps=None):
        result = attempt(relative, a, b) if eps is None else attempt(relative, a, b, eps)
        return case(f"relative_error({label}" + ("" if eps is None else f", eps={eps}") + ")", result)

    a = torch.randn(5, generator=rng, dtype=torch.float64)
    visible = [observe(a, a * 1.001, "a, a * 1.001"), observe(a, -a, "a, -a"),
               observe(torch.tensor([1.0, 2.0, 0.0]), torch.tensor([1.0, 1.0, 0.0]), "[1, 2, 0], [1, 1, 0]")]
    hidden = []
    for shape in [(4, 3), (2, 2, 2), (7,)]:
        x = torch.randn(shape, generator=rng, dtype=torch.float64)
        noise = torch.randn(shape, generator=rng, dtype=torch.float64) * uniform(rng, 1e-9, 1e-2)
        hidden.append(observe(x, x + noise, f"x, x + noise of shape {shape}"))
    hidden.append(observe(torch.tensor([1e-9, 0.0, 3.0]), torch.tensor([0.0, 0.0, 3.0]), "[1e-9, 0, 3], [0, 0, 3]"))
    hidden.append(observe(torch.tensor([1e-9, 0.0]), torch.tensor([0.0, 0.0]), "[1e-9, 0], [0, 0]", eps=1e-6))
    return {"visible": visible, "hidden": hidden}


def _check_observation(result):
    """A correct gradient's relative error is rounding noise: only "below 1e-7" (the notebook's bar) is compared."""
    if type(result) is float:
        return {"below 1e-7": True} if result < 1e-7 else result
    return result if isinstance(result, dict) else f"a {type(result).__name__}, not a float"


def probe_check_gradient(check, seed):
    rng = generator(seed, 73)

    def observe(scale, features, label, h=None):
        f = scalar_network(features, integer(rng, 0, 2**31), scale)
        x = torch.randn(features, generator=rng, dtype=torch.float64)
        before = x.clone()
        result = attempt(check, f, x) if h is None else attempt(check, f, x, h)
        return case(f"check_gradient(f, x) for {label}", {"relative error": _check_observation(result),
                                                           "x unchanged, not requiring grad": torch.equal(x, before) and not x.requires_grad})

    visible = [observe(None, 3, "a correct network"), observe(0.5, 3, "a network whose backward halves the gradient")]
    hidden = [observe(None, integer(rng, 4, 9), "a correct network"),
              observe(round(uniform(rng, 1.5, 3.0), 3), 5, "a network whose backward scales the gradient"),
              observe(-1.0, 4, "a network whose backward reverses the gradient"),
              observe(None, 6, "a correct network, h = 1e-6", h=1e-6)]
    return {"visible": visible, "hidden": hidden}


def _pair_or_triple(result, size):
    if isinstance(result, tuple) and len(result) == size:
        return tuple(plain(r) for r in result)
    return result if isinstance(result, dict) else f"a {type(result).__name__}, not a tuple of {size}"


def probe_linear_backward(backward, seed):
    rng = generator(seed, 74)

    def observe(n, d, m):
        x, w = (torch.randn(s, generator=rng, dtype=torch.float64) for s in ((n, d), (m, d)))
        dout = torch.randn(n, m, generator=rng, dtype=torch.float64)
        return case(f"linear_backward(dout of shape ({n}, {m}), x of shape ({n}, {d}), w of shape ({m}, {d}))",
                    _pair_or_triple(attempt(backward, dout, x, w), 3))

    visible = [observe(4, 3, 2)]
    hidden = [observe(integer(rng, 1, 9), integer(rng, 1, 9), integer(rng, 1, 9)) for _ in range(3)] + [observe(1, 5, 1)]
    return {"visible": visible, "hidden": hidden}


def probe_softmax_cross_entropy(loss_and_gradient, seed):
    rng = generator(seed, 75)

    def observe(n, c, scale, label):
        logits = torch.randn(n, c, generator=rng, dtype=torch.float64) * scale
        targets = torch.randint(0, c, (n,), generator=rng)
        return case(f"softmax_cross_entropy(logits of shape ({n}, {c}) [{label}], targets)",
                    _pair_or_triple(attempt(loss_and_gradient, logits, targets), 2))

    visible = [observe(4, 3, 1.0, "ordinary logits")]
    hidden = [observe(integer(rng, 2, 17), integer(rng, 2, 11), 3.0, "ordinary logits"), observe(1, 5, 1.0, "one example"),
              observe(6, 4, 1000.0, "logits in the thousands, where exp overflows")]
    return {"visible": visible, "hidden": hidden}


TASKS = {
    "numerical_gradient": Task(probe_numerical_gradient, "nnlab.gradcheck.numerical_gradient",
                               REFERENCES + CHECKERS + AUTOGRAD, rtol=1e-6, atol=1e-9),
    "relative_error": Task(probe_relative_error, "nnlab.gradcheck.relative_error", REFERENCES + CHECKERS, rtol=1e-9),
    "check_gradient": Task(probe_check_gradient, "nnlab.gradcheck.check_gradient", REFERENCES + CHECKERS,
                           lends=("numerical_gradient", "relative_error"), rtol=1e-4),
    "linear_backward": Task(probe_linear_backward, "nnlab.gradcheck.linear_backward", REFERENCES + CHECKERS + AUTOGRAD,
                            rtol=1e-9, atol=1e-12),
    "softmax_cross_entropy": Task(probe_softmax_cross_entropy, "nnlab.gradcheck.softmax_cross_entropy",
                                  REFERENCES + CHECKERS + AUTOGRAD + ("torch.nn.functional.cross_entropy", "torch.nn.functional.nll_loss"),
                                  rtol=1e-9, atol=1e-12),
}
