import copy
import functools
import math

import pytest
import torch
from torch import nn

import nnlab
from nnlab.data import TensorLoader
from nnlab.early_stopping import EarlyStopping
from nnlab.train import Callback, History, evaluate, fit


def _data(n=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 5, generator=g)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long()
    return x, y


def _hand_loop(model, x, y, epochs, batch, lr, clip=None, seed=0):
    loader = TensorLoader(x, y, batch, shuffle=True, seed=seed)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    for _ in range(epochs):
        for xb, yb in loader:
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(xb), yb)
            loss.backward()
            if clip:
                nn.utils.clip_grad_norm_(model.parameters(), clip)
            opt.step()
    return model


@pytest.mark.parametrize("clip", [None, 0.05])
def test_fit_equals_a_hand_written_loop(clip):
    x, y = _data()
    torch.manual_seed(0)
    model = nnlab.mlp(5, 2, width=8, depth=2)
    reference = _hand_loop(copy.deepcopy(model), x, y, epochs=3, batch=32, lr=0.05, clip=clip)
    fit(model, TensorLoader(x, y, 32, shuffle=True, seed=0), epochs=3, optimizer="sgd", lr=0.05,
        momentum=0.9, clip_grad_norm=clip)
    for ours, theirs in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(ours, theirs)


def test_history_records_every_epoch_and_matches_evaluate():
    x, y = _data()
    train, val = TensorLoader(x[:200], y[:200], 32, shuffle=True), TensorLoader(x[200:], y[200:], 64)
    model = nnlab.mlp(5, 2, width=16, depth=1)
    history = fit(model, train, val, epochs=4, lr=1e-2)
    assert len(history) == 4 and history.epoch == [0, 1, 2, 3]
    for column in ("train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds"):
        assert len(getattr(history, column)) == 4
    final = evaluate(model, val)
    assert final["loss"] == pytest.approx(history.val_loss[-1], rel=1e-6)
    assert final["acc"] == pytest.approx(history.val_acc[-1])
    assert history.train_acc[-1] > 0.9  # a linearly separable problem is learned
    assert history.best("val_acc")[1] == max(history.val_acc)
    assert "History(epochs=4" in repr(history)


def test_evaluate_agrees_with_a_direct_computation():
    x, y = _data(100)
    model = nnlab.mlp(5, 2, width=4, depth=1)
    result = evaluate(model, TensorLoader(x, y, 7))
    with torch.no_grad():
        out = model(x)
    assert result["loss"] == pytest.approx(nn.functional.cross_entropy(out, y).item(), rel=1e-5)
    assert result["acc"] == pytest.approx((out.argmax(1) == y).float().mean().item())
    assert math.isnan(evaluate(model, TensorLoader(x[:0], y[:0], 4))["loss"])


def test_evaluate_restores_training_mode():
    model = nnlab.mlp(5, 2, dropout=0.5).train()
    x, y = _data(20)
    evaluate(model, [(x, y)])
    assert model.training


def test_scheduler_is_stepped_per_batch_and_lr_recorded():
    x, y = _data(128)
    train = TensorLoader(x, y, 32)  # 4 steps per epoch
    model = nnlab.mlp(5, 2, width=4, depth=1)
    history = fit(model, train, epochs=3, optimizer="sgd", lr=0.1, scheduler=nnlab.one_cycle(0.1))
    reference_opt = torch.optim.SGD(nnlab.mlp(5, 2).parameters(), lr=0.1)
    reference = torch.optim.lr_scheduler.OneCycleLR(reference_opt, max_lr=0.1, total_steps=12, pct_start=0.25)
    expected = []
    for step in range(12):
        reference_opt.step()
        reference.step()
        if step % 4 == 3:
            expected.append(reference_opt.param_groups[0]["lr"])
    assert history.lr == pytest.approx(expected)


def test_epoch_scheduler_and_plateau_get_the_validation_loss():
    x, y = _data(64)
    model = nnlab.mlp(5, 2, width=4, depth=1)
    plateau = functools.partial(torch.optim.lr_scheduler.ReduceLROnPlateau, patience=0, factor=0.5)
    history = fit(model, [(x, y)], [(x, y)], epochs=5, optimizer="sgd", lr=1e-6,
                  scheduler=lambda opt, steps: plateau(opt), scheduler_interval="epoch")
    assert history.lr[-1] < 1e-6  # no progress at lr 1e-6, so the plateau halves it


def test_early_stopping_stops_and_restores_the_best_weights():
    # Memorizing a few noisy labels: the validation loss rises while training continues.
    g = torch.Generator().manual_seed(1)
    x = torch.randn(40, 20, generator=g)
    y = torch.randint(0, 2, (40,), generator=g)
    xv, yv = torch.randn(200, 20, generator=g), torch.randint(0, 2, (200,), generator=g)
    model = nnlab.mlp(20, 2, width=256, depth=2)
    stopper = EarlyStopping(patience=3)
    history = fit(model, [(x, y)], [(xv, yv)], epochs=200, lr=1e-2, early_stopping=stopper)
    assert history.stopped_early and len(history) < 200
    assert len(history) == stopper.best_epoch + 1 + 3
    assert evaluate(model, [(xv, yv)])["loss"] == pytest.approx(min(history.val_loss), rel=1e-5)


def test_divergence_ends_training():
    x, y = _data(64)
    model = nnlab.mlp(5, 2, width=16, depth=3)
    history = fit(model, [(x * 1e3, y)], epochs=50, optimizer="sgd", lr=1e6)
    assert history.diverged and len(history) < 50


def test_callbacks_see_every_step_and_can_stop():
    events = []

    class Recorder(Callback):
        def on_train_begin(self, model, optimizer):
            events.append("begin")

        def on_batch_begin(self, step):
            events.append(("batch", step))

        def on_after_backward(self, model, step):
            assert all(p.grad is not None for p in model.parameters())

        def on_epoch_end(self, model, epoch, history):
            events.append(("epoch", epoch))
            return epoch == 1

        def on_train_end(self, model, history):
            events.append("end")

    x, y = _data(64)
    history = fit(nnlab.mlp(5, 2), TensorLoader(x, y, 32), epochs=10, callbacks=[Recorder()])
    assert len(history) == 2
    assert events == ["begin", ("batch", 0), ("batch", 1), ("epoch", 0), ("batch", 2), ("batch", 3), ("epoch", 1), "end"]


def test_fit_follows_the_model_dtype():
    x, y = _data(64)
    model = nnlab.mlp(5, 2).double()
    history = fit(model, [(x, y)], epochs=2)  # float32 batches are cast to float64
    assert math.isfinite(history.train_loss[-1])


def test_fit_regression_has_no_accuracy():
    x = torch.randn(64, 3)
    y = x @ torch.tensor([[1.0], [2.0], [-1.0]])
    history = fit(nn.Linear(3, 1), [(x, y)], epochs=100, optimizer="sgd", lr=0.1)
    assert math.isnan(history.train_acc[-1])
    assert history.train_loss[-1] < 1e-3


def test_fit_learns_spirals():
    x, y = nnlab.make_spirals(600, seed=0)
    nnlab.seed_everything(0)
    model = nnlab.mlp(2, 2, width=64, depth=3)
    fit(model, TensorLoader(x, y, 32, shuffle=True), epochs=60, lr=1e-2)
    assert evaluate(model, [(x, y)])["acc"] > 0.95


def test_silent_fit_writes_nothing(capfd):
    x, y = _data(32)
    fit(nnlab.mlp(5, 2), [(x, y)], epochs=2, progress=False)
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == ""


def test_progress_bar_goes_to_stderr(capfd, monkeypatch):
    monkeypatch.setenv("NNLAB_PROGRESS", "1")
    x, y = _data(32)
    fit(nnlab.mlp(5, 2), TensorLoader(x, y, 8), epochs=2)
    assert "epochs" in capfd.readouterr().err


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(epochs=0), ValueError, "epochs"),
        (dict(optimizer="adamax"), ValueError, "unknown optimizer 'adamax'"),
        (dict(optimizer=42), TypeError, "optimizer"),
        (dict(lr=-1.0), ValueError, "lr"),
        (dict(clip_grad_norm=0), ValueError, "clip_grad_norm"),
        (dict(scheduler_interval="batch"), ValueError, "scheduler_interval"),
        (dict(optimizer="adam", momentum=0.9), ValueError, "momentum"),
        (dict(optimizer=lambda params: "sgd"), TypeError, "factory"),
    ],
)
def test_fit_rejects_bad_arguments(kwargs, error, message):
    x, y = _data(16)
    with pytest.raises(error, match=message):
        fit(nnlab.mlp(5, 2), [(x, y)], **kwargs)


def test_fit_rejects_empty_or_unsized_training_data():
    with pytest.raises(ValueError, match="no batches"):
        fit(nnlab.mlp(5, 2), [], epochs=1)
    with pytest.raises(TypeError, match="length"):
        fit(nnlab.mlp(5, 2), iter([]), epochs=1)


def test_history_best_and_to_dict():
    h = History(epoch=[0, 1, 2], train_loss=[3, 2, 1], train_acc=[0.1, 0.2, 0.3], val_loss=[2, 1, 1.5],
                val_acc=[0.5, 0.7, 0.6], lr=[1, 1, 1], seconds=[1, 1, 1])
    assert h.best("val_loss") == (1, 1)
    assert h.best("val_acc") == (1, 0.7)
    assert h.to_dict()["val_acc"] == [0.5, 0.7, 0.6]
    with pytest.raises(ValueError, match="unknown metric"):
        h.best("val_f1")
    figure = h.plot()
    assert len(figure.axes) == 2
