"""How well and how fast the course's best small models learn MNIST-1D on this machine's CPU.

Trains each model for several seeds on the 4000 training signals and tests on the standard
1000, printing one JSON object per run and one summary per model. The models form a ladder,
each rung adding one thing to the one before: the MNIST-1D paper's logistic regression and
MLP as the course trains them, the course's CNN, then augmentation, an EMA of the weights,
and test-time shifts. The last line is the headline: the full recipe, its mean test
accuracy and the median seconds of one training run.
Goal: mean test accuracy >= 0.995 with each run under 15 s on a 2-core CPU (the MNIST-1D
paper's CNN: 0.94; its MLP: 0.68).

    python benchmarks/train_mnist1d.py           # full run (about 5 minutes)
    python benchmarks/train_mnist1d.py --tiny    # smoke test: 1 epoch, 1 seed
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
from torch import nn

import nnlab
from nnlab.augment import Augmented, predict_shifted
from nnlab.regularization import WeightAverages


@dataclass(frozen=True)
class Recipe:
    """One model and how to train it."""

    name: str
    build: Callable[[], nn.Module]  # a fresh, seeded model
    channel: bool  # (N, 1, 40) inputs for a CNN, (N, 40) for an MLP
    epochs: int
    max_lr: float  # peak of the one-cycle schedule
    weight_decay: float  # AdamW's decoupled weight decay
    batch_size: int
    augment: bool = False  # shift, rescale and add noise to every training batch (nnlab.augment)
    ema_decay: float | None = None  # test the exponential moving average of the weights instead
    test_shifts: int = 0  # average the predictions over circular shifts of -k..k samples
    paper_baseline: str = "CNN"  # the MNIST-1D paper's number this rung is compared with


def course_cnn() -> nn.Module:
    # four 'same' convolutions, one max-pool, global max pooling (chapter "Sizing a CNN")
    return nnlab.cnn1d(channels=(64, 64, 64, 64), kernel_size=5, pool_after=(1,))


CNN = Recipe("CNN 4x64 k5, BatchNorm, global max pool", course_cnn, channel=True, epochs=15, max_lr=1e-2,
             weight_decay=1e-4, batch_size=128)
RECIPES = {
    "logistic": Recipe("logistic regression", lambda: nnlab.mlp(40, 10, depth=0), channel=False, epochs=30,
                       max_lr=1e-2, weight_decay=0.0, batch_size=128, paper_baseline="logistic regression"),
    # Best MLP: wide, BatchNorm and dropout against its strong overfitting.
    "mlp": Recipe(
        "MLP 3x512, BatchNorm, dropout 0.3",
        lambda: nnlab.mlp(40, 10, width=512, depth=3, norm="batch", dropout=0.3),
        channel=False, epochs=60, max_lr=3e-3, weight_decay=5e-2, batch_size=128, paper_baseline="MLP",
    ),
    "cnn": CNN,
    "cnn-augmented": replace(CNN, name="CNN + augmentation", augment=True),
    "cnn-ema": replace(CNN, name="CNN + augmentation + EMA of the weights", augment=True, ema_decay=0.99),
    # Headline: everything above, and the predictions averaged over five shifts of each signal.
    "cnn-recipe": replace(CNN, name="CNN + augmentation + EMA + test-time shifts", augment=True, ema_decay=0.99,
                          test_shifts=2),
}


def train_once(recipe: Recipe, seed: int, epochs: int) -> dict:
    splits = nnlab.load_mnist1d(val_fraction=0.0, channel=recipe.channel)
    nnlab.seed_everything(seed)
    train, _, test = splits.loaders(recipe.batch_size, seed=seed)
    model = recipe.build()
    averages = WeightAverages(ema_decay=recipe.ema_decay) if recipe.ema_decay else None
    start = time.perf_counter()
    nnlab.fit(
        model, Augmented(train, seed=seed) if recipe.augment else train, epochs=epochs, optimizer="adamw",
        lr=recipe.max_lr, weight_decay=recipe.weight_decay, scheduler=nnlab.one_cycle(recipe.max_lr),
        callbacks=[averages] if averages else [], progress=False,
    )
    if averages:
        model = averages.ema
        # the averaged weights need BatchNorm statistics of their own: one pass over the training set
        torch.optim.swa_utils.update_bn(train, model)
    probabilities = predict_shifted(model, splits.x_test, max_shift=recipe.test_shifts)
    seconds = time.perf_counter() - start
    accuracy = float((probabilities.argmax(dim=1) == splits.y_test).float().mean())
    return {"seed": seed, "test_accuracy": round(accuracy, 4), "seconds": round(seconds, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="1 epoch and 1 seed: checks that it runs")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--models", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    args = parser.parse_args()
    seeds = range(1 if args.tiny else args.seeds)
    nnlab.load_mnist1d()  # generate and cache the data outside the timed runs
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "device": "cpu"}), flush=True)
    for key in args.models:
        recipe = RECIPES[key]
        epochs = 1 if args.tiny else recipe.epochs
        runs = []
        for seed in seeds:
            run = {"model": recipe.name, **train_once(recipe, seed, epochs)}
            runs.append(run)
            print(json.dumps(run), flush=True)
        summary = {
            "model": recipe.name,
            "parameters": nnlab.count_parameters(recipe.build()),
            "epochs": epochs,
            "test_accuracy": round(statistics.mean(r["test_accuracy"] for r in runs), 4),
            "min_test_accuracy": min(r["test_accuracy"] for r in runs),
            "seeds": len(runs),
            "seconds": round(statistics.median(r["seconds"] for r in runs), 2),
            "std_test_accuracy": round(statistics.stdev(r["test_accuracy"] for r in runs), 4) if len(runs) > 1 else 0.0,
            "paper_baseline": nnlab.data.MNIST1D_BASELINES[recipe.paper_baseline],
        }
        print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
