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
from dataclasses import dataclass, replace

import torch

import nnlab
from nnlab.recipe import Recipe, train_recipe


@dataclass(frozen=True)
class Rung:
    """One rung of the ladder: a recipe, the input shape it needs, the paper's number to beat."""

    recipe: Recipe
    channel: bool  # (N, 1, 40) inputs for a CNN, (N, 40) for an MLP
    paper_baseline: str = "CNN"  # the MNIST-1D paper's number this rung is compared with


def course_cnn() -> torch.nn.Module:
    # four 'same' convolutions, one max-pool, global max pooling (chapter "Sizing a CNN")
    return nnlab.cnn1d(channels=(64, 64, 64, 64), kernel_size=5, pool_after=(1,))


CNN = Recipe("CNN 4x64 k5, BatchNorm, global max pool", course_cnn, epochs=15, lr=1e-2, weight_decay=1e-4)
RUNGS = {
    "logistic": Rung(Recipe("logistic regression", lambda: nnlab.mlp(40, 10, depth=0), epochs=30, lr=1e-2),
                     channel=False, paper_baseline="logistic regression"),
    # Best MLP: wide, BatchNorm and dropout against its strong overfitting.
    "mlp": Rung(Recipe("MLP 3x512, BatchNorm, dropout 0.3",
                       lambda: nnlab.mlp(40, 10, width=512, depth=3, norm="batch", dropout=0.3),
                       epochs=60, lr=3e-3, weight_decay=5e-2), channel=False, paper_baseline="MLP"),
    "cnn": Rung(CNN, channel=True),
    "cnn-augmented": Rung(replace(CNN, name="CNN + augmentation", augment=True), channel=True),
    "cnn-ema": Rung(replace(CNN, name="CNN + augmentation + EMA of the weights", augment=True, ema_decay=0.99),
                    channel=True),
    # Headline: everything above, and the predictions averaged over five shifts of each signal.
    "cnn-recipe": Rung(replace(CNN, name="CNN + augmentation + EMA + test-time shifts", augment=True,
                               ema_decay=0.99, test_shifts=2), channel=True),
}


def train_once(rung: Rung, seed: int, epochs: int) -> dict:
    splits = nnlab.load_mnist1d(val_fraction=0.0, channel=rung.channel)
    run = train_recipe(replace(rung.recipe, epochs=epochs), splits, seed)
    return {"seed": seed, "test_accuracy": round(run.test_accuracy, 4), "seconds": round(run.seconds, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="1 epoch and 1 seed: checks that it runs")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--models", nargs="+", default=list(RUNGS), choices=list(RUNGS))
    args = parser.parse_args()
    seeds = range(1 if args.tiny else args.seeds)
    nnlab.load_mnist1d()  # generate and cache the data outside the timed runs
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "device": "cpu"}), flush=True)
    for key in args.models:
        rung = RUNGS[key]
        recipe = rung.recipe
        epochs = 1 if args.tiny else recipe.epochs
        runs = []
        for seed in seeds:
            run = {"model": recipe.name, **train_once(rung, seed, epochs)}
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
            "paper_baseline": nnlab.data.MNIST1D_BASELINES[rung.paper_baseline],
        }
        print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
