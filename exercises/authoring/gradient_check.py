from nbtools import challenge, code, hidden, locked_code, manual, md, notebook, prediction, solution, tests

GUARD = """\
import contextlib
import math
import sys
import types

from nnlab import grading as g
import nnlab.gradcheck
from nnlab.gradcheck import GradientScale
TORCH_CHECKERS = sys.modules["torch.autograd.gradcheck"]  # gradcheck, gradgradcheck, get_numerical_jacobian, ...
REFERENCE_NAMES = ["numerical_gradient", "relative_error", "check_gradient", "linear_backward", "softmax_cross_entropy",
                   "batchnorm_backward"]


def lend(function):
    # The reference, bound to a copy of its module's names: it keeps working while the module is forbidden.
    return types.FunctionType(function.__code__, dict(vars(nnlab.gradcheck)), function.__name__, function.__defaults__)


REFERENCES = {name: lend(getattr(nnlab.gradcheck, name)) for name in ("numerical_gradient", "relative_error")}
FORBIDDEN_FUNCTIONS = ([getattr(nnlab.gradcheck, name) for name in REFERENCE_NAMES] + g.forbidden_functions([TORCH_CHECKERS])
                       + [torch.autograd.gradcheck, torch.autograd.gradgradcheck])


def no_delegation(task, autograd=False):
    # autograd=True also forbids autograd itself: those tasks compute a derivative without it
    stack = contextlib.ExitStack()
    stack.enter_context(g.forbid([nnlab.gradcheck], task, names=REFERENCE_NAMES))
    stack.enter_context(g.forbid([TORCH_CHECKERS], task))
    stack.enter_context(g.forbid([torch.autograd], task, names=["gradcheck", "gradgradcheck"] + (["grad", "backward"] if autograd else [])))
    if autograd:
        stack.enter_context(g.forbid([torch.nn.functional], task, names=["cross_entropy", "nll_loss"]))
    return stack


def scalar_network(features, seed, scale=None):
    # Linear -> Tanh -> Linear(., 1) in float64: a smooth scalar function; a last GradientScale(scale) makes its backward wrong
    torch.manual_seed(seed)
    layers = [nn.Linear(features, 6), nn.Tanh(), nn.Linear(6, 1)] + ([GradientScale(scale)] if scale is not None else [])
    return nn.Sequential(*layers).double()


def assert_float(value, expected, call, rel_tol=1e-6, hint=""):
    assert isinstance(value, float), f"{call} returned {type(value).__name__}; expected a Python float (use float(...) or .item())"
    assert math.isclose(value, expected, rel_tol=rel_tol, abs_tol=1e-15), f"{call} returned {value:.6g}; expected {expected:.6g}. {hint}"
"""

cells = [
    md("""
    # Exercise: gradient checking

    Companion to the chapter *Gradient checking* (`book/gradient_checking.md`) of *Training
    neural networks by experiment*.

    Every new layer, loss or hand-written backward pass can be wrong in a way training does
    not reveal: the network still learns, only worse. The cure is old and cheap: compare the
    gradient with a numerical derivative. You will write the numerical gradient, the
    relative error that compares two gradients, and a checker; measure how the step size
    decides the numerical error; then write the backward passes of a linear layer and of
    softmax cross-entropy by hand, and check them.

    **Rules.** Replace each `raise NotImplementedError()` with your code. Do not call
    `torch.autograd.gradcheck`, `gradgradcheck` or anything of `torch.autograd.gradcheck`,
    or `nnlab.gradcheck`: a task that delegates to them earns no credit. In
    `numerical_gradient`, `linear_backward` and `softmax_cross_entropy` do not use autograd
    either (`torch.autograd.grad`, `.backward()`), nor `torch.nn.functional.cross_entropy` or
    `nll_loss`: the point of those tasks is a derivative computed without it. The cells below
    each task run some of the tests; more run when your notebook is graded.
    """),
    locked_code("""
    import math

    import torch
    from torch import nn
    """, "imports"),
    md("""
    ## 1. The numerical gradient

    For a scalar function $f$ of a tensor $x$, the centred difference approximates each
    partial derivative:
    $$\\frac{\\partial f}{\\partial x_i} \\approx \\frac{f(x + h e_i) - f(x - h e_i)}{2h},$$
    where $e_i$ is 1 at position $i$ and 0 elsewhere. Its error is of order $h^2$ (the
    one-sided $(f(x + h e_i) - f(x))/h$ is only of order $h$).

    Write `numerical_gradient(f, x, h=1e-5)`:

    - it returns a tensor of `x`'s shape and dtype whose element $i$ is the centred difference
      above, with the `h` given (with `h = 0.1` the answer is the centred difference, which
      differs from the exact derivative);
    - `f(x)` returns a scalar: a tensor with one element, or a Python float;
    - `x` may have any shape; you may change it in place while `f` runs (that is the usual way:
      `x.view(-1)[i]` is element $i$), but afterwards it must hold **exactly** its old values
      (store each value and put it back: adding $h$ and subtracting it again can change the last bit);
    - `h` must be positive: otherwise raise `ValueError`.
    """),
    solution("numerical_gradient", """
    def numerical_gradient(f, x, h=1e-5):
        \"\"\"Centred differences of the scalar function f at x: a tensor of x's shape.\"\"\"
        ### BEGIN SOLUTION
        if not h > 0:
            raise ValueError(f"h must be positive, got {h}")
        gradient = torch.zeros_like(x)
        flat, out = x.detach().view(-1), gradient.view(-1)
        with torch.no_grad():
            for i in range(flat.numel()):
                original = flat[i].item()
                flat[i] = original + h
                above = float(f(x))
                flat[i] = original - h
                below = float(f(x))
                flat[i] = original
                out[i] = (above - below) / (2 * h)
        return gradient
        ### END SOLUTION
    """),
    tests("numerical_gradient_visible", 1, setup=GUARD, body="""
    x = torch.tensor([1.0, 2.0, -0.5], dtype=torch.float64)
    before = x.clone()
    cube = lambda t: (t ** 3).sum()
    with no_delegation("numerical_gradient", autograd=True):
        result = numerical_gradient(cube, x)
        coarse = numerical_gradient(cube, x, h=0.1)
    g.assert_tensor_close(result, 3 * before ** 2, "numerical_gradient(sum of t**3, [1, 2, -0.5])",
                          hint="the derivative of t**3 is 3 t**2; (f(x + h e_i) - f(x - h e_i)) / (2h) is close to it")
    assert result.dtype == x.dtype, f"numerical_gradient returned {result.dtype} for a {x.dtype} x; keep x's dtype"
    g.assert_tensor_close(coarse, 3 * before ** 2 + 0.1 ** 2, "numerical_gradient(sum of t**3, [1, 2, -0.5], h=0.1)", rtol=1e-9,
                          hint="use the h you are given: for t**3 the centred difference is exactly 3 t**2 + h**2")
    assert torch.equal(x, before), "x changed: put each element back to its stored value after evaluating f"
    matrix = torch.tensor([[0.5, -1.0], [2.0, 0.25]], dtype=torch.float64)
    with no_delegation("numerical_gradient", autograd=True):
        result = numerical_gradient(lambda t: float((t.sin() * t).sum()), matrix)
    g.assert_tensor_close(result, matrix.sin() + matrix * matrix.cos(), "numerical_gradient(sum of sin(t) t as a float, a 2x2 x)",
                          rtol=1e-6, hint="a tensor of x's shape; f may return a Python float")
    with no_delegation("numerical_gradient", autograd=True):
        g.assert_raises(ValueError, numerical_gradient, cube, x, 0.0, call="numerical_gradient(f, x, h=0)",
                        hint="h must be positive: raise ValueError")
    print("numerical_gradient: visible tests passed")
    """),
    hidden("numerical_gradient_hidden", 2, GUARD, """
    g.assert_no_delegation(numerical_gradient, FORBIDDEN_FUNCTIONS + [torch.autograd.grad, torch.autograd.backward], "numerical_gradient")
    rng = torch.Generator().manual_seed(7101)
    for shape, h in [((5,), 1e-5), ((3, 4), 1e-4), ((2, 2, 3), 0.05)]:
        x = torch.randn(shape, generator=rng, dtype=torch.float64)
        before = x.clone()
        f = scalar_network(shape[-1], 7102)
        function = lambda t: f(t).sum()
        call = f"numerical_gradient(a small network summed, x of shape {shape}, h={h})"
        with no_delegation("numerical_gradient", autograd=True):
            result = numerical_gradient(function, x, h)
        assert torch.equal(x, before), f"x changed during {call}: put each element back to its stored value"
        g.assert_tensor_close(result, REFERENCES["numerical_gradient"](function, x.clone(), h), call, rtol=1e-6, atol=1e-9,
                              hint="element i is (f(x + h e_i) - f(x - h e_i)) / (2h) with the h given")
    """),
    hidden("numerical_gradient_validation", 1, GUARD, """
    g.assert_no_delegation(numerical_gradient, FORBIDDEN_FUNCTIONS + [torch.autograd.grad, torch.autograd.backward], "numerical_gradient")
    with no_delegation("numerical_gradient", autograd=True):
        for h in (0.0, -1e-3):
            g.assert_raises(ValueError, numerical_gradient, lambda t: t.sum(), torch.ones(2, dtype=torch.float64), h,
                            call=f"numerical_gradient(f, x, h={h})", hint="h must be positive: raise ValueError")
    """),
    md("""
    ## 2. The relative error

    Two gradients are compared by their **relative** error, which does not depend on the
    scale of the loss: elementwise $|a_i - b_i| / \\max(\\epsilon, |a_i| + |b_i|)$, and the
    worst element decides. $\\epsilon$ keeps two entries that are both zero from dividing by
    zero. Write `relative_error(a, b, eps=1e-8)`, returning that maximum as a Python float.
    `a` and `b` have the same shape. Example: `[1, 2, 0]` against `[1, 1, 0]` gives
    $\\max(0, 1/3, 0) = 1/3$.
    """),
    solution("relative_error", """
    def relative_error(a, b, eps=1e-8):
        \"\"\"max_i |a_i - b_i| / max(eps, |a_i| + |b_i|), as a float.\"\"\"
        ### BEGIN SOLUTION
        a, b = a.double(), b.double()
        return float(((a - b).abs() / (a.abs() + b.abs()).clamp(min=eps)).max())
        ### END SOLUTION
    """),
    tests("relative_error_visible", 1, setup=GUARD, body="""
    with no_delegation("relative_error"):
        third = relative_error(torch.tensor([1.0, 2.0, 0.0]), torch.tensor([1.0, 1.0, 0.0]))
        opposite = relative_error(torch.tensor([0.5, -2.0]), torch.tensor([-0.5, 2.0]))
        tiny = relative_error(torch.tensor([1e-9, 0.0]), torch.tensor([0.0, 0.0]))
        larger_eps = relative_error(torch.tensor([1e-9, 0.0]), torch.tensor([0.0, 0.0]), eps=1e-7)
    assert_float(third, 1 / 3, "relative_error([1, 2, 0], [1, 1, 0])",
                 hint="|2 - 1| / (|2| + |1|) is the worst element; two zeros count as 0 thanks to eps")
    assert_float(opposite, 1.0, "relative_error([0.5, -2], [-0.5, 2])", hint="opposite signs give |2a| / (2|a|) = 1")
    assert_float(tiny, 0.1, "relative_error([1e-9, 0], [0, 0])", hint="1e-9 / max(eps, 1e-9) with eps = 1e-8")
    assert_float(larger_eps, 0.01, "relative_error([1e-9, 0], [0, 0], eps=1e-7)", hint="use the eps you are given")
    print("relative_error: visible tests passed")
    """),
    hidden("relative_error_hidden", 1, GUARD, """
    g.assert_no_delegation(relative_error, FORBIDDEN_FUNCTIONS, "relative_error")
    rng = torch.Generator().manual_seed(7201)
    for shape, size in [((4, 3), 1e-3), ((2, 2, 2), 1e-8), ((7,), 0.5)]:
        a = torch.randn(shape, generator=rng, dtype=torch.float64)
        b = a + size * torch.randn(shape, generator=rng, dtype=torch.float64)
        with no_delegation("relative_error"):
            result = relative_error(a, b)
        assert_float(result, REFERENCES["relative_error"](a, b), f"relative_error(a, b) for tensors of shape {shape}",
                     hint="the maximum over all elements of |a - b| / max(eps, |a| + |b|)")
    with no_delegation("relative_error"):
        result = relative_error(torch.tensor([1e-9, 0.0]), torch.tensor([0.0, 0.0]), 1e-6)
    assert_float(result, 1e-3, "relative_error([1e-9, 0], [0, 0], eps=1e-6)", hint="use the eps you are given")
    """),
    md("""
    ## 3. A gradient checker

    Write `check_gradient(f, x, h=1e-5)`: the relative error between autograd's gradient of
    `f` at `x` and your `numerical_gradient(f, x, h)`, as a float. Take autograd's gradient
    on a **copy** of `x` that requires gradients (`x.detach().clone().requires_grad_()`): the
    caller's `x` must come back as it was, values and `requires_grad` both. `f` returns a
    tensor with one element.

    The tests give it small networks in float64, some ending in a layer whose backward is
    wrong on purpose: `GradientScale(s)` (from `nnlab.gradcheck`) passes its input through
    unchanged but multiplies the gradient by `s`. A correct network must give a relative
    error below 1e-7; `GradientScale(0.5)` gives $|0.5 - 1|/(0.5 + 1) = 1/3$. You may call
    your `numerical_gradient` and `relative_error` (while this task is graded they are
    replaced by correct ones, so each task earns its points on its own).
    """),
    solution("check_gradient", """
    def check_gradient(f, x, h=1e-5):
        \"\"\"Relative error between autograd's gradient of f at x and the numerical gradient.\"\"\"
        ### BEGIN SOLUTION
        point = x.detach().clone().requires_grad_(True)
        (analytic,) = torch.autograd.grad(f(point).sum(), point)
        numeric = numerical_gradient(f, x.detach().clone(), h)
        return relative_error(analytic, numeric)
        ### END SOLUTION
    """),
    tests("check_gradient_visible", 1, setup=GUARD, body="""
    x = torch.tensor([0.3, -1.2, 0.8], dtype=torch.float64)
    with no_delegation("check_gradient"), g.substitute(globals(), **REFERENCES):
        correct = check_gradient(scalar_network(3, 0), x)
        halved = check_gradient(scalar_network(3, 0, scale=0.5), x)
    assert isinstance(correct, float), f"check_gradient returned {type(correct).__name__}; expected a Python float"
    assert correct < 1e-7, (f"check_gradient on a correct float64 network returned {correct:.2e}; expected below 1e-7. "
                            "Hint: compare autograd's gradient with numerical_gradient(f, x, h) using relative_error")
    assert_float(halved, 1 / 3, "check_gradient on a network whose backward halves the gradient", rel_tol=1e-4,
                 hint="|0.5 g - g| / (|0.5 g| + |g|) = 1/3 for every element: the autograd side must use f's own backward")
    assert torch.equal(x, torch.tensor([0.3, -1.2, 0.8], dtype=torch.float64)) and not x.requires_grad, \\
        "check_gradient changed x: take autograd's gradient on x.detach().clone().requires_grad_()"
    print("check_gradient: visible tests passed")
    """),
    hidden("check_gradient_hidden", 2, GUARD, """
    g.assert_no_delegation(check_gradient, FORBIDDEN_FUNCTIONS, "check_gradient")
    rng = torch.Generator().manual_seed(7301)
    for features, scale, h in [(6, None, 1e-5), (5, 2.5, 1e-5), (4, -1.0, 1e-5), (7, None, 1e-6)]:
        x = torch.randn(features, generator=rng, dtype=torch.float64)
        before = x.clone()
        f = scalar_network(features, 7302, scale)
        call = f"check_gradient(a network of {features} inputs" + (f" whose backward scales by {scale}" if scale else "") + f", x, h={h})"
        with no_delegation("check_gradient"), g.substitute(globals(), **REFERENCES):
            result = check_gradient(f, x, h)
        assert torch.equal(x, before) and not x.requires_grad, f"{call} changed x"
        assert isinstance(result, float), f"{call} returned {type(result).__name__}; expected a Python float"
        if scale is None:
            assert result < 1e-7, f"{call} returned {result:.2e} for a correct network; expected below 1e-7"
        else:
            assert_float(result, abs(scale - 1) / (abs(scale) + 1), call, rel_tol=1e-4)
    """),
    md("""
    ## 4. Experiment: which step size?

    A smaller $h$ shrinks the truncation error ($\\propto h^2$), but the two values of $f$ are
    stored with a relative precision $\\varepsilon$ ($2^{-53} \\approx 1.1 \\cdot 10^{-16}$ in
    float64, $2^{-24} \\approx 6 \\cdot 10^{-8}$ in float32), and their difference, divided by
    $2h$, carries an error of order $\\varepsilon |f| / h$. The cell below measures the
    relative error of your numerical gradient of a small network against autograd's, for
    $h$ from $10^{-1}$ to $10^{-12}$, in float64 and float32.
    """),
    prediction("the best h in float64 and in float32, and the smallest relative error each reaches"),
    code("""
    from nnlab import plots

    steps = [10.0 ** -k for k in range(1, 13)]
    errors = {}
    for dtype in (torch.float64, torch.float32):
        torch.manual_seed(0)
        f = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 1)).to(dtype)
        x = torch.randn(5, dtype=dtype)
        point = x.clone().requires_grad_(True)
        (exact,) = torch.autograd.grad(f(point).sum(), point)
        errors[str(dtype)] = (steps, [relative_error(numerical_gradient(f, x, h).double(), exact.double()) for h in steps])
        best = min(range(len(steps)), key=lambda i: errors[str(dtype)][1][i])
        print(f"{dtype}: best h {steps[best]:.0e}, relative error {errors[str(dtype)][1][best]:.1e}")
    plots.plot_curves(errors, "step size h", "relative error against autograd", logx=True, logy=True, marker="o");
    """),
    md("""
    ## 5. Backward passes by hand

    A linear layer computes $\\text{out} = x W^\\top + b$ for a batch $x$ of shape $(N, D)$,
    weights $W$ of shape $(M, D)$ and a bias $b$ of shape $(M,)$. Given the gradient of the
    loss with respect to its output, `dout` of shape $(N, M)$, the chain rule gives
    $$\\frac{\\partial L}{\\partial x} = \\text{dout}\\, W, \\qquad
      \\frac{\\partial L}{\\partial W} = \\text{dout}^\\top x, \\qquad
      \\frac{\\partial L}{\\partial b} = \\textstyle\\sum_n \\text{dout}_n.$$
    Write `linear_backward(dout, x, w)` returning the tuple `(dx, dw, db)`, without autograd.
    """),
    solution("linear_backward", """
    def linear_backward(dout, x, w):
        \"\"\"(dx, dw, db) of out = x @ w.T + b, given dout = dL/dout.\"\"\"
        ### BEGIN SOLUTION
        return dout @ w, dout.T @ x, dout.sum(0)
        ### END SOLUTION
    """),
    tests("linear_backward_visible", 1, setup=GUARD, body="""
    torch.manual_seed(0)
    x, w, b = (torch.randn(s, dtype=torch.float64, requires_grad=True) for s in [(4, 3), (2, 3), (2,)])
    dout = torch.randn(4, 2, dtype=torch.float64)
    torch.nn.functional.linear(x, w, b).backward(dout)  # autograd as the oracle
    with no_delegation("linear_backward", autograd=True):
        result = linear_backward(dout, x.detach(), w.detach())
    assert isinstance(result, tuple) and len(result) == 3, "linear_backward must return a tuple (dx, dw, db)"
    for name, mine, theirs, hint in [("dx", result[0], x.grad, "dx = dout @ w, of x's shape (N, D)"),
                                     ("dw", result[1], w.grad, "dw = dout.T @ x, of w's shape (M, D)"),
                                     ("db", result[2], b.grad, "db sums dout over the batch: shape (M,)")]:
        g.assert_tensor_close(mine, theirs, f"{name} of linear_backward(dout (4, 2), x (4, 3), w (2, 3))", rtol=1e-9, hint=hint)
    print("linear_backward: visible tests passed")
    """),
    hidden("linear_backward_hidden", 2, GUARD, """
    g.assert_no_delegation(linear_backward, FORBIDDEN_FUNCTIONS + [torch.autograd.grad, torch.autograd.backward], "linear_backward")
    rng = torch.Generator().manual_seed(7401)
    for n, d, m in [(7, 5, 3), (1, 4, 1), (3, 1, 6)]:
        x, w, b = (torch.randn(s, generator=rng, dtype=torch.float64).requires_grad_() for s in [(n, d), (m, d), (m,)])
        dout = torch.randn(n, m, generator=rng, dtype=torch.float64)
        torch.nn.functional.linear(x, w, b).backward(dout)
        call = f"linear_backward(dout ({n}, {m}), x ({n}, {d}), w ({m}, {d}))"
        with no_delegation("linear_backward", autograd=True):
            result = linear_backward(dout, x.detach(), w.detach())
        assert isinstance(result, tuple) and len(result) == 3, f"{call} must return a tuple (dx, dw, db)"
        for name, mine, theirs in zip(("dx", "dw", "db"), result, (x.grad, w.grad, b.grad)):
            g.assert_tensor_close(mine, theirs, f"{name} of {call}", rtol=1e-9)
    """),
    md("""
    Softmax cross-entropy averages, over a batch of $N$ examples with logits $z_n$ (one per
    class) and targets $y_n$, the loss $-\\log p_{n, y_n}$ with
    $p_{n,c} = e^{z_{n,c}} / \\sum_k e^{z_{n,k}}$. Its gradient with respect to the logits
    is remarkably simple: $\\partial L / \\partial z_{n,c} = (p_{n,c} - [c = y_n]) / N$.

    Write `softmax_cross_entropy(logits, targets)` returning the tuple `(loss, dlogits)`:
    the mean loss as a 0-dimensional tensor, and the gradient of `logits`' shape. It must
    stay finite for logits in the thousands, where `exp` overflows: subtract each row's
    maximum first (the softmax does not change) and compute
    $\\log p = z - \\max z - \\log \\sum e^{z - \\max z}$.
    """),
    solution("softmax_cross_entropy", """
    def softmax_cross_entropy(logits, targets):
        \"\"\"(mean cross-entropy, its gradient with respect to the logits).\"\"\"
        ### BEGIN SOLUTION
        n = logits.shape[0]
        shifted = logits - logits.max(dim=1, keepdim=True).values
        log_probs = shifted - shifted.exp().sum(dim=1, keepdim=True).log()
        loss = -log_probs[torch.arange(n), targets].mean()
        dlogits = log_probs.exp()
        dlogits[torch.arange(n), targets] -= 1
        return loss, dlogits / n
        ### END SOLUTION
    """),
    tests("softmax_cross_entropy_visible", 1, setup=GUARD, body="""
    torch.manual_seed(0)
    logits = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    targets = torch.tensor([0, 2, 1, 2])
    expected = torch.nn.functional.cross_entropy(logits, targets)  # torch as the oracle
    expected.backward()
    with no_delegation("softmax_cross_entropy", autograd=True):
        result = softmax_cross_entropy(logits.detach(), targets)
    assert isinstance(result, tuple) and len(result) == 2, "softmax_cross_entropy must return a tuple (loss, dlogits)"
    loss, dlogits = result
    assert isinstance(loss, torch.Tensor) and loss.dim() == 0, (
        f"the loss of softmax_cross_entropy must be a 0-dimensional tensor (a mean), got {type(loss).__name__}"
        + (f" of shape {tuple(loss.shape)}" if isinstance(loss, torch.Tensor) else ""))
    g.assert_tensor_close(loss, expected.detach(), "the loss of softmax_cross_entropy on 4 examples",
                          rtol=1e-9, hint="the MEAN over the batch of -log softmax(z)[target]")
    g.assert_tensor_close(dlogits, logits.grad, "dlogits of softmax_cross_entropy on 4 examples", rtol=1e-9,
                          hint="(softmax(z) - one_hot(target)) / N: do not forget the 1/N of the mean")
    with no_delegation("softmax_cross_entropy", autograd=True):
        loss, dlogits = softmax_cross_entropy(torch.tensor([[1000.0, 0.0], [0.0, 1000.0]], dtype=torch.float64), torch.tensor([0, 0]))
    assert math.isfinite(float(loss)) and bool(torch.isfinite(dlogits).all()), \\
        "softmax_cross_entropy returned inf or nan for logits of 1000: subtract each row's maximum before exp"
    assert math.isclose(float(loss), 500.0, rel_tol=1e-9), f"the loss for logits [[1000, 0], [0, 1000]] and targets [0, 0] is 500, got {float(loss)}"
    print("softmax_cross_entropy: visible tests passed")
    """),
    hidden("softmax_cross_entropy_hidden", 2, GUARD, """
    g.assert_no_delegation(softmax_cross_entropy, FORBIDDEN_FUNCTIONS + [torch.autograd.grad, torch.autograd.backward,
                           torch.nn.functional.cross_entropy, torch.nn.functional.nll_loss], "softmax_cross_entropy")
    rng = torch.Generator().manual_seed(7501)
    for n, c, scale in [(9, 7, 3.0), (1, 5, 1.0), (6, 4, 1000.0)]:
        logits = (torch.randn(n, c, generator=rng, dtype=torch.float64) * scale).requires_grad_()
        targets = torch.randint(0, c, (n,), generator=rng)
        expected = torch.nn.functional.cross_entropy(logits, targets)
        expected.backward()
        call = f"softmax_cross_entropy(logits of shape ({n}, {c}) and scale {scale}, targets)"
        with no_delegation("softmax_cross_entropy", autograd=True):
            result = softmax_cross_entropy(logits.detach(), targets)
        assert isinstance(result, tuple) and len(result) == 2, f"{call} must return a tuple (loss, dlogits)"
        g.assert_tensor_close(result[0], expected.detach(), f"the loss of {call}", rtol=1e-9,
                              hint="the mean loss as a 0-dimensional tensor")
        g.assert_tensor_close(result[1], logits.grad, f"dlogits of {call}", rtol=1e-9, atol=1e-12)
    """),
    md("""
    ## 6. Experiment: check your backward passes with your checker

    The cell below checks `linear_backward` and `softmax_cross_entropy` numerically, the way
    you would check a new layer: for a random upstream gradient $g$, the function
    $x \\mapsto \\sum (\\text{layer}(x) \\odot g)$ has gradient `dx`, so its numerical gradient must
    agree with yours. It also shows why the check runs in float64: the same check in float32.
    """),
    code("""
    torch.manual_seed(1)
    for dtype in (torch.float64, torch.float32):
        x, w, b = (torch.randn(s, dtype=dtype) for s in [(4, 3), (2, 3), (2,)])
        dout = torch.randn(4, 2, dtype=dtype)
        dx, dw, _ = linear_backward(dout, x, w)
        h = 1e-5 if dtype == torch.float64 else 1e-3
        error_x = relative_error(numerical_gradient(lambda t: ((t @ w.T + b) * dout).sum(), x, h).double(), dx.double())
        error_w = relative_error(numerical_gradient(lambda t: ((x @ t.T + b) * dout).sum(), w, h).double(), dw.double())
        logits, targets = torch.randn(5, 4, dtype=dtype), torch.randint(0, 4, (5,))
        _, dlogits = softmax_cross_entropy(logits, targets)
        error_z = relative_error(numerical_gradient(lambda t: softmax_cross_entropy(t, targets)[0], logits, h).double(), dlogits.double())
        print(f"{dtype}: relative error of dx {error_x:.1e}, dw {error_w:.1e}, dlogits {error_z:.1e}")
    """),
    md("""
    ## 7. Hypothesis and verdict

    Which step size gave the smallest error in float64 and in float32 in section 4, and how
    small was it? Explain the shape of the two curves with the two errors of the numerical
    derivative, and derive roughly where the best $h$ should lie for each precision. What
    does that mean for the thresholds people use (a relative error below $10^{-7}$ is fine,
    above $10^{-2}$ is a bug) when a check runs in float32?
    """),
    manual("hypothesis_verdict", 2, """
    *Model answer.* In float64 the error falls as $h^2$ from $h = 10^{-1}$ down to a best
    $h$ of about $10^{-5}$ to $10^{-6}$, reaching about $10^{-10}$ to $10^{-11}$, then rises
    again as $1/h$. In float32 the best $h$ is about $10^{-2}$ to $10^{-3}$ and the best error only about
    $10^{-4}$ to $10^{-5}$; below that the error grows to order 1. The total error is about $C h^2 + \\varepsilon |f| / h$:
    truncation falls with $h$, rounding grows; the sum is smallest near
    $h \\approx \\varepsilon^{1/3}$ (about $5 \\cdot 10^{-6}$ in float64, $4 \\cdot 10^{-3}$ in float32), where
    the error is of order $\\varepsilon^{2/3}$ ($2 \\cdot 10^{-11}$ and $1.5 \\cdot 10^{-5}$).
    So in float32 even a correct gradient cannot get below about $10^{-5}$: the usual
    thresholds, made for float64, would flag correct code as "uncomfortable"; checks run in
    float64.
    """, rubric=(
        'float64: best h about 1e-5 to 1e-6, error about 1e-10 to 1e-11; float32: best h about 1e-2 to 1e-3, error about 1e-4 to 1e-5.',
        'truncation error of order h**2 against rounding error of order eps/h, balanced near h ~ eps**(1/3); float32 cannot reach the float64 thresholds, so gradient checks run in float64.')),
]

cells += challenge('batchnorm_backward', "BatchNorm's backward pass", """
Training-mode batch normalization of $x$ (shape $(N, D)$) computes
$\\hat x = (x - \\mu)/\\sigma$ with the batch mean $\\mu$ and $\\sigma = \\sqrt{\\mathrm{var} + \\epsilon}$
(biased variance), then $y = \\gamma \\hat x + \\beta$. Because $\\mu$ and $\\sigma$ depend on every
example, the gradient with respect to $x$ has three terms; they collapse to
$\\frac{\\gamma}{\\sigma}\\big(g - \\overline{g} - \\hat x\\, \\overline{g \\hat x}\\big)$, where $g$ is the
upstream gradient and the bars are means over the batch. Write
`batchnorm_backward(dout, x, gamma, eps=1e-5)` returning `(dx, dgamma, dbeta)`. Not graded;
the next cell compares it with autograd and with your `numerical_gradient`.
""", """
def batchnorm_backward(dout, x, gamma, eps=1e-5):
    ### BEGIN SOLUTION
    mean = x.mean(dim=0)
    std = torch.sqrt(x.var(dim=0, unbiased=False) + eps)
    x_hat = (x - mean) / std
    dx = gamma / std * (dout - dout.mean(0) - x_hat * (dout * x_hat).mean(0))
    return dx, (dout * x_hat).sum(0), dout.sum(0)
    ### END SOLUTION
""", """
torch.manual_seed(0)
x = torch.randn(8, 3, dtype=torch.float64, requires_grad=True)
gamma = torch.randn(3, dtype=torch.float64, requires_grad=True)
beta = torch.randn(3, dtype=torch.float64, requires_grad=True)
dout = torch.randn(8, 3, dtype=torch.float64)
torch.nn.functional.batch_norm(x, None, None, gamma, beta, training=True).backward(dout)
dx, dgamma, dbeta = batchnorm_backward(dout, x.detach(), gamma.detach())
for name, mine, theirs in [("dx", dx, x.grad), ("dgamma", dgamma, gamma.grad), ("dbeta", dbeta, beta.grad)]:
    assert torch.allclose(mine, theirs), f"{name} differs from autograd"
forward = lambda t: ((t - t.mean(0)) / torch.sqrt(t.var(0, unbiased=False) + 1e-5) * gamma.detach() * dout).sum()
assert relative_error(numerical_gradient(forward, x.detach().clone()), dx) < 1e-6, "dx differs from the numerical gradient"
""")

NOTEBOOK = notebook(cells)
