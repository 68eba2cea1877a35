"""Independent check of the `lr_schedules` exercise."""
from __future__ import annotations

import torch

from coursegrader.check.tasks import Task, attempt
from coursegrader.check.probes import case, generator, integer, uniform

FORBIDDEN = ("nnlab.schedules",)


def _rate(rng, low, high):
    return round(uniform(rng, low, high), 5)


def probe_step_decay(decay, seed):
    rng = generator(seed, 71)
    lr0 = _rate(rng, 0.01, 1.0)
    visible = [case(f"step_decay({lr0}, {e})", attempt(decay, lr0, e)) for e in sorted({0, 9, 10, integer(rng, 11, 40)})]
    visible += [case(f"step_decay({lr0}, {e}, drop=0.1, every=3)", attempt(decay, lr0, e, drop=0.1, every=3)) for e in (2, 3, 7)]
    hidden = []
    for _ in range(3):
        lr0, drop, every = _rate(rng, 1e-3, 2.0), _rate(rng, 0.05, 0.95), integer(rng, 1, 9)
        hidden += [case(f"step_decay({lr0}, {e}, drop={drop}, every={every})", attempt(decay, lr0, e, drop=drop, every=every))
                   for e in range(0, 30, 2)]
    return {"visible": visible, "hidden": hidden}


def _decay(name, salt):
    def probe(decay, seed):
        rng = generator(seed, salt)
        lr0, k = _rate(rng, 0.01, 1.0), _rate(rng, 0.1, 1.0)
        visible = [case(f"{name}({lr0}, {t}, {k})", attempt(decay, lr0, t, k)) for t in (0, integer(rng, 1, 6), 0.5)]
        hidden = []
        for _ in range(2):
            lr0, k = _rate(rng, 1e-4, 1.0), _rate(rng, 0.01, 2.0)
            hidden += [case(f"{name}({lr0}, {t}, {k})", attempt(decay, lr0, t, k)) for t in (*range(0, 25, 3), 2.5, 0.25)]
        return {"visible": visible, "hidden": hidden}

    return probe


def probe_warmup_cosine(schedule, seed):
    rng = generator(seed, 74)
    total, warmup = integer(rng, 50, 150), integer(rng, 5, 20)
    visible = [case(f"warmup_cosine({s}, {total}, 1.0, warmup_steps={warmup})", attempt(schedule, s, total, 1.0, warmup_steps=warmup))
               for s in (0, warmup, (total + warmup) // 2, integer(rng, warmup, total))]
    visible += [case(f"warmup_cosine({s}, {total}, 1.0, warmup_steps={warmup}, lr_min=0.2)",
                     attempt(schedule, s, total, 1.0, warmup_steps=warmup, lr_min=0.2)) for s in ((total + warmup) // 2, total, total + 50)]
    visible.append(case("warmup_cosine(4, 4, 1.0, warmup_steps=4)", attempt(schedule, 4, 4, 1.0, warmup_steps=4)))
    hidden = []
    for total, lr_max, lr_min in [(integer(rng, 30, 80), _rate(rng, 0.05, 0.5), 0.0), (integer(rng, 80, 150), 1e-3, 1e-5)]:
        hidden += [case(f"warmup_cosine({s}, {total}, {lr_max}, lr_min={lr_min})", attempt(schedule, s, total, lr_max, lr_min=lr_min))
                   for s in range(0, total, 3)]
    hidden += [case(f"warmup_cosine({s}, 40, 2.0, warmup_steps=8, lr_min=0.1)", attempt(schedule, s, 40, 2.0, warmup_steps=8, lr_min=0.1))
               for s in (0, 3, 7, 40, 41, 1000)]
    hidden.append(case("warmup_cosine(5, 5, 1.0, warmup_steps=5)", attempt(schedule, 5, 5, 1.0, warmup_steps=5)))
    return {"visible": visible, "hidden": hidden}


def _scheduled(cls, groups, steps, **kwargs):
    params = [torch.zeros(2, requires_grad=True) for _ in groups]
    optimizer = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, groups)], lr=0.5)
    scheduler = cls(optimizer, **kwargs)
    seen = []
    for _ in range(steps):
        seen.append([float(group["lr"]) for group in optimizer.param_groups])
        optimizer.step()
        scheduler.step()
    last = scheduler.get_last_lr()
    return {"rates": seen, "is an LRScheduler": isinstance(scheduler, torch.optim.lr_scheduler.LRScheduler),
            "get_last_lr": [float(v) for v in last]}


def probe_WarmupCosine(cls, seed):
    rng = generator(seed, 75)
    total, warmup = integer(rng, 15, 30), integer(rng, 2, 6)
    visible = [case(f"WarmupCosine(optimizer, total_steps={total}, warmup_steps={warmup})",
                    attempt(_scheduled, cls, [1.0], total, total_steps=total, warmup_steps=warmup)),
               case(f"WarmupCosine on two param groups (total_steps={total}, warmup_steps={warmup}, lr_min=0.01)",
                    attempt(_scheduled, cls, [0.5, 0.1], total + 3, total_steps=total, warmup_steps=warmup, lr_min=0.01))]
    total, warmup, lr_min = integer(rng, 20, 40), integer(rng, 3, 8), 1e-3
    hidden = [case(f"WarmupCosine on two param groups (total_steps={total}, warmup_steps={warmup}, lr_min={lr_min})",
                   attempt(_scheduled, cls, [0.1, 0.02], total + 5, total_steps=total, warmup_steps=warmup, lr_min=lr_min))]
    return {"visible": visible, "hidden": hidden}


TASKS = {
    "step_decay": Task(probe_step_decay, "nnlab.schedules.step_decay", FORBIDDEN, rtol=1e-9, atol=1e-15),
    "exponential_decay": Task(_decay("exponential_decay", 72), "nnlab.schedules.exponential_decay", FORBIDDEN, rtol=1e-9, atol=1e-15),
    "inverse_time_decay": Task(_decay("inverse_time_decay", 73), "nnlab.schedules.inverse_time_decay", FORBIDDEN, rtol=1e-9, atol=1e-15),
    "warmup_cosine": Task(probe_warmup_cosine, "nnlab.schedules.warmup_cosine", FORBIDDEN, rtol=1e-6, atol=1e-12),
    "WarmupCosine": Task(probe_WarmupCosine, "nnlab.schedules.WarmupCosine", FORBIDDEN, lends=("warmup_cosine",), rtol=1e-9, atol=1e-15),
}
