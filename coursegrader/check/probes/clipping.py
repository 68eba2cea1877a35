"""Independent check of the `clipping` exercise."""
from __future__ import annotations

import torch
from torch import nn

from coursegrader.check.tasks import Task, attempt
from coursegrader.check.probes import case, generator, plain, uniform

FORBIDDEN = ("nnlab.clipping", "torch.nn.utils.clip_grad_norm_", "torch.nn.utils.clip_grad_norm", "torch.nn.utils.clip_grad_value_",
             "torch.nn.utils.clip_grads_with_norm_", "torch.nn.utils.get_total_norm")


def _unchanged(tensors, before):
    return all(torch.equal(t, b) for t, b in zip(tensors, before))


def probe_clip_by_value(clip, seed):
    rng = generator(seed, 61)

    def observe(t, c, label):
        before = t.clone()
        return case(f"clip_by_value({label}, {c})", {"value": plain(attempt(clip, t, c)), "input unchanged": _unchanged([t], [before])})

    visible = [observe(torch.randn(7, generator=rng) * 3, round(uniform(rng, 0.5, 2), 3), "a vector")]
    hidden = [observe(torch.randn(s, generator=rng, dtype=torch.float64) * 3, c, f"t of shape {s}")
              for s, c in [((50, 40), 0.5), ((3, 4, 5), 2.0), ((1000,), 1e-3)]]
    return {"visible": visible, "hidden": hidden}


def probe_clip_by_norm(clip, seed):
    rng = generator(seed, 62)

    def observe(t, m, label):
        before = t.clone()
        return case(f"clip_by_norm({label}, {m}) with ||t|| = {float(t.norm()):.3g}",
                    {"value": plain(attempt(clip, t, m)), "input unchanged": _unchanged([t], [before])})

    t = torch.randn(3, generator=rng) * 3
    norm = float(t.norm())
    visible = [observe(t, round(norm * 0.7, 3), "a vector"), observe(t, round(norm * 1.3, 3), "a vector")]
    hidden = [observe(torch.randn(s, generator=rng, dtype=torch.float64) * 2, m, f"t of shape {s}")
              for s, m in [((30, 20), 1.0), ((4, 5, 6), 100.0), ((7,), 0.25)]]
    return {"visible": visible, "hidden": hidden}


def probe_clip_by_global_norm(clip, seed):
    rng = generator(seed, 63)

    def observe(tensors, max_norm, label, as_generator=False):
        before = [t.clone() for t in tensors]
        argument = (t for t in tensors) if as_generator else tensors
        result = attempt(clip, argument, max_norm)
        if isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], list):
            result = ([plain(t) for t in result[0]], plain(result[1]))
        elif isinstance(result, (tuple, list)):
            result = type(result)(plain(r) for r in result)  # a wrong shape of answer, compared as it is
        return case(f"clip_by_global_norm({label}, {max_norm})", {"value": result, "inputs unchanged": _unchanged(tensors, before)})

    visible = [observe([torch.randn(3, generator=rng), torch.randn(3, generator=rng) * 2], round(uniform(rng, 1, 3), 3), "two vectors"),
               observe([torch.randn(2, generator=rng) for _ in range(3)], 0.5, "a generator of three vectors", as_generator=True)]
    hidden = [observe([torch.randn(s, generator=rng, dtype=torch.float64) for s in shapes], m, f"tensors of shapes {shapes}")
              for shapes, m in [([(20, 10), (10,), (5, 20)], 1.0), ([(3, 3)], 0.5), ([(4,), (2, 2, 2)], 1e4)]]
    hidden.append(observe([torch.ones(4) for _ in range(3)], 1.0, "a generator of three tensors", as_generator=True))
    return {"visible": visible, "hidden": hidden}


def probe_clip_grad_norm_(clip, seed):
    def observe(max_norm, scale, frozen, as_generator):
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Linear(6, 6), nn.ReLU(), nn.Linear(6, 6), nn.ReLU(), nn.Linear(6, 2))
        if frozen:
            model[2].weight.requires_grad_(False)
        model(torch.randn(16, 6)).pow(2).sum().mul(scale).backward()
        held = {name: p.grad for name, p in model.named_parameters()}  # what an optimizer would hold on to
        total = attempt(clip, model.parameters() if as_generator else list(model.parameters()), max_norm)
        gradients = {name: (plain(p.grad) if p.grad is not None else "no gradient") for name, p in model.named_parameters()}
        in_place = all(p.grad is held[name] for name, p in model.named_parameters())
        return case(f"clip_grad_norm_(model.parameters(), {max_norm})",
                    {"returned": plain(total), "gradients": gradients, "each .grad rescaled in place": in_place})

    rng = generator(seed, 64)
    visible = [observe(round(uniform(rng, 0.5, 2), 3), 10.0, False, True)]
    hidden = [observe(0.1, 100.0, True, True), observe(1e3, 1.0, True, True)]
    w = torch.zeros(3, requires_grad=True)
    w.grad = torch.tensor([3.0, 0.0, 4.0])
    total = attempt(clip, w, 1.0)
    hidden.append(case("clip_grad_norm_(a single tensor with .grad [3, 0, 4], 1.0)", {"returned": plain(total), "gradient": plain(w.grad)}))
    return {"visible": visible, "hidden": hidden}


TASKS = {
    "clip_by_value": Task(probe_clip_by_value, "nnlab.clipping.clip_by_value", FORBIDDEN),
    "clip_by_norm": Task(probe_clip_by_norm, "nnlab.clipping.clip_by_norm", FORBIDDEN),
    "clip_by_global_norm": Task(probe_clip_by_global_norm, "nnlab.clipping.clip_by_global_norm", FORBIDDEN,
                                lends=("clip_by_norm", "clip_by_value"), rtol=1e-5),
    "clip_grad_norm_": Task(probe_clip_grad_norm_, "nnlab.clipping.clip_grad_norm_", FORBIDDEN,
                            lends=("clip_by_value", "clip_by_norm", "clip_by_global_norm"), rtol=1e-5),
}
