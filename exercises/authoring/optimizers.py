from nbtools import challenge, code, hidden, locked_code, manual, md, notebook, prediction, solution, tests

GUARD = """\
import contextlib
import importlib

import torch.nn.functional as F
from nnlab import grading as g
import nnlab.optim
FUNCTIONAL = [importlib.import_module(f"torch.optim.{name}") for name in ("sgd", "adagrad", "rmsprop", "adam", "adamw", "_functional")]
FUNCTIONAL_NAMES = ["sgd", "adagrad", "rmsprop", "adam", "adamw"]
TORCH_OPTIMIZERS = [torch.optim.SGD, torch.optim.Adagrad, torch.optim.RMSprop, torch.optim.Adam, torch.optim.AdamW]
REFERENCES = [nnlab.optim.SGD, nnlab.optim.Adagrad, nnlab.optim.RMSprop, nnlab.optim.Adam, nnlab.optim.NormalizedSGD]
FORBIDDEN = [getattr(m, n) for m in FUNCTIONAL for n in FUNCTIONAL_NAMES if hasattr(m, n)] + TORCH_OPTIMIZERS + REFERENCES


@contextlib.contextmanager
def no_delegation(task, cls):
    # The optimizers this assignment re-implements refuse to step while your class is graded.
    g.assert_no_delegation(cls.__init__, FORBIDDEN, task)
    g.assert_no_delegation(cls.step, FORBIDDEN, task)
    assert issubclass(cls, torch.optim.Optimizer), f"{task} must subclass torch.optim.Optimizer"
    inherited = [base.__module__ + "." + base.__name__ for base in cls.__mro__[1:] if base in TORCH_OPTIMIZERS + REFERENCES]
    assert not inherited, f"{task} inherits from {inherited[0]}, the optimizer it asks you to write: subclass torch.optim.Optimizer"

    saved = [(c, c.__dict__.get("step")) for c in TORCH_OPTIMIZERS + REFERENCES]
    try:
        for c, step in saved:
            c.step = g.tripwire(step or c.step, f"{c.__module__}.{c.__name__}.step", task)
        with g.forbid(FUNCTIONAL, task, names=FUNCTIONAL_NAMES):
            yield
    finally:
        for c, step in saved:
            if step is None:
                del c.step  # it was inherited
            else:
                c.step = step


def run(make_optimizer, steps=50, seed=0, groups=None):
    # Train a small float64 network with `make_optimizer(params)` (the grader's check trains the same one).
    result = g.optimizer_run(make_optimizer, seed=seed, groups=groups, steps=steps)
    return result["parameters"], result["losses"]


def compare(task, mine, theirs, call, hint=""):
    (params, losses), (expected, expected_losses) = mine, theirs
    assert losses[0] is not None, f"{task}.step(closure) returned None: call the closure and return the loss it gives"
    names = ["layer 1 weight", "layer 1 bias", "layer 2 weight", "layer 2 bias", "a parameter without gradient"]
    for name, p, e in zip(names, params, expected):
        g.assert_tensor_close(p, e, f"the {name} after 50 steps of {call}", rtol=1e-6, atol=1e-10, hint=hint)
    assert all(abs(a - b) <= 1e-9 * max(1.0, abs(b)) for a, b in zip(losses, expected_losses)), (
        f"the losses returned by {task}.step(closure) differ from torch's: return the closure's loss of THIS step")


def against_torch(task, cls, torch_cls, kwargs=None, groups=None, hint=""):
    # 50 steps of your optimizer against torch's with the same settings (torch outside the tripwires)
    kwargs = kwargs or {}
    expected = run(lambda params: torch_cls(params, **kwargs), groups=groups)
    with no_delegation(task, cls):
        mine = run(lambda params: cls(params, **kwargs), groups=groups)
    call = f"{task}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})" + (f" with two param groups {groups}" if groups else "")
    compare(task, mine, expected, call, hint=hint)


def two_steps_by_hand(task, cls, torch_cls, kwargs):
    # Two steps on one small parameter, with gradients set by hand: numbers you can check on paper.
    start, gradients = [1.0, -2.0, 0.5], [[0.5, -1.0, 0.25], [0.1, 0.2, -0.3]]
    call = f"{task}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"
    w_torch = torch.nn.Parameter(torch.tensor(start, dtype=torch.float64))
    theirs, expected = torch_cls([w_torch], **kwargs), []  # torch as the oracle, outside the tripwires
    for gradient in gradients:
        w_torch.grad = torch.tensor(gradient, dtype=torch.float64)
        theirs.step()
        expected.append(w_torch.detach().clone())
    w = torch.nn.Parameter(torch.tensor(start, dtype=torch.float64))
    with no_delegation(task, cls):
        mine = cls([w], **kwargs)
        for k, (gradient, want) in enumerate(zip(gradients, expected), start=1):
            w.grad = torch.tensor(gradient, dtype=torch.float64)
            mine.step()
            g.assert_tensor_close(w, want, f"w after step {k} of {call}, from w = {start} with gradients {gradients[:k]}",
                                  rtol=1e-9, atol=1e-12, hint=f"torch gives {[round(v, 6) for v in want.tolist()]}")


def assert_rejects(task, cls, kwargs):
    g.assert_raises(ValueError, cls, [nn.Parameter(torch.zeros(2))], **kwargs, call=f"{task}(params, {kwargs})",
                    hint="check the hyperparameters in __init__ and raise ValueError naming the bad one")
"""

DEFINE_NOTE = """
    Write it as a subclass of `torch.optim.Optimizer`: `__init__` checks the hyperparameters
    (raise `ValueError` naming the bad one), then calls `super().__init__(params, defaults)`
    with a dict of defaults, so that `self.param_groups` holds the parameters and each
    group's own hyperparameters. `step(closure=None)` evaluates the closure (if any) under
    `torch.enable_grad()`, updates every parameter whose `.grad` is not `None` in place under
    `torch.no_grad()`, keeps per-parameter buffers in `self.state[p]` (a dict, empty on the
    first step), and returns the closure's loss (or `None`).
"""

cells = [
    md("""
    # Exercise: optimizers

    Companion to the chapter *Optimizers* (`book/optimizers.md`) of *Training neural networks
    by experiment*.

    You will write four optimizers as real `torch.optim.Optimizer` subclasses that any
    training loop can use (SGD with momentum and Nesterov momentum, Adagrad, RMSprop and
    Adam), check each against torch's own over 50 steps, and race them on MNIST-1D.

    **Rules.** Replace each `raise NotImplementedError()` with your code. Do not use
    `torch.optim.SGD`, `Adagrad`, `RMSprop`, `Adam`, `AdamW`, their functional forms
    (`torch.optim.sgd.sgd`, `torch.optim._functional`, ...) or `nnlab.optim`: a task that
    delegates to them earns no credit. Tensor arithmetic (`add_`, `mul_`, `addcmul_`,
    `addcdiv_`, `sqrt`) is yours to use. The cells below each task run some of the tests;
    more run when your notebook is graded.
    """),
    locked_code("""
    import torch
    import torch._dynamo  # torch's optimizers load it on first use (about 800 modules): load it here, before the tests
    from torch import nn
    """, "imports"),
    md("""
    ## 1. SGD with momentum

    `SGD(params, lr, momentum=0.0, nesterov=False, weight_decay=0.0)` updates each parameter
    $w$ with gradient $g$ (plus $\\lambda w$ when `weight_decay` $= \\lambda$):

    - without momentum: $w \\leftarrow w - \\eta g$;
    - with momentum $\\mu$: a buffer $b \\leftarrow \\mu b + g$ (on the first step $b = g$),
      then $w \\leftarrow w - \\eta b$, or with `nesterov=True` $w \\leftarrow w - \\eta (g + \\mu b)$.

    Invalid: `lr < 0`, `momentum < 0`, `weight_decay < 0`, and `nesterov=True` without a
    positive momentum.
    """ + DEFINE_NOTE),
    solution("SGD", """
    class SGD(torch.optim.Optimizer):
        \"\"\"SGD with optional (Nesterov) momentum and L2 weight decay; equals torch.optim.SGD with dampening 0.\"\"\"

        def __init__(self, params, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
            ### BEGIN SOLUTION
            for name, value in (("lr", lr), ("momentum", momentum), ("weight_decay", weight_decay)):
                if value < 0:
                    raise ValueError(f"{name} must be >= 0, got {value}")
            if nesterov and momentum <= 0:
                raise ValueError("nesterov=True needs a momentum > 0")
            super().__init__(params, dict(lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay))
            ### END SOLUTION

        @torch.no_grad()
        def step(self, closure=None):
            ### BEGIN SOLUTION
            loss = None
            if closure is not None:
                with torch.enable_grad():
                    loss = closure()
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    g = p.grad.add(p, alpha=group["weight_decay"]) if group["weight_decay"] else p.grad
                    if group["momentum"]:
                        state = self.state[p]
                        if "momentum_buffer" not in state:
                            state["momentum_buffer"] = g.clone()
                        else:
                            state["momentum_buffer"].mul_(group["momentum"]).add_(g)
                        buffer = state["momentum_buffer"]
                        g = g.add(buffer, alpha=group["momentum"]) if group["nesterov"] else buffer
                    p.add_(g, alpha=-group["lr"])
            return loss
            ### END SOLUTION
    """),
    tests("SGD_visible", 1, setup=GUARD, body="""
    two_steps_by_hand("SGD", SGD, torch.optim.SGD, dict(lr=0.1, momentum=0.9))
    against_torch("SGD", SGD, torch.optim.SGD, dict(lr=0.1, momentum=0.9), hint="the buffer starts as the first gradient; then b = momentum * b + g and w -= lr * b")
    kwargs = dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.05)
    against_torch("SGD", SGD, torch.optim.SGD, kwargs, hint="Nesterov steps along g + momentum * b; weight decay adds weight_decay * w to the gradient first")
    groups = [dict(lr=0.1, momentum=0.0), dict(lr=0.02, momentum=0.9)]
    against_torch("SGD", SGD, torch.optim.SGD, dict(lr=0.3), groups=groups, hint="read lr and momentum from each group, not from the defaults")
    with no_delegation("SGD", SGD):
        for kwargs in (dict(lr=-1.0), dict(lr=0.1, nesterov=True)):
            assert_rejects("SGD", SGD, kwargs)
    print("SGD: visible tests passed")
    """),
    hidden("SGD_hidden", 3, GUARD, """
    settings = [dict(lr=0.05), dict(lr=0.05, momentum=0.8, nesterov=True), dict(lr=0.1, momentum=0.5, weight_decay=0.01),
                dict(lr=0.03, momentum=0.9, nesterov=True, weight_decay=0.1)]
    for kwargs in settings:
        against_torch("SGD", SGD, torch.optim.SGD, kwargs, hint="Nesterov steps along g + momentum * b; weight decay adds weight_decay * w to the gradient first")
    groups = [dict(lr=0.2, momentum=0.0), dict(lr=0.01, momentum=0.9)]
    against_torch("SGD", SGD, torch.optim.SGD, dict(lr=0.5), groups=groups, hint="read lr and momentum from each group, not from the defaults")
    """),
    hidden("SGD_validation", 1, GUARD, """
    g.assert_no_delegation(SGD.__init__, FORBIDDEN, "SGD")
    with no_delegation("SGD", SGD):
        for kwargs in (dict(lr=-0.1), dict(lr=0.1, momentum=-0.5), dict(lr=0.1, weight_decay=-1.0), dict(lr=0.1, nesterov=True)):
            assert_rejects("SGD", SGD, kwargs)
    """),
    md("""
    ## 2. Adagrad

    `Adagrad(params, lr=1e-2, eps=1e-10)` accumulates the squared gradients of each
    coordinate, $s \\leftarrow s + g^2$ (starting from $s = 0$), and steps
    $w \\leftarrow w - \\eta\\, g / (\\sqrt{s} + \\epsilon)$: coordinates that have seen large
    gradients take small steps. Invalid: `lr < 0`, `eps < 0`.
    """ + DEFINE_NOTE),
    solution("Adagrad", """
    class Adagrad(torch.optim.Optimizer):
        \"\"\"Adagrad: w -= lr * g / (sqrt(sum of g^2) + eps), per coordinate.\"\"\"

        def __init__(self, params, lr=1e-2, eps=1e-10):
            ### BEGIN SOLUTION
            for name, value in (("lr", lr), ("eps", eps)):
                if value < 0:
                    raise ValueError(f"{name} must be >= 0, got {value}")
            super().__init__(params, dict(lr=lr, eps=eps))
            ### END SOLUTION

        @torch.no_grad()
        def step(self, closure=None):
            ### BEGIN SOLUTION
            loss = None
            if closure is not None:
                with torch.enable_grad():
                    loss = closure()
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    state = self.state[p]
                    if "sum" not in state:
                        state["sum"] = torch.zeros_like(p)
                    state["sum"].addcmul_(p.grad, p.grad)
                    p.addcdiv_(p.grad, state["sum"].sqrt().add_(group["eps"]), value=-group["lr"])
            return loss
            ### END SOLUTION
    """),
    tests("Adagrad_visible", 1, setup=GUARD, body="""
    two_steps_by_hand("Adagrad", Adagrad, torch.optim.Adagrad, dict(lr=0.1))
    against_torch("Adagrad", Adagrad, torch.optim.Adagrad, dict(lr=0.1), hint="s accumulates g * g from zero; eps is added AFTER the square root")
    groups = [dict(lr=0.2), dict(lr=0.05)]
    against_torch("Adagrad", Adagrad, torch.optim.Adagrad, None, groups=groups, hint="read lr from each group")
    with no_delegation("Adagrad", Adagrad):
        assert_rejects("Adagrad", Adagrad, dict(lr=-1.0))
    print("Adagrad: visible tests passed")
    """),
    hidden("Adagrad_hidden", 2, GUARD, """
    for kwargs in (dict(lr=0.5, eps=1e-6), dict(lr=0.01)):
        against_torch("Adagrad", Adagrad, torch.optim.Adagrad, kwargs)
    groups = [dict(lr=0.3), dict(lr=0.02)]
    against_torch("Adagrad", Adagrad, torch.optim.Adagrad, None, groups=groups, hint="read lr from each group")
    """),
    hidden("Adagrad_validation", 1, GUARD, """
    g.assert_no_delegation(Adagrad.__init__, FORBIDDEN, "Adagrad")
    with no_delegation("Adagrad", Adagrad):
        for kwargs in (dict(lr=-0.1), dict(eps=-1e-8)):
            assert_rejects("Adagrad", Adagrad, kwargs)
    """),
    md("""
    ## 3. RMSprop

    `RMSprop(params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0)` replaces Adagrad's
    sum by an exponential moving average, $s \\leftarrow \\alpha s + (1 - \\alpha) g^2$ (from
    $s = 0$), and steps $w \\leftarrow w - \\eta\\, g / (\\sqrt{s} + \\epsilon)$, with $g$ including
    $\\lambda w$ when `weight_decay` $= \\lambda$. Invalid, as `torch.optim.RMSprop` checks them:
    `lr < 0`, `alpha < 0`, `eps < 0`, `weight_decay < 0` (an `alpha` of 1 or more is allowed,
    as in torch, though it makes no sense: no test uses one).
    """ + DEFINE_NOTE),
    solution("RMSprop", """
    class RMSprop(torch.optim.Optimizer):
        \"\"\"RMSprop (not centered, no momentum): w -= lr * g / (sqrt(EMA of g^2) + eps).\"\"\"

        def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0):
            ### BEGIN SOLUTION
            for name, value in (("lr", lr), ("eps", eps), ("weight_decay", weight_decay)):
                if value < 0:
                    raise ValueError(f"{name} must be >= 0, got {value}")
            if alpha < 0:
                raise ValueError(f"alpha must be >= 0, got {alpha}")
            super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay))
            ### END SOLUTION

        @torch.no_grad()
        def step(self, closure=None):
            ### BEGIN SOLUTION
            loss = None
            if closure is not None:
                with torch.enable_grad():
                    loss = closure()
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    g = p.grad.add(p, alpha=group["weight_decay"]) if group["weight_decay"] else p.grad
                    state = self.state[p]
                    if "square_avg" not in state:
                        state["square_avg"] = torch.zeros_like(p)
                    square_avg = state["square_avg"].mul_(group["alpha"]).addcmul_(g, g, value=1 - group["alpha"])
                    p.addcdiv_(g, square_avg.sqrt().add_(group["eps"]), value=-group["lr"])
            return loss
            ### END SOLUTION
    """),
    tests("RMSprop_visible", 1, setup=GUARD, body="""
    two_steps_by_hand("RMSprop", RMSprop, torch.optim.RMSprop, dict(lr=0.01))
    against_torch("RMSprop", RMSprop, torch.optim.RMSprop, dict(lr=0.01), hint="s = alpha * s + (1 - alpha) * g * g, starting from zero")
    kwargs = dict(lr=0.005, alpha=0.95, weight_decay=0.02)
    against_torch("RMSprop", RMSprop, torch.optim.RMSprop, kwargs, hint="weight decay adds weight_decay * w to the gradient before it is squared")
    groups = [dict(lr=0.01, alpha=0.8), dict(lr=0.002)]
    against_torch("RMSprop", RMSprop, torch.optim.RMSprop, None, groups=groups, hint="read lr and alpha from each group")
    with no_delegation("RMSprop", RMSprop):
        assert_rejects("RMSprop", RMSprop, dict(alpha=-0.5))
    print("RMSprop: visible tests passed")
    """),
    hidden("RMSprop_hidden", 2, GUARD, """
    for kwargs in (dict(lr=0.003, alpha=0.9, eps=1e-6), dict(lr=0.01, weight_decay=0.05)):
        against_torch("RMSprop", RMSprop, torch.optim.RMSprop, kwargs, hint="weight decay adds weight_decay * w to the gradient before it is squared")
    groups = [dict(lr=0.02, alpha=0.5), dict(lr=0.001)]
    against_torch("RMSprop", RMSprop, torch.optim.RMSprop, None, groups=groups, hint="read lr and alpha from each group")
    """),
    hidden("RMSprop_validation", 1, GUARD, """
    g.assert_no_delegation(RMSprop.__init__, FORBIDDEN, "RMSprop")
    with no_delegation("RMSprop", RMSprop):
        for kwargs in (dict(lr=-0.1), dict(alpha=-0.1), dict(weight_decay=-1.0), dict(eps=-1e-3)):
            assert_rejects("RMSprop", RMSprop, kwargs)
    """),
    md("""
    ## 4. Adam

    `Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)` keeps two moving
    averages from zero, $m \\leftarrow \\beta_1 m + (1 - \\beta_1) g$ and
    $v \\leftarrow \\beta_2 v + (1 - \\beta_2) g^2$, corrects their bias toward zero at step
    $t = 1, 2, \\dots$ (counted per parameter), $\\hat m = m / (1 - \\beta_1^t)$,
    $\\hat v = v / (1 - \\beta_2^t)$, and steps $w \\leftarrow w - \\eta\\, \\hat m / (\\sqrt{\\hat v} + \\epsilon)$.
    `weight_decay` adds $\\lambda w$ to $g$ (L2, as `torch.optim.Adam`; not AdamW). Invalid:
    `lr < 0`, `eps < 0`, `weight_decay < 0`, a beta outside $[0, 1)$.
    """ + DEFINE_NOTE),
    solution("Adam", """
    class Adam(torch.optim.Optimizer):
        \"\"\"Adam with bias correction and L2 weight decay; equals torch.optim.Adam without amsgrad.\"\"\"

        def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
            ### BEGIN SOLUTION
            for name, value in (("lr", lr), ("eps", eps), ("weight_decay", weight_decay)):
                if value < 0:
                    raise ValueError(f"{name} must be >= 0, got {value}")
            for i, beta in enumerate(betas):
                if not 0.0 <= beta < 1.0:
                    raise ValueError(f"betas[{i}] must be in [0, 1), got {beta}")
            super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay))
            ### END SOLUTION

        @torch.no_grad()
        def step(self, closure=None):
            ### BEGIN SOLUTION
            loss = None
            if closure is not None:
                with torch.enable_grad():
                    loss = closure()
            for group in self.param_groups:
                beta1, beta2 = group["betas"]
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    g = p.grad.add(p, alpha=group["weight_decay"]) if group["weight_decay"] else p.grad
                    state = self.state[p]
                    if not state:
                        state["step"], state["m"], state["v"] = 0, torch.zeros_like(p), torch.zeros_like(p)
                    state["step"] += 1
                    t = state["step"]
                    state["m"].mul_(beta1).add_(g, alpha=1 - beta1)
                    state["v"].mul_(beta2).addcmul_(g, g, value=1 - beta2)
                    m_hat = state["m"] / (1 - beta1**t)
                    v_hat = state["v"] / (1 - beta2**t)
                    p.addcdiv_(m_hat, v_hat.sqrt().add_(group["eps"]), value=-group["lr"])
            return loss
            ### END SOLUTION
    """),
    tests("Adam_visible", 1, setup=GUARD, body="""
    two_steps_by_hand("Adam", Adam, torch.optim.Adam, dict(lr=0.1))
    against_torch("Adam", Adam, torch.optim.Adam, dict(lr=0.01), hint="divide m by (1 - beta1**t) and v by (1 - beta2**t), with t the number of steps taken so far, starting at 1")
    kwargs = dict(lr=0.02, betas=(0.8, 0.99), weight_decay=0.05)
    against_torch("Adam", Adam, torch.optim.Adam, kwargs, hint="weight decay adds weight_decay * w to the gradient (L2, not AdamW); read the betas you were given")
    groups = [dict(lr=0.02, betas=(0.7, 0.9)), dict(lr=0.005)]
    against_torch("Adam", Adam, torch.optim.Adam, None, groups=groups, hint="read lr and betas from each group")
    with no_delegation("Adam", Adam):
        assert_rejects("Adam", Adam, dict(betas=(0.9, 1.0)))
    print("Adam: visible tests passed")
    """),
    hidden("Adam_hidden", 3, GUARD, """
    for kwargs in (dict(lr=0.05, betas=(0.5, 0.9)), dict(lr=0.003, eps=1e-4, weight_decay=0.1), dict(lr=0.02, betas=(0.0, 0.99))):
        against_torch("Adam", Adam, torch.optim.Adam, kwargs, hint="eps is added to the square root of v-hat; weight decay adds weight_decay * w to the gradient (L2, not AdamW)")
    groups = [dict(lr=0.05, betas=(0.8, 0.95)), dict(lr=0.001)]
    against_torch("Adam", Adam, torch.optim.Adam, None, groups=groups, hint="read lr and betas from each group")
    """),
    hidden("Adam_validation", 1, GUARD, """
    g.assert_no_delegation(Adam.__init__, FORBIDDEN, "Adam")
    with no_delegation("Adam", Adam):
        for kwargs in (dict(lr=-0.1), dict(betas=(1.0, 0.999)), dict(betas=(0.9, -0.1)), dict(eps=-1.0)):
            assert_rejects("Adam", Adam, kwargs)
    """),
    md("""
    ## 5. Experiment: the race

    The cell below trains the same MLP on MNIST-1D with each of *your* optimizers at a
    learning rate commonly used with it, for the same 8 epochs, and prints the final
    training loss and validation accuracy. Predict the order before running it (about 10
    seconds).
    """),
    prediction('the order of the six contenders by final training loss'),
    code("""
    import nnlab
    from nnlab import plots

    mnist = nnlab.load_mnist1d()
    train, val, test = mnist.loaders(batch_size=64)
    contenders = {
        "SGD, lr 0.05": lambda params: SGD(params, lr=0.05),
        "SGD + momentum 0.9, lr 0.05": lambda params: SGD(params, lr=0.05, momentum=0.9),
        "SGD + Nesterov 0.9, lr 0.05": lambda params: SGD(params, lr=0.05, momentum=0.9, nesterov=True),
        "Adagrad, lr 0.05": lambda params: Adagrad(params, lr=0.05),
        "RMSprop, lr 0.001": lambda params: RMSprop(params, lr=0.001),
        "Adam, lr 0.001": lambda params: Adam(params, lr=0.001),
    }
    curves = {}
    for name, make_optimizer in contenders.items():
        torch.manual_seed(0)
        model = nnlab.mlp(40, 10, width=256, depth=2)
        history = nnlab.fit(model, train, val, epochs=8, optimizer=make_optimizer, progress=False)
        curves[name] = ([e + 1 for e in history.epoch], history.train_loss)
        print(f"{name:>28}: training loss {history.train_loss[-1]:.3f}, validation accuracy {history.val_acc[-1]:.1%}")
    plots.plot_curves(curves, "epoch", "training loss", logy=True, marker="o");
    """),
    md("""
    ## 6. Hypothesis and verdict

    What did you predict, and what did you measure? Use your numbers to judge the rule of
    thumb "Adam is a good default". Then explain in two or three sentences what goes wrong in
    Adam's first steps without bias correction (compute the size of the first step for
    $\\beta_1 = 0.9$, $\\beta_2 = 0.999$).
    """),
    manual("hypothesis_verdict", 2, """
    *Model answer.* (One run; yours are similar.) Plain SGD at 0.05 is by far the slowest
    (training loss about 1.6, validation about 35 %). Momentum halves the loss in the same
    8 epochs, Nesterov a little more. The adaptive methods land in the same group: Adam and
    RMSprop at their usual 1e-3 reach a loss near 0.9 and about 55 % validation accuracy
    without any search, and Adagrad at 0.05 is the best of this short race. So "Adam is a
    good default" holds in the sense that its usual rate works out of the box, while plain
    SGD's rate needs searching; it does not mean Adam wins: here momentum SGD and Adagrad
    match or beat it. Without bias correction, after the first step
    $m = 0.1\\,g$ and $v = 0.001\\,g^2$, so $m/\\sqrt{v} = 0.1 g / (0.0316 |g|) \\approx 3.16$ in
    every coordinate: a step about 3 times the intended $\\eta$. The moving averages start at
    zero, and the corrections $1/(1 - \\beta^t)$ undo that bias exactly, making the first step
    $\\eta\\,\\mathrm{sign}(g)$ (up to $\\epsilon$).
    """, rubric=(
        'plain SGD slowest (loss about 1.6, validation about 35 %); momentum and Nesterov about halve the loss; Adam and RMSprop at 1e-3 near 0.9 and about 55 %; Adagrad at 0.05 among the best. One seed: close pairs are ties.',
        'without bias correction, after one step m = 0.1 g and v = 0.001 g², so m/√v ≈ 3.16: a first step about three times the intended η; dividing by 1 − βᵗ undoes the zero start and makes the first step η·sign(g).')),
]

cells += challenge('adamw', 'AdamW', """
Loshchilov & Hutter (2019) decouple weight decay from Adam's adaptive step: instead of
adding $\\lambda w$ to the gradient (which Adam then divides by $\\sqrt{\\hat v}$), AdamW shrinks
the weights directly, $w \\leftarrow w - \\eta\\lambda w$, before the usual Adam step. Write
`AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2)` as a subclass of
your `Adam` (created with no weight decay of its own): shrink the weights, then let Adam step. Not graded; the next cell runs it and
`torch.optim.AdamW` for 50 steps on the same network and compares the weights.
""", """
class AdamW(Adam):
    # your Adam, with its weight decay taken out of the gradient and applied to the weights

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=0.0)
        for group in self.param_groups:
            group["decoupled_weight_decay"] = weight_decay

    def step(self, closure=None):
        ### BEGIN SOLUTION
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()  # the gradient at the weights before their decay, as torch's AdamW
        with torch.no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        p.mul_(1 - group["lr"] * group["decoupled_weight_decay"])
        super().step()
        return loss
        ### END SOLUTION
""", """
from nnlab.grading import optimizer_run
settings = dict(lr=0.01, weight_decay=0.1)
ours = optimizer_run(lambda params: AdamW(params, **settings), seed=3)
theirs = optimizer_run(lambda params: torch.optim.AdamW(params, **settings), seed=3)
for a, b in zip(ours["parameters"], theirs["parameters"]):
    assert torch.allclose(a, b, rtol=1e-6, atol=1e-10), "after 50 steps the weights differ from torch.optim.AdamW's"
""")

NOTEBOOK = notebook(cells)
