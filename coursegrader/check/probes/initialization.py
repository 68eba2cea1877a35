"""Independent check of the `initialization` exercise."""
from __future__ import annotations

import math

import torch

from coursegrader.check.tasks import Task, attempt
from coursegrader.check.probes import case, filled, generator, integer, uniform

FORBIDDEN = ("torch.nn.init", "torch.nn.init._calculate_fan_in_and_fan_out", "torch.nn.init._calculate_correct_fan", "nnlab.init")


def _fan(shape: tuple, which: str) -> int:
    return shape[1 if which == "in" else 0] * math.prod(shape[2:])


def _shape(rng, dims: int) -> tuple:
    base = (integer(rng, 100, 300), integer(rng, 100, 300)) if dims == 2 else (integer(rng, 24, 64), integer(rng, 24, 64))
    return base + tuple(integer(rng, 2, 5) for _ in range(dims - 2))


def probe_fans(fans, seed):
    rng = generator(seed, 1)
    visible = [case(f"fans(torch.empty{s})", attempt(fans, torch.empty(s)))
               for s in [(integer(rng, 1, 20), integer(rng, 1, 20)), tuple(integer(rng, 1, 9) for _ in range(4))]]
    visible.append(case("fans(torch.empty(7))", attempt(fans, torch.empty(7))))
    hidden = []
    for _ in range(20):
        shape = tuple(integer(rng, 1, 9) for _ in range(integer(rng, 2, 6)))
        hidden.append(case(f"fans(torch.empty{shape})", attempt(fans, torch.empty(shape))))
    validation = [case(f"fans(torch.empty{s})", attempt(fans, torch.empty(s))) for s in [(integer(rng, 1, 9),), ()]]
    return {"visible": visible, "hidden": hidden, "validation": validation}


def _xavier(kind: str):
    def probe(initializer, seed):
        rng = generator(seed, 2 if kind == "uniform" else 3)
        name = "xavier_uniform_" if kind == "uniform" else "xavier_normal_"

        def observe(shape, gain, parameter, salt):
            std = gain * math.sqrt(2.0 / (_fan(shape, "in") + _fan(shape, "out")))
            kwargs = {} if gain == 1.0 else {"gain": gain}
            call = f"{name}(torch.empty{shape}" + (f", gain={gain:.4g})" if kwargs else ")")
            return case(call, filled(initializer, shape, std, kind, seed + salt, parameter, **kwargs))

        visible = [observe(_shape(rng, 2), 1.0, False, 0), observe(_shape(rng, 2), round(uniform(rng, 0.3, 2.5), 3), True, 4)]
        hidden = [observe(_shape(rng, d), round(uniform(rng, 0.3, 2.5), 3), True, i + 1) for i, d in enumerate((3, 4, 2))]
        return {"visible": visible, "hidden": hidden}

    return probe


def probe_he_normal_(initializer, seed):
    rng = generator(seed, 4)

    def observe(shape, mode, salt):
        kwargs = {} if mode is None else {"mode": mode}  # None: the default mode, fan_in
        mode = mode or "fan_in"
        std = math.sqrt(2.0 / _fan(shape, "in" if mode == "fan_in" else "out"))
        return case(f"he_normal_(torch.empty{shape}" + (f", mode={mode!r})" if kwargs else ")"),
                    filled(initializer, shape, std, "normal", seed + salt, **kwargs))

    visible = [observe(_shape(rng, 2), None, 0), observe(_shape(rng, 2), "fan_out", 5),
               case("he_normal_(w, mode='fan_sum')", attempt(initializer, torch.empty(4, 4), mode="fan_sum"))]
    hidden = [observe(_shape(rng, d), mode, i + 1) for i, (d, mode) in enumerate([(2, "fan_out"), (4, "fan_in"), (3, "fan_out")])]
    validation = [case(f"he_normal_(w, mode={mode!r})", attempt(initializer, torch.empty(4, 4), mode=mode))
                  for mode in ("fan_avg", "FAN_IN")]
    return {"visible": visible, "hidden": hidden, "validation": validation}


def probe_lecun_normal_(initializer, seed):
    rng = generator(seed, 5)

    def observe(shape, salt, parameter=False):
        return case(f"lecun_normal_({'nn.Parameter(' if parameter else ''}torch.empty{shape}{')' if parameter else ''})",
                    filled(initializer, shape, math.sqrt(1.0 / _fan(shape, "in")), "normal", seed + salt, parameter))

    return {"visible": [observe(_shape(rng, 2), 0), observe(_shape(rng, 3), 3, parameter=True)],
            "hidden": [observe(_shape(rng, 3), 1, parameter=True), observe(_shape(rng, 2), 2)]}


TASKS = {
    "fans": Task(probe_fans, "nnlab.init.fans", FORBIDDEN),
    "xavier_uniform_": Task(_xavier("uniform"), "nnlab.init.xavier_uniform_", FORBIDDEN, lends=("fans",)),
    "xavier_normal_": Task(_xavier("normal"), "nnlab.init.xavier_normal_", FORBIDDEN, lends=("fans",)),
    "he_normal_": Task(probe_he_normal_, "nnlab.init.he_normal_", FORBIDDEN, lends=("fans",)),
    "lecun_normal_": Task(probe_lecun_normal_, "nnlab.init.lecun_normal_", FORBIDDEN, lends=("fans",)),
}
