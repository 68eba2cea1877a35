"""Transfer learning on MNIST-1D: a pretrained network shipped with nnlab, and the helpers of
the ``transfer_learning`` exercise.

The *source task* is digits 0–4 of a separately generated MNIST-1D set (generator seed
:data:`SOURCE_SEED`, not the paper's 42): 4,000 signals the course's own data never
contains. The *target task* of the chapter is digits 5–9 of the standard MNIST-1D: the same
kind of signal, new classes. ``python -m nnlab.transfer`` retrains the source network and
rewrites :data:`WEIGHTS` (about 15 seconds on a laptop CPU); the file is small and ships
inside the package, so nothing is downloaded.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from torch import nn

from nnlab.data import Splits, load_mnist1d, split
from nnlab.models import ConvNet, cnn1d
from nnlab.train import Callback

WEIGHTS = Path(__file__).with_name("weights") / "mnist1d_source_cnn.pt"
SOURCE_SEED = 2026
SOURCE_CLASSES = (0, 1, 2, 3, 4)
TARGET_CLASSES = (5, 6, 7, 8, 9)
#: the architecture of the shipped network (arguments of :func:`nnlab.models.cnn1d`)
ARCHITECTURE = dict(channels=(32, 32, 64, 64), kernel_size=5, pool_after=(0,), norm="batch")
REGIMES = ("small", "medium", "large")


def _keep_classes(x: torch.Tensor, y: torch.Tensor, classes: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """The examples of ``classes``, relabelled 0, 1, ... in that order."""
    mask = torch.isin(y, torch.tensor(classes))
    relabel = {c: i for i, c in enumerate(classes)}
    return x[mask], torch.tensor([relabel[int(c)] for c in y[mask]], dtype=torch.int64)


def source_task(num_samples: int = 10_000, seed: int = SOURCE_SEED) -> Splits:
    """Digits 0–4 of a fresh MNIST-1D set: ``(N, 1, 40)`` signals, labels 0–4. Generated (~5 s)."""
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples, args.seed = num_samples, seed
    made = make_dataset(args)
    x = torch.tensor(np.concatenate([made["x"], made["x_test"]]), dtype=torch.float32)
    y = torch.tensor(np.concatenate([made["y"], made["y_test"]]), dtype=torch.int64)
    x, y = _keep_classes(x, y, SOURCE_CLASSES)
    return split(x.unsqueeze(1), y, val_fraction=0.1, test_fraction=0.1, seed=seed)


def target_task(train_size: int | None = None, seed: int = 0) -> Splits:
    """Digits 5–9 of the standard MNIST-1D relabelled 0–4, ``(N, 1, 40)``; the standard test signals.

    ``train_size`` keeps that many training signals (chosen with ``seed``): the "small data"
    regimes of the chapter.
    """
    data = load_mnist1d(channel=True, seed=seed)
    parts = [_keep_classes(x, y, TARGET_CLASSES) for x, y in
             ((data.x_train, data.y_train), (data.x_val, data.y_val), (data.x_test, data.y_test))]
    target = Splits(*parts[0], *parts[1], *parts[2])
    return target if train_size is None else target.subsample_train(train_size, seed=seed)


def pretrained_mnist1d_cnn(num_classes: int | None = None) -> ConvNet:
    """The shipped network pretrained on the source task (digits 0–4 of another MNIST-1D).

    ``model.features`` is an ``nn.Sequential`` of 4 convolutional blocks and ``model.head``
    an ``nn.Linear(64, 5)``. ``num_classes`` replaces the head by a fresh one.
    """
    try:
        saved = torch.load(WEIGHTS, map_location="cpu", weights_only=True)
    except FileNotFoundError as error:
        raise FileNotFoundError(f"{WEIGHTS} is missing: run `python -m nnlab.transfer` to make it") from error
    model = cnn1d(num_classes=len(SOURCE_CLASSES), **ARCHITECTURE)
    model.load_state_dict(saved["state_dict"])
    return replace_head(model, num_classes) if num_classes is not None else model


def freeze_(model: ConvNet, regime: str) -> ConvNet:
    """Set ``requires_grad`` for a data regime and return the model.

    "small": only ``head`` trains (feature extraction); "medium": ``head`` and the last block of
    ``features``; "large": everything (fine-tuning the whole network).
    """
    if regime not in REGIMES:
        raise ValueError(f"regime must be one of {REGIMES}, got {regime!r}")
    for p in model.parameters():
        p.requires_grad_(regime == "large")
    trainable = [model.head] + ([model.features[-1]] if regime == "medium" else [])
    for module in trainable:
        for p in module.parameters():
            p.requires_grad_(True)
    return model


class FrozenStatistics(Callback):
    """A :func:`nnlab.fit` callback that keeps every BatchNorm layer inside ``modules`` in
    evaluation mode while the model trains: they normalize with the running statistics they
    came with (the source task's) and do not update them.

    Freezing a layer's parameters (``requires_grad=False``) leaves its BatchNorm statistics
    adapting to the target data in training mode; with this callback the frozen features are
    frozen entirely. ``fit`` switches the model to training mode every epoch, so the layers
    are switched back before every batch.
    """

    def __init__(self, *modules: nn.Module) -> None:
        self.layers = [layer for module in modules for layer in module.modules()
                       if isinstance(layer, nn.modules.batchnorm._BatchNorm)]

    def on_batch_begin(self, step: int) -> None:
        for layer in self.layers:
            layer.eval()


def count_trainable(model: nn.Module) -> int:
    """Number of scalar parameters with ``requires_grad``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def replace_head(model: ConvNet, num_classes: int) -> ConvNet:
    """Give ``model`` a fresh ``nn.Linear`` head with the same ``in_features`` and ``num_classes`` outputs."""
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    old = model.head
    model.head = nn.Linear(old.in_features, num_classes, device=old.weight.device, dtype=old.weight.dtype)
    return model


def pretrain(epochs: int = 20, seed: int = 0) -> tuple[ConvNet, float]:
    """Train the source network from scratch; returns it and its source test accuracy."""
    from nnlab.seed import seed_everything
    from nnlab.train import evaluate, fit, one_cycle

    data = source_task()  # MNIST-1D is generated centred with unit variance, like the target task
    seed_everything(seed)
    model = cnn1d(num_classes=len(SOURCE_CLASSES), **ARCHITECTURE)
    train, val, test = data.loaders(batch_size=64, seed=seed)
    fit(model, train, val, epochs=epochs, optimizer="adamw", lr=3e-3, weight_decay=1e-2,
        scheduler=one_cycle(3e-3), progress=False)
    return model, evaluate(model, test)["acc"]


def main() -> None:
    parser = argparse.ArgumentParser(description="Pretrain the source network of the transfer-learning chapter.")
    parser.add_argument("--output", type=Path, default=WEIGHTS)
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args()
    model, accuracy = pretrain(args.epochs)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    state = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    torch.save({"state_dict": state, "source_test_accuracy": accuracy}, args.output)
    print(f"source test accuracy {accuracy:.4f}; wrote {args.output} ({args.output.stat().st_size / 1000:.0f} kB)")


if __name__ == "__main__":
    main()
