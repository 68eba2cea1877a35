"""Independent check of the `cnn_sizing` exercise."""
from __future__ import annotations

from coursegrader.check.tasks import Task, attempt
from coursegrader.check.probes import case, generator, integer

FORBIDDEN = ("nnlab.cnn_sizing",)


def probe_conv_output_size(size, seed):
    rng = generator(seed, 11)

    def observe(*args, **kwargs):
        shown = ", ".join([*map(repr, args), *(f"{k}={v!r}" for k, v in kwargs.items())])
        return case(f"conv_output_size({shown})", attempt(size, *args, **kwargs))

    visible = []
    while len(visible) < 3:
        n, k = integer(rng, 8, 65), integer(rng, 1, 8)
        visible.append(observe(n, k, integer(rng, 1, 3), integer(rng, 0, 3)) if len(visible) != 1 else observe(n, k))
    visible += [observe(4, 6), observe(10, 3, stride=0)]  # a kernel that does not fit; an invalid stride
    hidden = []
    while len(hidden) < 60:
        n, k, s, p, d = (integer(rng, lo, hi) for lo, hi in [(1, 65), (1, 8), (1, 5), (0, 4), (1, 4)])
        if n + 2 * p >= d * (k - 1) + 1:
            hidden.append(observe(n, k, stride=s, padding=p, dilation=d))
    n = integer(rng, 2, 6)
    validation = [observe(n, n + 2), observe(10, 3, 1, 0, 5), observe(10, 0), observe(10, 3, 0)]
    return {"visible": visible, "hidden": hidden, "validation": validation}


def probe_conv_params(params, seed):
    rng = generator(seed, 12)

    def observe(*args, **kwargs):
        shown = ", ".join([*map(repr, args), *(f"{k}={v!r}" for k, v in kwargs.items())])
        return case(f"conv_params({shown})", attempt(params, *args, **kwargs))

    visible = [observe(integer(rng, 1, 17), integer(rng, 1, 33), integer(rng, 1, 6)),
               observe(integer(rng, 1, 17), integer(rng, 1, 33), integer(rng, 1, 6), bias=False),
               observe(integer(rng, 1, 17), integer(rng, 1, 17), (integer(rng, 1, 8),)),
               observe(4 * integer(rng, 1, 5), 4 * integer(rng, 1, 5), (3, 3), groups=4)]
    hidden = []
    for _ in range(30):
        groups = [1, 2, 4][integer(rng, 0, 3)]
        dims = integer(rng, 1, 4)
        kernel = tuple(integer(rng, 1, 6) for _ in range(dims))
        hidden.append(observe(groups * integer(rng, 1, 9), groups * integer(rng, 1, 9), kernel[0] if dims == 2 and integer(rng, 0, 2) else kernel,
                              bias=bool(integer(rng, 0, 2)), groups=groups))
    return {"visible": visible, "hidden": hidden}


def probe_separable_conv_params(params, seed):
    rng = generator(seed, 13)

    def observe(cin, cout, k, **kwargs):
        shown = f"{cin}, {cout}, {k}" + "".join(f", {a}={b!r}" for a, b in kwargs.items())
        return case(f"separable_conv_params({shown})", attempt(params, cin, cout, k, **kwargs))

    visible = [observe(integer(rng, 1, 65), integer(rng, 1, 129), integer(rng, 1, 8)),
               observe(integer(rng, 1, 65), integer(rng, 1, 129), integer(rng, 1, 8), bias=False)]
    hidden = [observe(integer(rng, 1, 33), integer(rng, 1, 65), integer(rng, 1, 8), bias=bool(integer(rng, 0, 2))) for _ in range(20)]
    return {"visible": visible, "hidden": hidden}


def probe_receptive_field(field, seed):
    rng = generator(seed, 14)

    def observe(layers):
        return case(f"receptive_field({layers})", attempt(field, layers))

    visible = [observe([(integer(rng, 1, 6), 1) for _ in range(2)]), observe([(integer(rng, 2, 6), 2) for _ in range(2)]),
               observe([])]
    hidden = [observe([(integer(rng, 1, 6), integer(rng, 1, 3)) for _ in range(integer(rng, 1, 6))]) for _ in range(20)]
    return {"visible": visible, "hidden": hidden}


TASKS = {
    "conv_output_size": Task(probe_conv_output_size, "nnlab.cnn_sizing.conv_output_size", FORBIDDEN),
    "conv_params": Task(probe_conv_params, "nnlab.cnn_sizing.conv_params", FORBIDDEN),
    "separable_conv_params": Task(probe_separable_conv_params, "nnlab.cnn_sizing.separable_conv_params", FORBIDDEN,
                                  lends=("conv_params",)),
    "receptive_field": Task(probe_receptive_field, "nnlab.cnn_sizing.receptive_field", FORBIDDEN),
}
