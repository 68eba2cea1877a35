from nbtools import challenge, code, hidden, locked_code, manual, md, notebook, prediction, solution, tests

GUARD = """\
import math
import types

from nnlab import grading as g
import nnlab.schedules
FORBIDDEN = [nnlab.schedules]  # the reference solutions


def lend(function):
    # The reference, bound to a copy of its module's names: it keeps working while the module is forbidden.
    return types.FunctionType(function.__code__, dict(vars(nnlab.schedules)), function.__name__, function.__defaults__)


REFERENCE_WARMUP_COSINE = lend(nnlab.schedules.warmup_cosine)


def assert_lr(value, expected, call, hint=""):
    assert isinstance(value, (float, int)) and not isinstance(value, bool), (
        f"{call} returned {type(value).__name__}; expected a float")
    assert math.isclose(value, expected, rel_tol=1e-9, abs_tol=1e-15), f"{call} returned {value:.8g}; expected {expected:.8g}. {hint}"


def torch_schedule(make_scheduler, steps, lr0=1.0):
    # The learning rates torch's own scheduler gives at steps 0 .. steps-1: the oracle.
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr0)
    scheduler = make_scheduler(optimizer)
    lrs = []
    for _ in range(steps):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return lrs
"""

cells = [
    md("""
    # Exercise: learning-rate schedules

    Companion to the chapter *The learning rate* (`book/learning_rate.md`) of *Training
    neural networks by experiment*.

    You will write the classic decays as plain functions of the epoch or step, then the
    warm-up + cosine schedule, first as a function and then as a torch `LRScheduler` that
    drives a real optimizer, and compare a constant learning rate with it.

    **Rules.** Replace each `raise NotImplementedError()` with your code. Do not call
    `nnlab.schedules`: a task that delegates to it earns no credit. `math` is yours to use.
    The cells below each task run some of the tests; more run when your notebook is graded.
    """),
    locked_code("""
    import math

    import torch
    from torch import nn
    """, "imports"),
    md("""
    ## 1. Step decay

    Write `step_decay(lr0, epoch, drop=0.5, every=10)` $= \\text{lr}_0 \\cdot
    \\text{drop}^{\\lfloor \\text{epoch} / \\text{every} \\rfloor}$: the rate is multiplied by
    `drop` once every `every` epochs (epochs count from 0).
    """),
    solution("step_decay", """
    def step_decay(lr0, epoch, drop=0.5, every=10):
        \"\"\"lr0 * drop ** floor(epoch / every).\"\"\"
        ### BEGIN SOLUTION
        return lr0 * drop ** (epoch // every)
        ### END SOLUTION
    """),
    tests("step_decay_visible", 1, setup=GUARD, body="""
    with g.forbid(FORBIDDEN, "step_decay"):
        values = [step_decay(0.1, epoch) for epoch in (0, 9, 10, 25)]
    for epoch, value, expected in zip((0, 9, 10, 25), values, (0.1, 0.1, 0.05, 0.025)):
        assert_lr(value, expected, f"step_decay(0.1, {epoch})", hint="the rate drops at epochs 10, 20, ... and stays flat in between")
    with g.forbid(FORBIDDEN, "step_decay"):
        for epoch, expected in ((2, 1.0), (3, 0.1), (7, 0.01)):
            assert_lr(step_decay(1.0, epoch, drop=0.1, every=3), expected, f"step_decay(1.0, {epoch}, drop=0.1, every=3)",
                      hint="use the drop and every you are given: lr0 * drop ** (epoch // every)")
    print("step_decay: visible tests passed")
    """),
    hidden("step_decay_hidden", 2, GUARD, """
    g.assert_no_delegation(step_decay, g.forbidden_functions(FORBIDDEN), "step_decay")
    for lr0, drop, every in [(0.3, 0.1, 7), (1.0, 0.5, 1), (2e-3, 0.9, 3)]:
        expected = torch_schedule(lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=every, gamma=drop), 30, lr0)
        with g.forbid(FORBIDDEN, "step_decay"):
            for epoch in range(30):
                assert_lr(step_decay(lr0, epoch, drop=drop, every=every), expected[epoch],
                          f"step_decay({lr0}, {epoch}, drop={drop}, every={every}) (torch's StepLR as the oracle)",
                          hint="use the integer part of epoch / every (epoch // every)")
    """),
    md("""
    ## 2. Exponential and 1/t decay

    Write `exponential_decay(lr0, t, k)` $= \\text{lr}_0\\, e^{-k t}$ and
    `inverse_time_decay(lr0, t, k)` $= \\text{lr}_0 / (1 + k t)$, for any real $t \\ge 0$.
    """),
    solution("exponential_decay", """
    def exponential_decay(lr0, t, k):
        \"\"\"lr0 * exp(-k t).\"\"\"
        ### BEGIN SOLUTION
        return lr0 * math.exp(-k * t)
        ### END SOLUTION
    """),
    tests("exponential_decay_visible", 1, setup=GUARD, body="""
    with g.forbid(FORBIDDEN, "exponential_decay"):
        assert_lr(exponential_decay(0.1, 0, 0.5), 0.1, "exponential_decay(0.1, 0, 0.5)")
        assert_lr(exponential_decay(0.1, 2, 0.5), 0.1 * math.exp(-1.0), "exponential_decay(0.1, 2, 0.5)",
                  hint="lr0 * e^(-k t): after t = 2 with k = 0.5 the rate is lr0 / e")
        assert_lr(exponential_decay(0.1, 0.5, 2.0), 0.1 * math.exp(-1.0), "exponential_decay(0.1, 0.5, 2.0)", hint="t may be any real number")
    print("exponential_decay: visible tests passed")
    """),
    hidden("exponential_decay_hidden", 2, GUARD, """
    g.assert_no_delegation(exponential_decay, g.forbidden_functions(FORBIDDEN), "exponential_decay")
    for lr0, k in [(0.5, 0.1), (3e-4, 0.02)]:
        expected = torch_schedule(lambda opt: torch.optim.lr_scheduler.ExponentialLR(opt, gamma=math.exp(-k)), 25, lr0)
        with g.forbid(FORBIDDEN, "exponential_decay"):
            for t in range(25):
                assert_lr(exponential_decay(lr0, t, k), expected[t], f"exponential_decay({lr0}, {t}, {k}) (torch's ExponentialLR as the oracle)")
            assert_lr(exponential_decay(lr0, 2.5, k), lr0 * math.exp(-2.5 * k), f"exponential_decay({lr0}, 2.5, {k})",
                      hint="t may be any real number")
    """),
    solution("inverse_time_decay", """
    def inverse_time_decay(lr0, t, k):
        \"\"\"lr0 / (1 + k t).\"\"\"
        ### BEGIN SOLUTION
        return lr0 / (1 + k * t)
        ### END SOLUTION
    """),
    tests("inverse_time_decay_visible", 1, setup=GUARD, body="""
    with g.forbid(FORBIDDEN, "inverse_time_decay"):
        assert_lr(inverse_time_decay(0.1, 0, 0.5), 0.1, "inverse_time_decay(0.1, 0, 0.5)")
        assert_lr(inverse_time_decay(0.1, 2, 0.5), 0.05, "inverse_time_decay(0.1, 2, 0.5)", hint="lr0 / (1 + k t) = 0.1 / 2")
        assert_lr(inverse_time_decay(0.1, 0.5, 2.0), 0.05, "inverse_time_decay(0.1, 0.5, 2.0)", hint="t may be any real number")
    print("inverse_time_decay: visible tests passed")
    """),
    hidden("inverse_time_decay_hidden", 2, GUARD, """
    g.assert_no_delegation(inverse_time_decay, g.forbidden_functions(FORBIDDEN), "inverse_time_decay")
    for lr0, k in [(0.5, 0.1), (3e-4, 2.0)]:
        expected = torch_schedule(lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 1 / (1 + k * t)), 25, lr0)
        with g.forbid(FORBIDDEN, "inverse_time_decay"):
            for t in range(25):
                assert_lr(inverse_time_decay(lr0, t, k), expected[t], f"inverse_time_decay({lr0}, {t}, {k})")
            assert_lr(inverse_time_decay(lr0, 0.25, k), lr0 / (1 + 0.25 * k), f"inverse_time_decay({lr0}, 0.25, {k})")
    """),
    md("""
    ## 3. Warm-up, then cosine

    Write `warmup_cosine(step, total_steps, lr_max, warmup_steps=0, lr_min=0.0)`:

    - during warm-up (`step < warmup_steps`): $\\text{lr}_{\\max} \\cdot (\\text{step} + 1) /
      \\text{warmup\\_steps}$, a straight line that reaches `lr_max` at the last warm-up step;
    - after it, with $q = (\\text{step} - \\text{warmup\\_steps}) / \\max(1, \\text{total\\_steps}
      - \\text{warmup\\_steps})$ clipped to $[0, 1]$:
      $\\text{lr}_{\\min} + \\tfrac12 (\\text{lr}_{\\max} - \\text{lr}_{\\min})(1 + \\cos \\pi q)$, a half
      cosine from `lr_max` down to `lr_min`, where it stays for steps past `total_steps`.
    """),
    solution("warmup_cosine", """
    def warmup_cosine(step, total_steps, lr_max, warmup_steps=0, lr_min=0.0):
        \"\"\"Linear warm-up to lr_max over warmup_steps, then a half cosine down to lr_min.\"\"\"
        ### BEGIN SOLUTION
        if step < warmup_steps:
            return lr_max * (step + 1) / warmup_steps
        q = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        q = min(max(q, 0.0), 1.0)
        return lr_min + 0.5 * (lr_max - lr_min) * (1 + math.cos(math.pi * q))
        ### END SOLUTION
    """),
    tests("warmup_cosine_visible", 1, setup=GUARD, body="""
    with g.forbid(FORBIDDEN, "warmup_cosine"):
        assert_lr(warmup_cosine(0, 100, 1.0, warmup_steps=10), 0.1, "warmup_cosine(0, 100, 1.0, warmup_steps=10)",
                  hint="the first warm-up step already uses lr_max * 1 / warmup_steps")
        assert_lr(warmup_cosine(10, 100, 1.0, warmup_steps=10), 1.0, "warmup_cosine(10, 100, 1.0, warmup_steps=10)",
                  hint="the cosine starts at lr_max right after warm-up")
        assert_lr(warmup_cosine(55, 100, 1.0, warmup_steps=10), 0.5, "warmup_cosine(55, 100, 1.0, warmup_steps=10)",
                  hint="half-way through the cosine part, the rate is half-way between lr_max and lr_min")
        assert_lr(warmup_cosine(55, 100, 1.0, warmup_steps=10, lr_min=0.2), 0.6, "warmup_cosine(55, 100, 1.0, warmup_steps=10, lr_min=0.2)",
                  hint="the cosine runs from lr_max down to lr_min: half-way it is (lr_max + lr_min) / 2")
        for step in (100, 150):
            assert_lr(warmup_cosine(step, 100, 1.0, warmup_steps=10, lr_min=0.2), 0.2, f"warmup_cosine({step}, 100, 1.0, warmup_steps=10, lr_min=0.2)",
                      hint="from total_steps on the rate stays at lr_min: clip q to [0, 1]")
        assert_lr(warmup_cosine(4, 4, 1.0, warmup_steps=4), 1.0, "warmup_cosine(4, 4, 1.0, warmup_steps=4)",
                  hint="with no steps left after warm-up, divide by max(1, total_steps - warmup_steps)")
    print("warmup_cosine: visible tests passed")
    """),
    hidden("warmup_cosine_hidden", 3, GUARD, """
    g.assert_no_delegation(warmup_cosine, g.forbidden_functions(FORBIDDEN), "warmup_cosine")
    with g.forbid(FORBIDDEN, "warmup_cosine"):
        for total, lr_max, lr_min in [(50, 0.3, 0.0), (120, 1e-3, 1e-5)]:
            # without warm-up, torch's CosineAnnealingLR is the oracle
            expected = torch_schedule(lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total, eta_min=lr_min), total, lr_max)
            for step in range(total):
                call = f"warmup_cosine({step}, {total}, {lr_max}, lr_min={lr_min})"
                value = warmup_cosine(step, total, lr_max, lr_min=lr_min)
                assert math.isclose(value, expected[step], rel_tol=1e-6, abs_tol=1e-12), (
                    f"{call} returned {value:.8g}; torch's CosineAnnealingLR gives {expected[step]:.8g}")
        for step in (0, 3, 7):
            assert_lr(warmup_cosine(step, 40, 2.0, warmup_steps=8), 2.0 * (step + 1) / 8, f"warmup_cosine({step}, 40, 2.0, warmup_steps=8)",
                      hint="during warm-up the rate is lr_max * (step + 1) / warmup_steps")
        for step in (40, 41, 1000):
            assert_lr(warmup_cosine(step, 40, 2.0, warmup_steps=8, lr_min=0.1), 0.1, f"warmup_cosine({step}, 40, 2.0, warmup_steps=8, lr_min=0.1)",
                      hint="from total_steps on the rate stays at lr_min: clip q to [0, 1]")
        assert_lr(warmup_cosine(5, 5, 1.0, warmup_steps=5), 1.0, "warmup_cosine(5, 5, 1.0, warmup_steps=5)",
                  hint="with no steps left after warm-up, divide by max(1, total_steps - warmup_steps)")
    """),
    md("""
    ## 4. The schedule as a torch scheduler

    Write `WarmupCosine(torch.optim.lr_scheduler.LRScheduler)` with
    `__init__(self, optimizer, total_steps, warmup_steps=0, lr_min=0.0)` and a `get_lr(self)`
    that returns, for each parameter group, `warmup_cosine(self.last_epoch, total_steps,
    base_lr, warmup_steps, lr_min)` where `base_lr` is that group's initial learning rate
    (torch keeps them in `self.base_lrs`; `self.last_epoch` counts the calls to `step()`).
    Store your settings *before* calling `super().__init__(optimizer)`: torch's constructor
    already calls `get_lr()` once, so that right after construction the rate is step 0's.
    You may call your `warmup_cosine` (while this task is graded it is replaced by a correct
    one).
    """),
    solution("WarmupCosine", """
    class WarmupCosine(torch.optim.lr_scheduler.LRScheduler):
        \"\"\"Each param group's lr follows warmup_cosine, with its initial lr as lr_max.\"\"\"

        def __init__(self, optimizer, total_steps, warmup_steps=0, lr_min=0.0):
            ### BEGIN SOLUTION
            self.total_steps, self.warmup_steps, self.lr_min = total_steps, warmup_steps, lr_min
            super().__init__(optimizer)
            ### END SOLUTION

        def get_lr(self):
            ### BEGIN SOLUTION
            return [warmup_cosine(self.last_epoch, self.total_steps, base, self.warmup_steps, self.lr_min)
                    for base in self.base_lrs]
            ### END SOLUTION
    """),
    tests("WarmupCosine_visible", 1, setup=GUARD, body="""
    with g.forbid(FORBIDDEN, "WarmupCosine"), g.substitute(globals(), warmup_cosine=REFERENCE_WARMUP_COSINE):
        optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
        scheduler = WarmupCosine(optimizer, total_steps=20, warmup_steps=4)
        seen = []
        for step in range(20):
            seen.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            scheduler.step()
    for step in (0, 3, 4, 12, 19):
        assert_lr(seen[step], REFERENCE_WARMUP_COSINE(step, 20, 1.0, 4), f"the learning rate at step {step} of WarmupCosine(total_steps=20, warmup_steps=4)",
                  hint="get_lr returns warmup_cosine(self.last_epoch, ...) for each base lr")
    assert isinstance(scheduler, torch.optim.lr_scheduler.LRScheduler), "WarmupCosine must subclass torch.optim.lr_scheduler.LRScheduler"
    with g.forbid(FORBIDDEN, "WarmupCosine"), g.substitute(globals(), warmup_cosine=REFERENCE_WARMUP_COSINE):
        a, b = torch.zeros(2, requires_grad=True), torch.zeros(3, requires_grad=True)
        optimizer = torch.optim.SGD([{"params": [a], "lr": 0.5}, {"params": [b], "lr": 0.1}], lr=1.0)
        scheduler = WarmupCosine(optimizer, total_steps=12, warmup_steps=2, lr_min=0.01)
        for step in range(15):
            for group, base in zip(optimizer.param_groups, (0.5, 0.1)):
                assert_lr(group["lr"], REFERENCE_WARMUP_COSINE(step, 12, base, 2, 0.01),
                          f"the lr of the group with base lr {base} at step {step} (total_steps=12, warmup_steps=2, lr_min=0.01)",
                          hint="each group follows the schedule with ITS OWN initial lr (self.base_lrs), not the current lr")
            optimizer.step()
            scheduler.step()
    print("WarmupCosine: visible tests passed")
    """),
    hidden("WarmupCosine_hidden", 3, GUARD, """
    with g.forbid(FORBIDDEN, "WarmupCosine"), g.substitute(globals(), warmup_cosine=REFERENCE_WARMUP_COSINE):
        a, b = torch.zeros(2, requires_grad=True), torch.zeros(3, requires_grad=True)
        optimizer = torch.optim.SGD([{"params": [a], "lr": 0.1}, {"params": [b], "lr": 0.02}], lr=0.5)
        scheduler = WarmupCosine(optimizer, total_steps=30, warmup_steps=5, lr_min=1e-3)
        assert isinstance(scheduler, torch.optim.lr_scheduler.LRScheduler), "WarmupCosine must subclass torch.optim.lr_scheduler.LRScheduler"
        for step in range(35):
            for group, base in zip(optimizer.param_groups, (0.1, 0.02)):
                expected = REFERENCE_WARMUP_COSINE(step, 30, base, 5, 1e-3)
                assert_lr(group["lr"], expected, f"the lr of the group with base lr {base} at step {step} (total_steps=30, warmup_steps=5, lr_min=1e-3)",
                          hint="each group follows the schedule with ITS OWN initial lr (self.base_lrs), not the current lr")
            optimizer.step()
            scheduler.step()
        assert_lr(scheduler.get_last_lr()[1], REFERENCE_WARMUP_COSINE(35, 30, 0.02, 5, 1e-3), "scheduler.get_last_lr() after 35 steps")
    """),
    md("""
    ## 5. Experiment: a constant rate against warm-up + cosine

    The cell below trains the same MLP on MNIST-1D twice with SGD and momentum at the same
    peak learning rate: once at that rate throughout, once with *your* `WarmupCosine`
    (one epoch of warm-up, then cosine to 0). Predict which ends with the lower training
    loss and the higher validation accuracy before running it (a few seconds).
    """),
    prediction('which run ends with the lower training loss and which with the higher validation accuracy'),
    code("""
    import nnlab
    from nnlab import plots

    mnist = nnlab.load_mnist1d()
    train, val, test = mnist.loaders(batch_size=64)
    epochs, peak = 20, 0.1
    curves = {}
    for name, schedule in [("constant", None),
                           ("warm-up + cosine", lambda opt, total: WarmupCosine(opt, total, warmup_steps=len(train)))]:
        torch.manual_seed(0)
        model = nnlab.mlp(40, 10, width=256, depth=2)
        history = nnlab.fit(model, train, val, epochs=epochs, optimizer="sgd", lr=peak, momentum=0.9,
                            scheduler=schedule, progress=False)
        curves[name] = ([e + 1 for e in history.epoch], history.train_loss)
        print(f"{name:>17}: final training loss {history.train_loss[-1]:.3f}, validation accuracy {history.val_acc[-1]:.1%}, "
              f"best {max(history.val_acc):.1%}")
    plots.plot_curves(curves, "epoch", "training loss", logy=True, marker="o");
    """),
    md("""
    ## 6. Hypothesis and verdict

    What did you predict, and what did you measure? Explain with your numbers what the decay
    at the end of training does that a constant rate cannot, and why a warm-up at the start
    can matter for SGD with momentum (or Adam) at a high peak rate.
    """),
    manual("hypothesis_verdict", 2, """
    *Model answer.* (Numbers from one run; yours are similar.) The constant rate keeps
    bouncing: its last epochs still take steps of the same size, so the training loss
    stays well above the cosine run's, and the validation accuracy of its last epoch is
    noisy. With warm-up + cosine the final steps are tiny, the weights settle into the
    bottom of the valley they are in, and the training loss ends far lower; the validation
    accuracy ends at least as high. A decay lets one use a large rate early (fast progress,
    noise that helps exploration) and a small one late (fine convergence), which no single
    constant rate does. A warm-up avoids the first steps at full rate, when the gradients of
    a freshly initialized network are large and badly scaled and momentum (or Adam's still
    unreliable second-moment estimate) can turn them into a step that diverges.
    """, rubric=(
        "warm-up + cosine ends with a clearly lower training loss than the constant rate, and a validation accuracy at least as high; the constant run's last epochs stay noisy.",
        "a decay takes large steps early (fast progress) and small ones late (the weights settle into the valley); a warm-up avoids full-rate steps while a fresh network's gradients are large and badly scaled.")),
]

cells += challenge('one_cycle', 'the one-cycle schedule', """
Smith & Topin (2019) warm the rate up from `lr_max / div_factor` to `lr_max` over the first
`pct_start` of training, then anneal it to `lr_max / (div_factor * final_div_factor)`, both
along cosines. Write `one_cycle(step, total_steps, lr_max, pct_start=0.3, div_factor=25.0,
final_div_factor=1e4)` with PyTorch's conventions: the warm-up ends at step
`pct_start * total_steps - 1`, the annealing at `total_steps - 1`, and a cosine from `a` to `b`
over a phase is $b + \\frac{a-b}{2}(1 + \\cos \\pi f)$ with $f$ the fraction of the phase done. Not
graded; the next cell compares every step with `torch.optim.lr_scheduler.OneCycleLR`.
""", """
def one_cycle(step, total_steps, lr_max, pct_start=0.3, div_factor=25.0, final_div_factor=1e4):
    ### BEGIN SOLUTION
    initial = lr_max / div_factor
    final = initial / final_div_factor
    warm_end = float(pct_start * total_steps) - 1
    if step <= warm_end:
        start, end, fraction = initial, lr_max, step / warm_end
    else:
        start, end, fraction = lr_max, final, (step - warm_end) / (total_steps - 1 - warm_end)
    return end + (start - end) / 2 * (1 + math.cos(math.pi * fraction))
    ### END SOLUTION
""", """
total = 40
optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.5, total_steps=total, cycle_momentum=False)
for step in range(total):
    expected = optimizer.param_groups[0]["lr"]
    got = one_cycle(step, total, 0.5)
    assert math.isclose(got, expected, rel_tol=1e-9), f"step {step}: {got:.6g}, torch's OneCycleLR {expected:.6g}"
    optimizer.step()
    scheduler.step() if step < total - 1 else None
""")

NOTEBOOK = notebook(cells)
