"""The probes of the independent check, one module per assignment, and the helpers they share:
fresh inputs from a seed, observations as plain values."""
from __future__ import annotations

import math

import torch

from coursegrader.contracts import RAISED
from coursegrader.check.tasks import attempt


def case(call: str, result: object) -> dict:
    return {"call": call, "result": result}


def generator(seed: int, salt: int) -> torch.Generator:
    return torch.Generator().manual_seed((seed * 1_000_003 + salt) % (2**63))


def integer(rng: torch.Generator, low: int, high: int) -> int:
    """A uniform int in [low, high)."""
    return int(torch.randint(low, high, (1,), generator=rng))


def uniform(rng: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=rng, dtype=torch.float64))


def plain(value: object) -> object:
    """A tensor result detached and copied (so that later changes do not alter it)."""
    return value.detach().clone() if isinstance(value, torch.Tensor) else value


def filled(initializer, shape: tuple, std: float, kind: str, seed: int, parameter: bool = False, **kwargs) -> dict:
    """Observe an in-place initializer: did it return its argument, change it, keep
    requires_grad, and what values did it write (checked as a distribution outside)."""
    torch.manual_seed(seed)
    weight = torch.nn.Parameter(torch.empty(shape)) if parameter else torch.empty(shape)
    with torch.no_grad():
        weight.fill_(math.nan)
    returned = attempt(initializer, weight, **kwargs)
    if isinstance(returned, dict) and RAISED in returned:
        return returned
    result = {"sample": weight.detach().clone(), "std": std, "kind": kind, "returned_its_argument": returned is weight}
    if parameter:
        result["requires_grad"] = bool(weight.requires_grad)
    return result
