"""Independent check of the `dropout` exercise (random masks: checked statistically)."""
from __future__ import annotations

import math

import torch
from torch import nn

from nnlab import grading

from coursegrader.check.compare import Mismatch, compare
from coursegrader.check.probes import case, generator, integer, plain
from coursegrader.check.tasks import Task, attempt

FORBIDDEN = ("nnlab.dropout", "torch.nn.functional.dropout", "torch.dropout", "torch.dropout_", "torch.nn.functional.dropout1d",
             "torch.nn.functional.dropout2d", "torch.nn.functional.dropout3d", "torch.nn.functional.alpha_dropout",
             "torch.alpha_dropout", "torch.feature_dropout", "torch.nn.Dropout")


def _rate(y, x, p):
    return {"kind": "rate", "y": plain(y), "x": x, "p": p}


def check(actual, expected, call, task):
    """Dropout's cases: the rate of zeros and the scale of survivors, reproducibility with a
    generator, the gradient through the mask; anything else compared exactly."""
    kind = expected.get("kind") if isinstance(expected, dict) else None
    if kind == "rate":
        y, x, p = actual.get("y") if isinstance(actual, dict) else actual, expected["x"], expected["p"]
        if not isinstance(y, torch.Tensor) or y.shape != x.shape or y.dtype != x.dtype:
            raise Mismatch(f"{call} returned {getattr(y, 'dtype', type(y).__name__)} {tuple(getattr(y, 'shape', ()))}; "
                           f"expected a {x.dtype} tensor of shape {tuple(x.shape)}")
        dropped = (y == 0).double().mean().item()
        margin = 6 * math.sqrt(p * (1 - p) / y.numel())
        if abs(dropped - p) > margin:
            raise Mismatch(f"{call} zeroed {dropped:.4f} of the elements; expected {p} ± {margin:.4f}")
        kept = y != 0
        grading.assert_tensor_close(y[kept], x[kept] / (1 - p), f"the kept elements of {call}", rtol=1e-6, atol=1e-9)
        if x.dim() == 2 and (y == 0).all(dim=1).double().mean().item() >= 0.01:
            raise Mismatch(f"{call} zeroed whole rows; each element must be dropped independently")
    elif kind == "reproducible":
        first, second = actual.get("first"), actual.get("second")
        if not (isinstance(first, torch.Tensor) and isinstance(second, torch.Tensor) and torch.equal(first, second)):
            raise Mismatch(f"{call}: two generators seeded alike gave different masks; draw the random numbers from `generator`")
    elif kind == "gradient":
        y, grad = actual.get("y"), actual.get("grad")
        if not isinstance(y, torch.Tensor) or not isinstance(grad, torch.Tensor):
            raise Mismatch(f"{call}: the output is not connected to autograd")
        if y.dtype != grad.dtype:  # the gradient has the input's dtype
            raise Mismatch(f"{call}: a {grad.dtype} input gave a {y.dtype} output; keep the input's dtype")
        grading.assert_tensor_close(grad, (y != 0).to(grad.dtype) / (1 - expected["p"]), call)
    else:
        compare(actual, expected, call, task)


def probe_dropout(dropout, seed):
    rng = generator(seed, 41)
    x = torch.ones(100_000)
    visible = [case("dropout(torch.ones(100000), 0.5, training=False)", plain(attempt(dropout, x, 0.5, training=False))),
               case("dropout(torch.ones(100000), 0.5, training=True)",
                    _rate(attempt(dropout, x, 0.5, training=True, generator=generator(seed, 42)), x, 0.5)),
               case("dropout(x, 1.0, training=True)", plain(attempt(dropout, x, 1.0, training=True))),
               case("x after dropout(torch.ones(100000), ...)", x.clone())]
    torch.manual_seed(seed + 3)
    first = attempt(dropout, x[:1000], 0.3, True, generator=generator(seed, 46))
    torch.manual_seed(seed + 4)
    second = attempt(dropout, x[:1000], 0.3, True, generator=generator(seed, 46))
    visible.append(case("dropout(x[:1000], 0.3, True, generator=...) twice with generators seeded alike",
                        {"kind": "reproducible", "first": plain(first), "second": plain(second)}))
    visible.append(case("dropout(x, 1.2, True)", attempt(dropout, torch.ones(3), 1.2, True)))
    hidden = []
    for p, shape in [(round(0.1 + 0.3 * torch.rand((), generator=rng).item(), 3), (400, 250)),
                     (round(0.6 + 0.3 * torch.rand((), generator=rng).item(), 3), (50, 40, 30))]:
        x = torch.randn(shape, generator=rng, dtype=torch.float64)
        before = x.clone()
        y = attempt(dropout, x, p, training=True, generator=generator(seed, 43))
        hidden.append(case(f"dropout(x of shape {shape}, {p}, training=True)", _rate(y, before, p)))
        hidden.append(case(f"x after dropout(x of shape {shape}, {p}, training=True)", x.clone()))
    x = torch.randn(1000, generator=rng)
    torch.manual_seed(seed + 1)
    first = attempt(dropout, x, 0.3, True, generator=generator(seed, 44))
    torch.manual_seed(seed + 2)
    second = attempt(dropout, x, 0.3, True, generator=generator(seed, 44))
    hidden.append(case("dropout(x, 0.3, True, generator=...) twice with generators seeded alike",
                       {"kind": "reproducible", "first": plain(first), "second": plain(second)}))
    hidden.append(case("dropout(x, 0.0, training=True)", plain(attempt(dropout, x, 0.0, True))))
    x = torch.randn(integer(rng, 100, 200), generator=rng, requires_grad=True)
    y = attempt(dropout, x, 0.5, True, generator=generator(seed, 45))
    if isinstance(y, torch.Tensor) and y.requires_grad:
        y.sum().backward()
    hidden.append(case("the gradient of dropout(x, 0.5, True).sum()",
                       {"kind": "gradient", "p": 0.5, "y": plain(y) if isinstance(y, torch.Tensor) else None,
                        "grad": plain(x.grad)}))
    validation = [case(f"dropout(x, {bad}, True)", attempt(dropout, torch.ones(3), bad, True)) for bad in (-0.1, 1.5)]
    return {"visible": visible, "hidden": hidden, "validation": validation}


def probe_Dropout(cls, seed):
    x = torch.ones(100_000)
    layer = attempt(cls)
    if not isinstance(layer, nn.Module):
        return {"visible": [case("Dropout()", str(type(layer)))], "hidden": [case("Dropout(0.3)", str(type(layer)))]}
    torch.manual_seed(seed)
    y = attempt(layer, x)
    layer.eval()
    visible = [case("Dropout().p", plain(getattr(layer, "p", None))), case("Dropout()(torch.ones(100000)) in training mode", _rate(y, x, 0.5)),
               case("Dropout() in evaluation mode", plain(attempt(layer, x)))]
    other = attempt(cls, 0.2)
    if isinstance(other, nn.Module):
        visible += [case("Dropout(0.2).p", plain(getattr(other, "p", None))),
                    case("the parameters of Dropout(0.2)", len(list(other.parameters())))]
        other.eval()
        other.train()
        torch.manual_seed(seed + 2)
        visible.append(case("Dropout(0.2) after .eval() then .train()", _rate(attempt(other, x), x, 0.2)))
    else:
        visible.append(case("Dropout(0.2)", str(type(other))))
    net = nn.Sequential(nn.Identity(), attempt(cls, 0.3))
    x = torch.randn(300, 300, generator=generator(seed, 46))
    hidden = [case("the parameters of Dropout(0.3)", len(list(net.parameters())))]
    torch.manual_seed(seed + 1)
    hidden.append(case("Dropout(0.3) inside nn.Sequential, training mode", _rate(attempt(net, x), x, 0.3)))
    net.eval()
    hidden.append(case("Dropout(0.3) after model.eval()", plain(attempt(net, x))))
    net.train()
    hidden.append(case("Dropout(0.3) after model.train() again", _rate(attempt(net, x), x, 0.3)))
    return {"visible": visible, "hidden": hidden}


TASKS = {
    "dropout": Task(probe_dropout, "nnlab.dropout.dropout", FORBIDDEN, check=check),
    "Dropout": Task(probe_Dropout, "nnlab.dropout.Dropout", FORBIDDEN, check=check, lends=("dropout",)),
}
