"""Independent check of the `transfer_learning` exercise."""
from __future__ import annotations

import torch
from torch import nn

from nnlab.transfer import pretrained_mnist1d_cnn
from coursegrader.check.tasks import Task, attempt
from coursegrader.check.probes import case, generator, integer, plain

FORBIDDEN = ("nnlab.transfer.freeze_", "nnlab.transfer.count_trainable", "nnlab.transfer.replace_head")


def _trainable(model):
    return sorted(name for name, p in model.named_parameters() if p.requires_grad)


def probe_freeze_(freeze, seed):
    model = pretrained_mnist1d_cnn()
    returned = attempt(freeze, model, "small")
    visible = [case("freeze_(pretrained_mnist1d_cnn(), 'small')", {"returned the model": returned is model, "trainable": _trainable(model)})]
    for regime in ("medium", "large", "small"):  # one model, each regime after another
        returned = attempt(freeze, model, regime)
        visible.append(case(f"then freeze_(model, {regime!r})", {"returned the model": returned is model, "trainable": _trainable(model)}))
    visible.append(case("freeze_(model, 'huge')", attempt(freeze, pretrained_mnist1d_cnn(), "huge")))
    hidden = []
    rng = generator(seed, 81)
    regimes = ["small", "medium", "large"]
    for before in ("large", "small", "medium"):
        model = pretrained_mnist1d_cnn()
        attempt(freeze, model, before)
        order = [regimes[i] for i in torch.randperm(3, generator=rng).tolist()]
        for regime in order:
            returned = attempt(freeze, model, regime)
            hidden.append(case(f"freeze_(model, {before!r}) then freeze_(model, {regime!r})",
                               {"returned the model": returned is model, "trainable": _trainable(model)}))
    validation = [case(f"freeze_(model, {regime!r})", attempt(freeze, pretrained_mnist1d_cnn(), regime)) for regime in ("tiny", "Small")]
    return {"visible": visible, "hidden": hidden, "validation": validation}


def probe_count_trainable(count, seed):
    rng = generator(seed, 82)
    layer = nn.Linear(integer(rng, 2, 9), integer(rng, 2, 9))
    visible = [case("count_trainable(nn.Linear(...))", attempt(count, layer))]
    layer.weight.requires_grad_(False)
    visible.append(case("count_trainable(nn.Linear(...)) with its weight frozen", attempt(count, layer)))
    shared = nn.Linear(integer(rng, 2, 9), integer(rng, 2, 9))
    visible.append(case("count_trainable(nn.Sequential(layer, nn.Tanh(), layer)) with one layer used twice",
                        attempt(count, nn.Sequential(shared, nn.Tanh(), shared))))
    model = pretrained_mnist1d_cnn()
    hidden = [case("count_trainable(pretrained_mnist1d_cnn())", attempt(count, model))]
    for p in model.features.parameters():
        p.requires_grad_(False)
    hidden.append(case("count_trainable of the pretrained network with its features frozen", attempt(count, model)))
    shared = nn.Linear(integer(rng, 2, 9), integer(rng, 2, 9))
    hidden.append(case("count_trainable(nn.Sequential(layer, nn.ReLU(), layer)) with one layer used twice",
                       attempt(count, nn.Sequential(shared, nn.ReLU(), shared))))
    hidden.append(case("count_trainable(nn.ReLU())", attempt(count, nn.ReLU())))
    return {"visible": visible, "hidden": hidden}


def probe_replace_head(replace, seed):
    rng = generator(seed, 83)

    def observe(classes, double):
        torch.manual_seed(seed)
        model = pretrained_mnist1d_cnn()
        if double:
            model = model.double()
        old = model.head
        old_weight = old.weight.detach().clone()
        features = {k: v.clone() for k, v in model.features.state_dict().items()}
        returned = attempt(replace, model, classes)
        head = model.head
        dtype = torch.float64 if double else torch.float32
        output = attempt(lambda: tuple(model(torch.randn(2, 1, 40, dtype=dtype)).shape))
        return case(f"replace_head(pretrained_mnist1d_cnn(){'.double()' if double else ''}, {classes})", {
            "returned the model": returned is model,
            "head is an nn.Linear": isinstance(head, nn.Linear),
            "head shape": (int(getattr(head, "in_features", -1)), int(getattr(head, "out_features", -1))),
            "new head object": head is not old,
            "new weights": not torch.equal(getattr(head, "weight", old_weight).detach(), old_weight),
            "head trainable": bool(getattr(getattr(head, "weight", None), "requires_grad", False)),
            "head dtype": str(getattr(getattr(head, "weight", None), "dtype", None)),
            "features": {k: plain(v) for k, v in model.features.state_dict().items()} if features else {},
            "output shape": output,
        })

    return {"visible": [observe(integer(rng, 2, 10), False), observe(integer(rng, 2, 10), True)],
            "hidden": [observe(integer(rng, 2, 10), False), observe(3, True)]}


TASKS = {
    "freeze_": Task(probe_freeze_, "nnlab.transfer.freeze_", FORBIDDEN),
    "count_trainable": Task(probe_count_trainable, "nnlab.transfer.count_trainable", FORBIDDEN),
    "replace_head": Task(probe_replace_head, "nnlab.transfer.replace_head", FORBIDDEN),
}
