from nbtools import challenge, code, hidden, locked_code, manual, md, notebook, prediction, solution, tests

GUARD = """\
import copy
import math

from nnlab import grading as g
import nnlab.early_stopping
import nnlab.regularization
import torch.optim.swa_utils
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn  # the oracle of update_ema
# the reference solutions of this assignment, and torch's own averaging
FORBIDDEN = [nnlab.early_stopping, nnlab.regularization, torch.optim.swa_utils]


def no_delegation(task):
    return g.forbid(FORBIDDEN, task)


def decisions(stopper, values):
    # feed values until the first True: what happens after the stop is not part of the task
    said = []
    for value in values:
        said.append(bool(stopper.step(value)))
        if said[-1]:
            break
    return said


def expected_decisions(values, patience, min_delta=0.0, mode="min"):
    return decisions(nnlab.early_stopping.EarlyStopping(patience, min_delta, mode), values)


def stamped_linear(value):
    # a layer whose every weight and bias is `value`: which epoch's weights it holds is visible at a glance
    layer = nn.Linear(3, 2)
    with torch.no_grad():
        for p in layer.parameters():
            p.fill_(value)
    return layer
"""

cells = [
    md("""
    # Exercise: early stopping and a running average of the weights

    Companion to the chapter *Regularization* (`book/regularization.md`) of *Training neural
    networks by experiment*.

    A network that trains long enough on a small data set ends up memorizing it: the training
    loss keeps falling while the validation score stalls or gets worse. *Early stopping* watches
    a validation metric after every epoch, remembers the best weights seen, and says when
    waiting longer has stopped paying. You will write the class that does it, use it on a
    network that overfits, and then write the exponential moving average of the weights that
    many training recipes keep beside the model.

    **Rules.** Replace each `raise NotImplementedError()` with your code. Do not call
    `nnlab.early_stopping` or `nnlab.regularization` (the reference solutions), nor
    `torch.optim.swa_utils` for the average: a task that delegates earns no credit. The cells
    below each task run some of the tests; more run when your notebook is graded.
    """),
    locked_code("""
    import copy
    import math

    import torch
    from torch import nn
    """, "imports"),
    md("""
    ## 1. `EarlyStopping`

    Write the class `EarlyStopping(patience=5, min_delta=0.0, mode="min")`:

    - `step(metric, model=None)` is called once per epoch with that epoch's metric (a float) and
      returns `True` when training should stop: once `patience` **consecutive** calls have
      brought no improvement larger than `min_delta`. In `mode="min"` (a loss) an improvement is
      a value below `best - min_delta`; in `mode="max"` (an accuracy) a value above
      `best + min_delta`. The first call always improves on nothing, and a NaN metric is never an
      improvement. An improvement resets the count.
    - Attributes `best` (the best value so far), `best_epoch` (the 0-based index of the call
      that produced it) and `best_state`: when a `model` is passed to `step` on an improving
      call, a **deep copy** of `model.state_dict()` (the model keeps training and changing its
      tensors in place: a plain reference would change with it).
    - `restore(model)` loads `best_state` into `model`.
    - The arguments are checked: `patience` must be an int of at least 1 and `mode` one of
      `"min"`, `"max"`; raise `ValueError` otherwise.

    What `step` returns after it has once returned `True` is not tested: training stops there.
    """),
    solution("EarlyStopping", """
    class EarlyStopping:
        \"\"\"Stop when a metric has not improved by more than min_delta for patience calls.\"\"\"

        def __init__(self, patience=5, min_delta=0.0, mode="min"):
            ### BEGIN SOLUTION
            if not isinstance(patience, int) or isinstance(patience, bool) or patience < 1:
                raise ValueError(f"patience must be an int >= 1, got {patience!r}")
            if mode not in ("min", "max"):
                raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
            self.patience, self.min_delta, self.mode = patience, min_delta, mode
            self.best = math.inf if mode == "min" else -math.inf
            self.best_epoch = -1
            self.best_state = None
            self.calls = 0
            self.bad_calls = 0
            ### END SOLUTION

        def step(self, metric, model=None):
            ### BEGIN SOLUTION
            metric = float(metric)
            if self.mode == "min":
                improved = metric < self.best - self.min_delta
            else:
                improved = metric > self.best + self.min_delta
            if improved:  # False for NaN: every comparison with NaN is False
                self.best, self.best_epoch, self.bad_calls = metric, self.calls, 0
                if model is not None:
                    self.best_state = copy.deepcopy(model.state_dict())
            else:
                self.bad_calls += 1
            self.calls += 1
            return self.bad_calls >= self.patience
            ### END SOLUTION

        def restore(self, model):
            ### BEGIN SOLUTION
            model.load_state_dict(self.best_state)
            return model
            ### END SOLUTION
    """),
    tests("EarlyStopping_visible", 2, setup=GUARD, body="""
    with no_delegation("EarlyStopping"):
        losses = [1.0, 0.5, 0.6, 0.7]
        stopper = EarlyStopping(patience=2)
        said = decisions(stopper, losses)
        assert said == [False, False, False, True], (
            f"EarlyStopping(patience=2) on the losses {losses} said {said}; expected [False, False, False, True]: "
            "two calls in a row without a lower loss, then stop")
        assert stopper.best == 0.5 and stopper.best_epoch == 1, (
            f"after {losses}: best={stopper.best!r}, best_epoch={stopper.best_epoch!r}; expected 0.5 and 1 (0-based)")
        accuracies = [0.5, 0.55, 0.56, 0.4]
        stopper = EarlyStopping(patience=2, min_delta=0.1, mode="max")
        said = decisions(stopper, accuracies)
        assert said == [False, False, True], (
            f"EarlyStopping(patience=2, min_delta=0.1, mode='max') on {accuracies} said {said}; expected "
            "[False, False, True]: +0.05 and +0.06 are not improvements larger than min_delta")
        assert stopper.best == 0.5, f"best is {stopper.best!r}; a gain within min_delta must not replace it (0.5)"
        said = decisions(EarlyStopping(patience=1), [1.0, math.nan, 0.5])
        assert said == [False, True], f"on [1.0, nan] with patience 1 the stopper said {said}; a NaN is never an improvement"
        # the best weights: a deep copy at the best call, and restore() brings them back
        stopper, layer = EarlyStopping(patience=3), nn.Linear(3, 2)
        for epoch, loss in enumerate([0.9, 0.4, 0.8]):
            with torch.no_grad():
                for p in layer.parameters():
                    p.fill_(float(epoch))  # in place, as an optimizer changes them
            stopper.step(loss, layer)
        assert stopper.best_state is not None, "best_state is None after step(metric, model) improved"
        stopper.restore(layer)
    g.assert_tensor_close(layer.weight, torch.full((2, 3), 1.0), "the weights after restore()",
                          hint="best_state must be copy.deepcopy(model.state_dict()) taken at the best call (epoch 1 here); "
                               "a plain state_dict() keeps changing with the model")
    with no_delegation("EarlyStopping"):
        g.assert_raises(ValueError, EarlyStopping, patience=0, call="EarlyStopping(patience=0)", hint="patience must be at least 1")
        g.assert_raises(ValueError, EarlyStopping, mode="maximum", call="EarlyStopping(mode='maximum')", hint="mode is 'min' or 'max'")
    print("EarlyStopping: visible tests passed")
    """),
    hidden("EarlyStopping_hidden", 4, GUARD, """
    g.assert_no_delegation(EarlyStopping.step, g.forbidden_functions(FORBIDDEN), "EarlyStopping")
    rng = torch.Generator().manual_seed(9101)
    for trial in range(12):
        patience = int(torch.randint(1, 6, (1,), generator=rng))
        mode = "min" if trial % 2 == 0 else "max"
        min_delta = [0.0, 0.01, 0.05][trial % 3]
        # a noisy curve that improves, then stalls: every rule must stop somewhere in it
        trend = torch.linspace(1.0, 0.3, 15).tolist() + [0.3] * 15
        values = [t + 0.05 * float(torch.randn((), generator=rng)) for t in trend]
        if mode == "max":
            values = [1.0 - v for v in values]
        if trial == 5:
            values[3] = math.nan
        call = f"EarlyStopping(patience={patience}, min_delta={min_delta}, mode={mode!r})"
        with no_delegation("EarlyStopping"):
            stopper = EarlyStopping(patience=patience, min_delta=min_delta, mode=mode)
            said = decisions(stopper, values)
        expected = expected_decisions(values, patience, min_delta, mode)
        reference = nnlab.early_stopping.EarlyStopping(patience, min_delta, mode)
        decisions(reference, values)
        assert said == expected, f"{call} on the values {[round(v, 3) for v in values]} said {said}; expected {expected}"
        assert stopper.best == reference.best and stopper.best_epoch == reference.best_epoch, (
            f"{call}: best={stopper.best!r}, best_epoch={stopper.best_epoch!r}; expected {reference.best!r} and {reference.best_epoch}")
    # the defaults: patience 5, mode "min", no min_delta
    values = [5.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0]
    with no_delegation("EarlyStopping"):
        said = decisions(EarlyStopping(), values)
    assert said == [False] * 6 + [True], f"EarlyStopping() on {values} said {said}; the defaults are patience=5, min_delta=0, mode='min'"
    # the whole state (BatchNorm's running statistics too) comes back from the best call
    torch.manual_seed(9102)
    model = nn.Sequential(nn.Linear(4, 5), nn.BatchNorm1d(5), nn.Linear(5, 2))
    losses = [0.9, 0.7, 0.75, 0.5, 0.8, 0.6]
    snapshots = []
    with no_delegation("EarlyStopping"):
        stopper = EarlyStopping(patience=10)
        for loss in losses:
            with torch.no_grad():
                for p in model.parameters():
                    p.add_(torch.randn_like(p))
            model.train()(torch.randn(8, 4))  # moves BatchNorm's running statistics, which are in the state too
            snapshots.append(copy.deepcopy(model.state_dict()))
            stopper.step(loss, model)
        stopper.restore(model)
    for name, tensor in model.state_dict().items():
        g.assert_tensor_close(tensor, snapshots[3][name], f"{name} after restore()",
                              hint="restore() loads the deep copy of the whole state_dict taken at the best call (epoch 3)")
    """),
    hidden("EarlyStopping_validation", 1, GUARD, """
    g.assert_no_delegation(EarlyStopping.__init__, g.forbidden_functions(FORBIDDEN), "EarlyStopping")
    with no_delegation("EarlyStopping"):
        for kwargs in [dict(patience=0), dict(patience=-2), dict(patience=2.5), dict(mode="avg"), dict(mode="MIN")]:
            g.assert_raises(ValueError, EarlyStopping, **kwargs, call=f"EarlyStopping({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})",
                            hint="patience must be an int >= 1 and mode 'min' or 'max'")
    """),
    md("""
    ## 2. Experiment: when to stop

    The cell below trains an MLP of two hidden layers of 256 units on 1,000 MNIST-1D signals
    for 40 epochs (it overfits), with your `EarlyStopping` watching the validation loss with a
    patience of 5 but **not** stopping the run, so that you can see what would have happened.
    It prints where your rule would have stopped, and the validation accuracy at that point, at
    the restored best epoch and at the end.
    """),
    prediction("where the rule stops, and whether the restored weights are more accurate than the last ones"),
    code("""
    import nnlab

    mnist = nnlab.load_mnist1d().subsample_train(1000)
    train, val, _ = mnist.loaders(batch_size=64)
    torch.manual_seed(0)
    model = nnlab.mlp(40, 10, width=256, depth=2)
    stopper, stopped_at = EarlyStopping(patience=5), None
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    val_loss, val_acc = [], []
    for epoch in range(40):
        nnlab.fit(model, train, epochs=1, optimizer=optimizer, progress=False)
        scores = nnlab.evaluate(model, val)
        val_loss.append(scores["loss"])
        val_acc.append(scores["acc"])
        if stopper.step(scores["loss"], model) and stopped_at is None:
            stopped_at = epoch
    print(f"the rule stops after epoch {stopped_at}; the best validation loss was at epoch {stopper.best_epoch}")
    print(f"validation accuracy: at the best loss {val_acc[stopper.best_epoch]:.1%}, at the end {val_acc[-1]:.1%}, "
          f"best of the run {max(val_acc):.1%} (epoch {val_acc.index(max(val_acc))})")
    """),
    md("""
    ## 3. Hypothesis and verdict

    What did you predict, and what did you measure? The sources say to stop "when the
    validation loss starts plateauing", as this "almost always means you are starting to
    overfit". Explain with your numbers what the validation loss and the validation accuracy
    did after the best loss, why they can disagree, and which metric you would watch.
    """),
    manual("hypothesis_verdict", 2, """
    *Model answer.* The validation loss is lowest early (around epoch 10-15) and the rule stops
    five epochs later, but the validation accuracy at the restored epoch is a little *lower*
    than at the end (about 45 % against 48 %), and the best accuracy comes later still. After
    its minimum the validation loss rises because the network becomes more and more confident,
    including on the validation examples it gets wrong, which cross-entropy punishes heavily;
    the accuracy only counts right and wrong, and that barely moves. So the loss "overfits" long
    before the accuracy does. Watch the metric you will be judged by (here the accuracy, with
    `mode="max"`), with a patience of several epochs, and restore the best weights.
    """, rubric=(
        "the rule stops early (about a third to a half of the run) and the restored weights are no more accurate than the last ones.",
        "the loss rises through growing confidence on wrong answers while the accuracy barely changes; watch the metric that matters (accuracy, mode='max') with patience.")),
    md("""
    ## 4. A running average of the weights

    Many recipes keep, beside the model being trained, an **exponential moving average** (EMA)
    of its weights and evaluate that average instead. Write `update_ema(ema_model, model, decay)`:
    for every parameter, in place,
    $$w_\\text{ema} \\leftarrow \\text{decay}\\cdot w_\\text{ema} + (1 - \\text{decay})\\cdot w,$$
    and copy every buffer (BatchNorm's running statistics) from `model` to `ema_model`. The two
    models have the same architecture; match their parameters in order (`zip` of
    `.parameters()`, and of `.buffers()`). Do it under `torch.no_grad()`, leave `model` as it was,
    and return `ema_model`. `decay` must be in $[0, 1]$: raise `ValueError` otherwise.
    """),
    solution("update_ema", """
    def update_ema(ema_model, model, decay):
        \"\"\"ema <- decay * ema + (1 - decay) * w for every parameter; buffers copied.\"\"\"
        ### BEGIN SOLUTION
        if not 0.0 <= decay <= 1.0:
            raise ValueError(f"decay must be in [0, 1], got {decay}")
        with torch.no_grad():
            for averaged, current in zip(ema_model.parameters(), model.parameters()):
                averaged.mul_(decay).add_(current, alpha=1.0 - decay)
            for averaged, current in zip(ema_model.buffers(), model.buffers()):
                averaged.copy_(current)
        return ema_model
        ### END SOLUTION
    """),
    tests("update_ema_visible", 1, setup=GUARD, body="""
    model, average = stamped_linear(1.0), stamped_linear(0.0)
    with no_delegation("update_ema"):
        returned = update_ema(average, model, 0.75)
    assert returned is average, "update_ema must return ema_model"
    g.assert_tensor_close(average.weight, torch.full((2, 3), 0.25), "update_ema(ema of 0s, model of 1s, 0.75).weight",
                          hint="decay * ema + (1 - decay) * w: 0.75 * 0 + 0.25 * 1")
    g.assert_tensor_close(model.weight, torch.full((2, 3), 1.0), "the model's weights after update_ema", hint="only ema_model changes")
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    ema = copy.deepcopy(net)
    oracle = AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(0.9))
    oracle.update_parameters(net)
    for _ in range(3):
        with torch.no_grad():
            for p in net.parameters():
                p.add_(torch.randn_like(p))
        net.train()(torch.randn(8, 4))
        with no_delegation("update_ema"):
            update_ema(ema, net, 0.9)
        oracle.update_parameters(net)
    for (name, mine), theirs in zip(ema.named_parameters(), oracle.module.parameters()):
        g.assert_tensor_close(mine, theirs, f"parameter {name} after three updates with decay 0.9", rtol=1e-5, atol=1e-6)
    g.assert_tensor_close(ema[1].running_mean, net[1].running_mean, "the EMA model's BatchNorm running_mean",
                          hint="copy the buffers from model: they are statistics, not weights to average")
    with no_delegation("update_ema"):
        g.assert_raises(ValueError, update_ema, average, model, 1.5, call="update_ema(ema, model, 1.5)", hint="decay must be in [0, 1]")
    print("update_ema: visible tests passed")
    """),
    hidden("update_ema_hidden", 2, GUARD, """
    g.assert_no_delegation(update_ema, g.forbidden_functions(FORBIDDEN), "update_ema")
    for seed, decay in [(9111, 0.99), (9112, 0.5), (9113, 0.0), (9114, 1.0)]:
        torch.manual_seed(seed)
        net = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3)).double()
        ema = copy.deepcopy(net)
        expected = copy.deepcopy(net)
        for _ in range(4):
            with torch.no_grad():
                for p in net.parameters():
                    p.mul_(1.1).add_(torch.randn_like(p))
            net.train()(torch.randn(16, 6, dtype=torch.float64))
            before = copy.deepcopy(net.state_dict())
            with no_delegation("update_ema"):
                update_ema(ema, net, decay)
            nnlab.regularization.update_ema(expected, net, decay)
            for name, tensor in net.state_dict().items():
                assert torch.equal(tensor, before[name]), f"update_ema changed the model's {name}; only ema_model may change"
        for (name, mine), theirs in zip(ema.state_dict().items(), expected.state_dict().values()):
            g.assert_tensor_close(mine, theirs, f"{name} of the EMA after four updates with decay {decay}", rtol=1e-9, atol=1e-12)
    """),
    hidden("update_ema_validation", 1, GUARD, """
    g.assert_no_delegation(update_ema, g.forbidden_functions(FORBIDDEN), "update_ema")
    with no_delegation("update_ema"):
        for decay in (-0.1, 1.01):
            g.assert_raises(ValueError, update_ema, stamped_linear(0.0), stamped_linear(1.0), decay,
                            call=f"update_ema(ema, model, {decay})", hint="decay must be in [0, 1]")
    """),
]

cells += challenge('swa_average', 'stochastic weight averaging', """
Stochastic weight averaging (Izmailov et al., 2018) averages the weights of the last epochs
*equally* instead of exponentially. Write `swa_update(swa_model, model, n_averaged)` that turns
`swa_model`, the mean of `n_averaged` earlier snapshots, into the mean of those and `model`:
$w_\\text{swa} \\leftarrow w_\\text{swa} + (w - w_\\text{swa})/(n + 1)$. Not graded; the next cell
compares five updates with the plain mean of the five snapshots.
""", """
def swa_update(swa_model, model, n_averaged):
    ### BEGIN SOLUTION
    with torch.no_grad():
        for averaged, current in zip(swa_model.parameters(), model.parameters()):
            averaged.add_(current - averaged, alpha=1.0 / (n_averaged + 1))
    return swa_model
    ### END SOLUTION
""", """
torch.manual_seed(0)
snapshots = [nn.Linear(3, 2) for _ in range(5)]
average = copy.deepcopy(snapshots[0])
for n, snapshot in enumerate(snapshots[1:], start=1):
    swa_update(average, snapshot, n)
mean_weight = torch.stack([s.weight.detach() for s in snapshots]).mean(dim=0)
assert torch.allclose(average.weight, mean_weight, atol=1e-6), "the SWA weights are not the mean of the five snapshots"
""")

NOTEBOOK = notebook(cells)
