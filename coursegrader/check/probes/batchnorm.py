"""Independent check of the `batchnorm` exercise."""
from __future__ import annotations

import torch
from torch import nn

from nnlab.grading import batchnorm_inputs

from coursegrader.check.tasks import Task, attempt
from coursegrader.check.probes import case, generator, integer, plain, uniform

FORBIDDEN = ("nnlab.normalization", "torch.nn.functional.batch_norm", "torch.batch_norm", "torch.native_batch_norm",
             "torch.nn.BatchNorm1d")


def _gradients(out, inputs, upstream):
    if not isinstance(out, torch.Tensor) or not out.requires_grad:
        return "not connected to autograd"
    grads = torch.autograd.grad(out, inputs, upstream, allow_unused=True)
    return [plain(g) if g is not None else "no gradient" for g in grads]


def probe_batchnorm_forward(forward, seed):
    rng = generator(seed, 31)

    def observe(n, d, momentum, eps, full):
        x, gamma, beta, rm, rv, upstream = batchnorm_inputs(n, d, rng)
        kwargs = {"momentum": momentum, "eps": eps} if full else {}
        call = f"batchnorm_forward(x of shape ({n}, {d}), ..." + (f", momentum={momentum}, eps={eps})" if full else ")")
        out = attempt(forward, x, gamma, beta, rm, rv, True, **kwargs)
        result = {"training output": plain(out), "running_mean": rm.clone(), "running_var": rv.clone(),
                  "gradients": attempt(_gradients, out, (x, gamma, beta), upstream)}
        # evaluation mode with running statistics of the probe's own (not those the call above updated)
        frozen_mean = torch.randn(d, generator=rng, dtype=torch.float64)
        frozen_var = torch.rand(d, generator=rng, dtype=torch.float64) + 0.5
        result["evaluation output"] = plain(attempt(forward, x.detach(), gamma.detach(), beta.detach(), frozen_mean, frozen_var,
                                                    False, **kwargs))
        result["running statistics unchanged in evaluation mode"] = [plain(frozen_mean), plain(frozen_var)]
        return case(call, result)

    visible = [observe(integer(rng, 4, 12), 3, 0.1, 1e-5, False)]
    hidden = [observe(n, d, m, e, True) for n, d, m, e in
              [(integer(rng, 4, 9), 4, 0.1, 1e-5), (16, integer(rng, 3, 9), round(uniform(rng, 0.05, 0.5), 3), 1e-3), (2, 3, 0.9, 1e-5)]]
    return {"visible": visible, "hidden": hidden}


def probe_BatchNorm1d(cls, seed):
    torch.manual_seed(seed)

    def observe(d, eps, momentum, full):
        layer = attempt(cls, d, eps=eps, momentum=momentum) if full else attempt(cls, d)
        if not isinstance(layer, nn.Module):
            return case(f"BatchNorm1d({d})", {"module": str(type(layer))})
        result = {"parameters": sorted(n for n, _ in layer.named_parameters()),
                  # torch's num_batches_tracked is allowed, not required
                  "buffers": sorted(n for n, _ in layer.named_buffers() if n != "num_batches_tracked")}
        layer = layer.double() if full else layer
        dtype = torch.float64 if full else torch.float32
        with torch.no_grad():
            for name, value in (("weight", torch.linspace(0.5, 2, d)), ("bias", torch.linspace(-1, 1, d))):
                if full and isinstance(getattr(layer, name, None), torch.Tensor):
                    getattr(layer, name).copy_(value)
        steps = []
        for step in range(3 if full else 1):
            x = (torch.randn(12, d, dtype=dtype) * 2 + step).requires_grad_(True)
            out = attempt(layer, x)
            observed = {"output": plain(out), "running_mean": plain(getattr(layer, "running_mean", None)),
                        "running_var": plain(getattr(layer, "running_var", None))}
            if full and isinstance(out, torch.Tensor) and out.requires_grad:
                out.backward(torch.randn(12, d, dtype=dtype))
                observed["input gradient"] = plain(x.grad)
                observed["weight gradient"] = plain(getattr(getattr(layer, "weight", None), "grad", None))
            steps.append(observed)
        result["training steps"] = steps
        layer.eval()
        result["evaluation output"] = plain(attempt(layer, torch.randn(5, d, dtype=dtype)))
        if full:
            moved = attempt(lambda: cls(d).double())
            result["buffer dtype after .double()"] = str(getattr(getattr(moved, "running_mean", None), "dtype", None))
        return case(f"BatchNorm1d({d}" + (f", eps={eps}, momentum={momentum})" if full else ")"), result)

    return {"visible": [observe(4, 1e-5, 0.1, False)], "hidden": [observe(6, 1e-5, 0.1, True), observe(3, 1e-3, 0.25, True)]}


TASKS = {
    "batchnorm_forward": Task(probe_batchnorm_forward, "nnlab.normalization.batchnorm_forward", FORBIDDEN, rtol=1e-6, atol=1e-9),
    "BatchNorm1d": Task(probe_BatchNorm1d, "nnlab.normalization.BatchNorm1d", FORBIDDEN, lends=("batchnorm_forward",), rtol=1e-5, atol=1e-6),
}
