"""What ``nnlab.fit`` costs over a hand-written torch loop doing the same work.

Both train the same CNN on MNIST-1D with the same batches, track the epoch's training loss
and accuracy, and evaluate the validation split after each epoch, as any careful loop does.
Runs alternate (hand, fit, fit with diagnostics, ...) so that drifts in machine speed hit
all three alike. The last JSON line has ``overhead_ratio`` (median fit / median hand-written,
goal <= 1.10) and ``diagnostics_ratio`` (fit with ``Diagnostics(every=10)``, goal <= 1.30).

    python benchmarks/fit_overhead.py          # 5 rounds of 5 epochs
    python benchmarks/fit_overhead.py --tiny   # smoke test
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from torch import nn

import nnlab


def build() -> nn.Module:
    return nnlab.cnn1d(channels=(32, 32, 32), kernel_size=5, pool_after=(1,))


def hand_written(splits: nnlab.Splits, epochs: int, batch_size: int, seed: int) -> float:
    nnlab.seed_everything(seed)
    model = build()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(seed)
    x, y = splits.x_train, splits.y_train
    start = time.perf_counter()
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(x), generator=generator)
        loss_sum, correct = torch.zeros(()), torch.zeros((), dtype=torch.int64)
        for begin in range(0, len(x), batch_size):
            index = order[begin : begin + batch_size]
            xb, yb = x[index], y[index]
            output = model(xb)
            loss = nn.functional.cross_entropy(output, yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach() * len(yb)
            correct += (output.argmax(1) == yb).sum()
        model.eval()
        with torch.no_grad():
            val_out = model(splits.x_val)
            val_loss = nn.functional.cross_entropy(val_out, splits.y_val).item()
            val_acc = (val_out.argmax(1) == splits.y_val).float().mean().item()
        _ = (loss_sum.item() / len(x), correct.item() / len(x), val_loss, val_acc)
    return time.perf_counter() - start


def with_fit(splits: nnlab.Splits, epochs: int, batch_size: int, seed: int, diagnostics: bool) -> float:
    nnlab.seed_everything(seed)
    model = build()
    train = nnlab.TensorLoader(splits.x_train, splits.y_train, batch_size, shuffle=True, seed=seed)
    val = nnlab.TensorLoader(splits.x_val, splits.y_val, len(splits.x_val))
    callbacks = [nnlab.Diagnostics(model, every=10)] if diagnostics else []
    start = time.perf_counter()
    nnlab.fit(model, train, val, epochs=epochs, lr=3e-3, callbacks=callbacks, progress=False)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="1 round of 1 epoch: checks that it runs")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    rounds, epochs = (1, 1) if args.tiny else (args.rounds, args.epochs)
    splits = nnlab.load_mnist1d(val_fraction=0.1, channel=True)
    times: dict[str, list[float]] = {"hand": [], "fit": [], "fit+diagnostics": []}
    hand_written(splits, 1, 64, seed=99)  # warm-up: first calls pay for allocator and thread start-up
    for round_ in range(rounds):
        times["hand"].append(hand_written(splits, epochs, 64, seed=round_))
        times["fit"].append(with_fit(splits, epochs, 64, seed=round_, diagnostics=False))
        times["fit+diagnostics"].append(with_fit(splits, epochs, 64, seed=round_, diagnostics=True))
        print(json.dumps({"round": round_, **{k: round(v[-1], 3) for k, v in times.items()}}), flush=True)
    medians = {k: statistics.median(v) for k, v in times.items()}
    print(json.dumps({
        "epochs": epochs,
        "rounds": rounds,
        "hand_seconds": round(medians["hand"], 3),
        "fit_seconds": round(medians["fit"], 3),
        "diagnostics_seconds": round(medians["fit+diagnostics"], 3),
        "overhead_ratio": round(medians["fit"] / medians["hand"], 3),
        "diagnostics_ratio": round(medians["fit+diagnostics"] / medians["hand"], 3),
    }), flush=True)


if __name__ == "__main__":
    main()
