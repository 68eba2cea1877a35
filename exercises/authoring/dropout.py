from nbtools import challenge, code, hidden, locked_code, manual, md, notebook, prediction, solution, tests

GUARD = """\
import math

from nnlab import grading as g
import nnlab.dropout
TORCH_BUILTINS = [torch, torch.nn.functional]  # their dropout is what this assignment asks you to write
BUILTIN_NAMES = ["dropout", "dropout_", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_dropout"]
REFERENCE_DROPOUT = nnlab.dropout.dropout  # lent to the Dropout module: each task is graded on its own
FORBIDDEN_FUNCTIONS = g.forbidden_functions([nnlab.dropout]) + [torch.nn.functional.dropout, torch.dropout]


def no_delegation(task):
    return g.forbid(TORCH_BUILTINS, task, names=BUILTIN_NAMES)


def check_rate(y, x, p, call):
    # each element is 0 with probability p (6 standard errors of margin), survivors are x / (1 - p)
    dropped = (y == 0).double().mean().item()
    margin = 6 * math.sqrt(p * (1 - p) / y.numel())
    assert abs(dropped - p) <= margin, (
        f"{call} zeroed {dropped:.4f} of the elements; expected {p} ± {margin:.4f}: p is the probability of DROPPING an element")
    kept = y != 0
    g.assert_tensor_close(y[kept], x[kept] / (1 - p), f"the kept elements of {call}", rtol=1e-6, atol=1e-9,
                          hint="inverted dropout divides the kept elements by 1 - p, so that the expected value stays x")
"""

cells = [
    md("""
    # Exercise: dropout

    Companion to the chapter *Dropout* (`book/dropout.md`) of *Training neural networks by
    experiment*.

    You will write inverted dropout as a function and as a layer, check that it keeps the
    expected value of every unit, and then measure how the dropout rate changes the gap
    between training and validation accuracy of an MLP that overfits.

    **Rules.** Replace each `raise NotImplementedError()` with your code. Do not call
    `torch.nn.functional.dropout`, `torch.dropout`, `torch.nn.Dropout` (which calls them)
    or `nnlab.dropout`: a task that delegates to them earns no credit. `torch.rand`,
    `torch.bernoulli` and comparisons are yours to use. The cells below each task run some
    of the tests; more run when your notebook is graded.
    """),
    locked_code("""
    import torch
    from torch import nn
    """, "imports"),
    md("""
    ## 1. The function

    Write `dropout(x, p, training, generator=None)`:

    - in evaluation (`training=False`), or for `p = 0`: return `x` unchanged;
    - for `p = 1`: return zeros of `x`'s shape;
    - otherwise each element, independently, becomes 0 with probability `p` and
      `x / (1 - p)` otherwise (*inverted* dropout: the expected value of every element stays
      `x`);
    - `p` outside $[0, 1]$: raise `ValueError`.

    Draw the random numbers from `generator` when one is given (for example
    `torch.rand(x.shape, generator=generator)`), so that a seeded generator reproduces the
    same mask. Return a new tensor of `x`'s shape and dtype (a float32 `x` gives a float32
    result), differentiable with respect to `x`; leave `x` as it was.
    """),
    solution("dropout", """
    def dropout(x, p, training, generator=None):
        \"\"\"Inverted dropout: each element is 0 with probability p, else x / (1 - p).\"\"\"
        ### BEGIN SOLUTION
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be in [0, 1], got {p}")
        if not training or p == 0.0:
            return x
        if p == 1.0:
            return torch.zeros_like(x)
        keep = torch.rand(x.shape, generator=generator, device=x.device) >= p
        return x * keep.to(x.dtype) / (1.0 - p)
        ### END SOLUTION
    """),
    tests("dropout_visible", 1, setup=GUARD, body="""
    x = torch.ones(100_000)
    with no_delegation("dropout"), g.forbid([nnlab.dropout], "dropout"):
        evaluated = dropout(x, 0.5, training=False)
        y = dropout(x, 0.5, training=True, generator=torch.Generator().manual_seed(0))
        everything = dropout(x, 1.0, training=True)
    g.assert_tensor_close(evaluated, x, "dropout(x, 0.5, training=False)", hint="in evaluation mode return x unchanged")
    assert y.dtype == x.dtype and y.shape == x.shape, (
        f"dropout(torch.ones(100000), 0.5, training=True) returned {y.dtype} {tuple(y.shape)}; expected {x.dtype} {tuple(x.shape)}: "
        "a float mask multiplies in its own dtype (use mask.to(x.dtype) or torch.rand(..., dtype=x.dtype))")
    check_rate(y, x, 0.5, "dropout(torch.ones(100000), 0.5, training=True)")
    g.assert_tensor_close(x, torch.ones(100_000), "x after dropout(x, 0.5, training=True)", hint="return a new tensor; do not modify x")
    g.assert_tensor_close(everything, torch.zeros_like(x), "dropout(x, 1.0, training=True)")
    with no_delegation("dropout"), g.forbid([nnlab.dropout], "dropout"):
        first = dropout(x[:1000], 0.3, True, generator=torch.Generator().manual_seed(5))
        torch.manual_seed(123)  # the global generator moves; the given one does not
        second = dropout(x[:1000], 0.3, True, generator=torch.Generator().manual_seed(5))
        assert torch.equal(first, second), (
            "dropout with two generators seeded alike gave different masks: draw the random numbers from `generator`")
        g.assert_raises(ValueError, dropout, x[:3], 1.2, True, call="dropout(x, 1.2, True)",
                        hint="p is a probability: outside [0, 1] raise ValueError")
    print("dropout: visible tests passed")
    """),
    hidden("dropout_hidden", 3, GUARD, """
    g.assert_no_delegation(dropout, FORBIDDEN_FUNCTIONS, "dropout")
    rng = torch.Generator().manual_seed(2401)
    with no_delegation("dropout"), g.forbid([nnlab.dropout], "dropout"):
        for p, shape in [(0.2, (400, 250)), (0.7, (50, 40, 30))]:
            x = torch.randn(shape, generator=rng, dtype=torch.float64)
            before = x.clone()
            call = f"dropout(x of shape {shape}, {p}, training=True)"
            y = dropout(x, p, training=True, generator=torch.Generator().manual_seed(7))
            g.assert_tensor_close(x, before, f"x after {call}", hint="return a new tensor; do not modify x in place")
            assert y.dtype == x.dtype and y.shape == x.shape, f"{call} returned {y.dtype} {tuple(y.shape)}; expected {x.dtype} {shape}"
            check_rate(y, x, p, call)
            rows_all_zero = (y.reshape(shape[0], -1) == 0).all(dim=1).double().mean().item()
            assert rows_all_zero < 0.01, f"{call} zeroed whole rows; each ELEMENT must be dropped independently"
        x = torch.randn(1000, generator=rng)
        torch.manual_seed(1)
        first = dropout(x, 0.3, True, generator=torch.Generator().manual_seed(11))
        torch.manual_seed(2)
        second = dropout(x, 0.3, True, generator=torch.Generator().manual_seed(11))
        assert torch.equal(first, second), (
            "dropout with two generators seeded alike gave different masks: draw the random numbers from `generator`")
        g.assert_tensor_close(dropout(x, 0.0, True), x, "dropout(x, 0.0, training=True)", hint="p = 0 drops nothing")
        x_grad = torch.randn(100, generator=rng, requires_grad=True)
        y = dropout(x_grad, 0.5, True, generator=torch.Generator().manual_seed(3))
        assert y.dtype == x_grad.dtype, f"dropout of a {x_grad.dtype} tensor returned {y.dtype}; keep the input's dtype"
        y.sum().backward()
        expected_grad = (y.detach() != 0).float() * 2.0
        g.assert_tensor_close(x_grad.grad, expected_grad, "the gradient of dropout(x, 0.5, True).sum()",
                              hint="build the output from x with differentiable operations (x * mask / (1 - p))")
    """),
    hidden("dropout_validation", 1, GUARD, """
    g.assert_no_delegation(dropout, FORBIDDEN_FUNCTIONS, "dropout")
    with no_delegation("dropout"), g.forbid([nnlab.dropout], "dropout"):
        for bad in (-0.1, 1.5):
            g.assert_raises(ValueError, dropout, torch.ones(3), bad, True, call=f"dropout(x, {bad}, True)",
                            hint="p is a probability: outside [0, 1] raise ValueError")
    """),
    md("""
    ## 2. The module

    Write `Dropout(nn.Module)` with `__init__(self, p=0.5)` storing `self.p`, and
    `forward(x)` applying dropout according to `self.training` (which `model.train()` and
    `model.eval()` switch). You may call your `dropout` (while this task is graded it is
    replaced by a correct one, so each task earns its points on its own).
    """),
    solution("Dropout", """
    class Dropout(nn.Module):
        \"\"\"Inverted dropout as a layer, active only in training mode.\"\"\"

        def __init__(self, p=0.5):
            super().__init__()
            ### BEGIN SOLUTION
            self.p = p
            ### END SOLUTION

        def forward(self, x):
            ### BEGIN SOLUTION
            return dropout(x, self.p, self.training)
            ### END SOLUTION
    """),
    tests("Dropout_visible", 1, setup=GUARD, body="""
    with no_delegation("Dropout"), g.substitute(globals(), dropout=REFERENCE_DROPOUT):
        layer = Dropout()
        x = torch.ones(100_000)
        torch.manual_seed(0)
        y = layer(x)
        layer.eval()
        evaluated = layer(x)
    assert layer.p == 0.5, f"Dropout().p is {layer.p!r}; expected the default 0.5"
    check_rate(y, x, 0.5, "Dropout()(torch.ones(100000)) in training mode")
    g.assert_tensor_close(evaluated, x, "Dropout() in evaluation mode", hint="use self.training: model.eval() turns dropout off")
    with no_delegation("Dropout"), g.substitute(globals(), dropout=REFERENCE_DROPOUT):
        layer = Dropout(0.2)
        assert layer.p == 0.2, f"Dropout(0.2).p is {layer.p!r}; store the rate you are given"
        assert not list(layer.parameters()), "Dropout must not have trainable parameters"
        layer.eval()
        layer.train()
        check_rate(layer(x), x, 0.2, "Dropout(0.2) after .eval() then .train()")
    print("Dropout: visible tests passed")
    """),
    hidden("Dropout_hidden", 2, GUARD, """
    g.assert_no_delegation(Dropout.forward, FORBIDDEN_FUNCTIONS, "Dropout")
    with no_delegation("Dropout"), g.substitute(globals(), dropout=REFERENCE_DROPOUT):
        net = nn.Sequential(nn.Identity(), Dropout(0.3))
        assert not list(net.parameters()), "Dropout must not have trainable parameters"
        torch.manual_seed(2402)
        x = torch.randn(300, 300)
        y = net(x)
        check_rate(y, x, 0.3, "Dropout(0.3) inside nn.Sequential, training mode")
        net.eval()
        g.assert_tensor_close(net(x), x, "Dropout(0.3) after model.eval()")
        net.train()
        assert (net(x) == 0).any(), "Dropout(0.3) after model.train() dropped nothing"
    """),
    md("""
    ## 3. Experiment: the rate against the generalization gap

    The cell below trains a 3-layer MLP of 512 units (550,000 parameters for 3,600 training
    signals) with *your* `Dropout` after every hidden layer, for rates 0, 0.3 and 0.6, and
    prints the final training accuracy, the validation accuracy and their gap. Predict the
    three gaps before running it (about 15 seconds).
    """),
    prediction('the gap between training and validation accuracy for p = 0, 0.3 and 0.6'),
    code("""
    import nnlab
    from nnlab import plots

    mnist = nnlab.load_mnist1d()
    train, val, test = mnist.loaders(batch_size=64)
    curves = {}
    for p in (0.0, 0.3, 0.6):
        torch.manual_seed(0)
        layers, width = [], 40
        for _ in range(3):
            layers += [nn.Linear(width, 512), nn.ReLU(), Dropout(p)]
            width = 512
        model = nn.Sequential(*layers, nn.Linear(width, 10))
        history = nnlab.fit(model, train, val, epochs=15, lr=1e-3, progress=False)
        epochs = [e + 1 for e in history.epoch]
        curves[f"p = {p}, training"] = (epochs, history.train_acc)
        curves[f"p = {p}, validation"] = (epochs, history.val_acc)
        gap = history.train_acc[-1] - history.val_acc[-1]
        print(f"p = {p}: training accuracy {history.train_acc[-1]:.1%}, validation {history.val_acc[-1]:.1%}, gap {gap:.1%}")
    plots.plot_curves(curves, "epoch", "accuracy");
    """),
    md("""
    ## 4. Hypothesis and verdict

    What did you predict, and what did you measure? Use the numbers to judge the rule of
    thumb "increasing the dropout rate decreases overfitting". Then explain why inverted
    dropout needs no change at test time, and what would go wrong at test time if you
    forgot to divide by $1 - p$ during training.
    """),
    manual("hypothesis_verdict", 2, """
    *Model answer.* Without dropout the wide MLP fits its training set almost perfectly
    (about 98 %) while validation accuracy stays near 70 %: a gap of nearly 30 points.
    Dropout 0.3 shrinks the gap to about 6 points at about the same validation accuracy,
    and 0.6 removes it entirely, but by underfitting: training accuracy falls to about 50 %
    and validation accuracy drops too. The rule "a higher rate decreases overfitting" is
    confirmed; the best rate trades the gap against underfitting, here about 0.3.
    Inverted dropout divides the kept units by $1 - p$ during training, so each unit's
    expected value is the same as with all units on; at test time the network is used as
    is. Without the division, the next layer would be trained on inputs that are on average
    $(1 - p)$ times smaller than at test time, and every pre-activation would be shifted at
    test time unless one multiplied by $1 - p$ there.
    """, rubric=(
        'p = 0: training near 98 %, validation near 70 % (a gap of 25-30 points); p = 0.3: a gap of a few points at about the same validation accuracy; p = 0.6: no gap, by underfitting (training near 50 %).',
        "inverted dropout divides the kept units by 1 − p in training, so each unit's expected value matches the network used whole at test time; without it the next layer would see inputs (1 − p) times smaller in training than at test.")),
]

cells += challenge('alpha_dropout', 'alpha dropout', """
Klambauer et al. (2017) keep SELU networks self-normalizing with *alpha dropout*: dropped
units are set to SELU's negative saturation value $\\alpha' = -\\lambda\\alpha \\approx -1.7581$
instead of 0, then an affine map $a x + b$ restores mean 0 and variance 1, with
$a = \\left((1-p)(1 + p\\,\\alpha'^2)\\right)^{-1/2}$ and $b = -a\\,p\\,\\alpha'$. Write
`alpha_dropout(x, p, training)` (identity when not training). Not graded; the next cell
checks that a standard-normal input keeps mean 0 and standard deviation 1, and that
evaluation mode is the identity.
""", """
def alpha_dropout(x, p, training):
    ### BEGIN SOLUTION
    if not training or p == 0:
        return x
    alpha_prime = -1.0507009873554805 * 1.6732632423543772
    keep = (torch.rand_like(x) >= p).to(x.dtype)
    a = ((1 - p) * (1 + p * alpha_prime**2)) ** -0.5
    b = -a * p * alpha_prime
    return a * (x * keep + alpha_prime * (1 - keep)) + b
    ### END SOLUTION
""", """
torch.manual_seed(0)
x = torch.randn(200_000, dtype=torch.float64)
for p in (0.1, 0.3):
    y = alpha_dropout(x, p, training=True)
    assert abs(y.mean().item()) < 0.02 and abs(y.std().item() - 1) < 0.02, f"p={p}: mean {y.mean():.3f}, std {y.std():.3f}; expected 0 and 1"
    assert (y == torch.mode(y).values).double().mean().item() > p - 0.01, "dropped units should all take the same value"
assert torch.equal(alpha_dropout(x, 0.3, training=False), x), "evaluation mode must return x unchanged"
""")

NOTEBOOK = notebook(cells)
