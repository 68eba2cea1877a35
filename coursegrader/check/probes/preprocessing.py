"""Independent check of the `preprocessing` exercise."""
from __future__ import annotations

import torch

from coursegrader.check.tasks import Task, attempt
from coursegrader.check.probes import case, generator, integer, plain, uniform

FORBIDDEN = ("nnlab.preprocessing", "nnlab.data.Standardizer")


def scaled_features(rng: torch.Generator, n: int, d: int) -> torch.Tensor:
    """Features in very different units and offsets, float64."""
    scales = 10.0 ** (4 * torch.rand(d, generator=rng, dtype=torch.float64) - 2)
    offsets = 100 * torch.randn(d, generator=rng, dtype=torch.float64)
    return torch.randn(n, d, generator=rng, dtype=torch.float64) * scales + offsets


def _pair(result):
    if isinstance(result, tuple) and len(result) == 2:
        return tuple(plain(r) for r in result)
    return result if isinstance(result, dict) else f"a {type(result).__name__}, not a pair of tensors"


def probe_fit_standardizer(fit, seed):
    rng = generator(seed, 81)

    def observe(n, d, constant=False):
        x = scaled_features(rng, n, d)
        if constant:
            x[:, integer(rng, 0, d)] = round(uniform(rng, -5, 5), 3)
        before = x.clone()
        return case(f"fit_standardizer(x of shape ({n}, {d})" + (", one constant feature)" if constant else ")"),
                    {"statistics": _pair(attempt(fit, x)), "x unchanged": torch.equal(x, before)})

    visible = [observe(4, 3), observe(5, 3, constant=True)]
    hidden = [observe(integer(rng, 2, 60), integer(rng, 1, 9), constant=True), observe(200, 1), observe(integer(rng, 2, 9), 12)]
    validation = [case("fit_standardizer(a tensor of shape (6,))", attempt(fit, torch.ones(6))),
                  case("fit_standardizer(a tensor of shape (2, 3, 4))", attempt(fit, torch.ones(2, 3, 4)))]
    return {"visible": visible, "hidden": hidden, "validation": validation}


def probe_standardize(transform, seed):
    rng = generator(seed, 82)

    def observe(n, d):
        x = scaled_features(rng, n, d)
        mean, std = x.mean(0) + torch.randn(d, generator=rng, dtype=torch.float64), x.std(0) + 0.5
        return case(f"standardize(x of shape ({n}, {d}), mean, std)", plain(attempt(transform, x, mean, std)))

    return {"visible": [observe(2, 2)], "hidden": [observe(integer(rng, 1, 40), integer(rng, 1, 9)) for _ in range(3)]}


def probe_fit_minmax(fit, seed):
    rng = generator(seed, 83)

    def observe(n, d):
        x = scaled_features(rng, n, d)
        before = x.clone()
        return case(f"fit_minmax(x of shape ({n}, {d}))", {"statistics": _pair(attempt(fit, x)), "x unchanged": torch.equal(x, before)})

    return {"visible": [observe(3, 2)], "hidden": [observe(integer(rng, 1, 60), integer(rng, 1, 9)) for _ in range(3)]}


def probe_minmax_scale(scale, seed):
    rng = generator(seed, 84)

    def observe(n, d, lo=None, hi=None, constant=False):
        x_train, x = scaled_features(rng, n, d), scaled_features(rng, n, d)
        if constant:
            x_train[:, 0] = 1.0
        x_min, x_max = x_train.min(0).values, x_train.max(0).values
        bounds = () if lo is None else (lo, hi)
        call = f"minmax_scale(x of shape ({n}, {d}), x_min, x_max{'' if lo is None else f', {lo}, {hi}'})" + (
            " with a constant feature" if constant else "")
        return case(call, plain(attempt(scale, x, x_min, x_max, *bounds)))

    visible = [observe(3, 3), observe(3, 2, 0.0, 1.0, constant=True)]
    hidden = [observe(integer(rng, 1, 40), integer(rng, 1, 9), round(uniform(rng, -3, 0), 2), round(uniform(rng, 0.5, 3), 2))
              for _ in range(3)] + [observe(5, 4, -1.0, 1.0, constant=True)]
    validation = [case(f"minmax_scale(x, x_min, x_max, lo={lo}, hi={hi})",
                       attempt(scale, torch.ones(3, 2), torch.zeros(2), torch.ones(2), lo, hi)) for lo, hi in [(1.0, 1.0), (2.0, -2.0)]]
    return {"visible": visible, "hidden": hidden, "validation": validation}


TASKS = {
    "fit_standardizer": Task(probe_fit_standardizer, "nnlab.preprocessing.fit_standardizer", FORBIDDEN, rtol=1e-9, atol=1e-12),
    "standardize": Task(probe_standardize, "nnlab.preprocessing.standardize", FORBIDDEN, rtol=1e-9, atol=1e-12),
    "fit_minmax": Task(probe_fit_minmax, "nnlab.preprocessing.fit_minmax", FORBIDDEN),
    "minmax_scale": Task(probe_minmax_scale, "nnlab.preprocessing.minmax_scale", FORBIDDEN, rtol=1e-9, atol=1e-12),
}
