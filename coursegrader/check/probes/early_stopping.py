"""Independent check of the `early_stopping` exercise."""
from __future__ import annotations

import copy
import math

import torch
from torch import nn

from coursegrader.check.probes import case, generator, integer, plain
from coursegrader.check.tasks import Task, attempt

FORBIDDEN = ("nnlab.early_stopping", "nnlab.regularization", "torch.optim.swa_utils")


def _decisions(cls, values, **kwargs):
    """What the stopper says for each value until its first True (later calls are not the task's),
    and its best value and epoch then."""
    stopper = cls(**kwargs)
    said = []
    for value in values:
        said.append(bool(stopper.step(value)))
        if said[-1]:
            break
    return {"decisions": said, "best": float(stopper.best), "best_epoch": int(stopper.best_epoch)}


def _curve(rng, mode, nan_at=None):
    """A noisy curve that improves for 15 epochs, then stalls."""
    trend = [1.0 - 0.7 * i / 14 for i in range(15)] + [0.3] * 15
    values = [round(t + 0.05 * float(torch.randn((), generator=rng)), 4) for t in trend]
    if mode == "max":
        values = [round(1.0 - v, 4) for v in values]
    if nan_at is not None:
        values[nan_at] = math.nan
    return values


def _restored(cls, losses, seed):
    """Change a model with BatchNorm in place every epoch, step with it, then restore: the state
    that comes back, and which epoch's state it equals."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 5), nn.BatchNorm1d(5), nn.Linear(5, 2))
    stopper = cls(patience=len(losses) + 1)
    snapshots = []
    for loss in losses:
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
        model.train()(torch.randn(8, 4))
        snapshots.append(copy.deepcopy(model.state_dict()))
        stopper.step(loss, model)
    stopper.restore(model)
    state = model.state_dict()
    return {name: plain(tensor) for name, tensor in state.items() if tensor.dtype.is_floating_point}


def probe_EarlyStopping(cls, seed):
    rng = generator(seed, 121)
    visible = [case("EarlyStopping(patience=2) on [1.0, 0.5, 0.6, 0.7]", attempt(_decisions, cls, [1.0, 0.5, 0.6, 0.7], patience=2)),
               case("EarlyStopping(patience=2, min_delta=0.1, mode='max') on [0.5, 0.55, 0.56, 0.4]",
                    attempt(_decisions, cls, [0.5, 0.55, 0.56, 0.4], patience=2, min_delta=0.1, mode="max")),
               case("EarlyStopping(patience=1) on [1.0, nan, 0.5]", attempt(_decisions, cls, [1.0, math.nan, 0.5], patience=1))]
    hidden = []
    for trial in range(10):
        patience, mode, min_delta = integer(rng, 1, 7), ("min", "max")[trial % 2], (0.0, 0.01, 0.04)[trial % 3]
        values = _curve(rng, mode, nan_at=integer(rng, 1, 10) if trial == 4 else None)
        hidden.append(case(f"EarlyStopping(patience={patience}, min_delta={min_delta}, mode={mode!r}) on {values}",
                           attempt(_decisions, cls, values, patience=patience, min_delta=min_delta, mode=mode)))
    values = [5.0, 4.0] + [4.0] * integer(rng, 5, 8)
    hidden.append(case(f"EarlyStopping() on {values}", attempt(_decisions, cls, values)))
    losses = [round(0.5 + float(torch.rand((), generator=rng)), 3) for _ in range(6)]
    hidden.append(case(f"the state after restore(), the losses {losses}", attempt(_restored, cls, losses, integer(rng, 0, 10**6))))
    validation = [case(f"EarlyStopping({call})", attempt(cls, **kwargs))
                  for call, kwargs in [("patience=0", {"patience": 0}), ("patience=2.5", {"patience": 2.5}), ("mode='avg'", {"mode": "avg"})]]
    return {"visible": visible, "hidden": hidden, "validation": validation}


def _ema_run(update, decay, seed, steps):
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3)).double()
    ema = copy.deepcopy(net)
    model_unchanged, returned_itself = True, True
    for _ in range(steps):
        with torch.no_grad():
            for p in net.parameters():
                p.mul_(1.1).add_(torch.randn_like(p))
        net.train()(torch.randn(16, 6, dtype=torch.float64))
        before = {k: v.clone() for k, v in net.state_dict().items()}
        returned = update(ema, net, decay)
        returned_itself = returned_itself and returned is ema
        model_unchanged = model_unchanged and all(torch.equal(v, before[k]) for k, v in net.state_dict().items())
    return {"ema": {name: plain(tensor) for name, tensor in ema.state_dict().items()},
            "model unchanged": model_unchanged, "returned ema_model": returned_itself}


def probe_update_ema(update, seed):
    rng = generator(seed, 122)
    visible = [case("update_ema on a small network, decay 0.75, one step", attempt(_ema_run, update, 0.75, integer(rng, 0, 10**6), 1))]
    hidden = [case(f"update_ema on a network with BatchNorm, decay {decay}, {steps} steps",
                   attempt(_ema_run, update, decay, integer(rng, 0, 10**6), steps))
              for decay, steps in [(round(0.5 + 0.49 * float(torch.rand((), generator=rng)), 4), 5), (0.0, 2), (1.0, 2)]]
    validation = [case(f"update_ema(ema, model, {decay})", attempt(update, nn.Linear(2, 2), nn.Linear(2, 2), decay)) for decay in (-0.1, 1.01)]
    return {"visible": visible, "hidden": hidden, "validation": validation}


TASKS = {
    "EarlyStopping": Task(probe_EarlyStopping, "nnlab.early_stopping.EarlyStopping", FORBIDDEN, rtol=1e-9, atol=1e-12),
    "update_ema": Task(probe_update_ema, "nnlab.regularization.update_ema", FORBIDDEN, rtol=1e-9, atol=1e-12),
}
