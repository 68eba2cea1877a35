from nbtools import challenge, code, hidden, locked_code, manual, md, notebook, prediction, solution, tests

GUARD = """\
import math
import types

from nnlab import grading as g
import nnlab.clipping
import torch.nn.utils.clip_grad
TORCH_CLIPPING = [torch.nn.utils, torch.nn.utils.clip_grad]  # their clipping is what this assignment asks you to write
CLIPPING_NAMES = ["clip_grad_norm_", "clip_grad_norm", "clip_grad_value_", "clip_grads_with_norm_", "get_total_norm"]


def lend(function):
    # The reference, bound to a copy of its module's names: it keeps working while the module is forbidden.
    return types.FunctionType(function.__code__, dict(vars(nnlab.clipping)), function.__name__, function.__defaults__)


REFERENCES = {name: lend(getattr(nnlab.clipping, name)) for name in ("clip_by_value", "clip_by_norm", "clip_by_global_norm")}
FORBIDDEN_FUNCTIONS = g.forbidden_functions([nnlab.clipping]) + [torch.nn.utils.clip_grad_norm_, torch.nn.utils.clip_grad_value_]


def no_delegation(task):
    return g.forbid(TORCH_CLIPPING, task, names=CLIPPING_NAMES)


def assert_float(value, expected, call, hint=""):
    assert isinstance(value, float), f"{call} returned {type(value).__name__}; expected a Python float (use float(...) or .item())"
    assert math.isclose(value, expected, rel_tol=1e-5), f"{call} returned {value:.6g}; expected {expected:.6g}. {hint}"
"""

cells = [
    md("""
    # Exercise: gradient clipping

    Companion to the chapter *Gradient clipping* (`book/clipping.md`) of *Training neural
    networks by experiment*.

    You will write the three ways of clipping a gradient (by value, by norm, by global norm),
    then the in-place version a training loop calls between `backward()` and `step()`, and
    use it to tame a recurrent network whose gradients explode.

    **Rules.** Replace each `raise NotImplementedError()` with your code. Do not call
    `torch.nn.utils.clip_grad_norm_`, `clip_grad_value_`, `get_total_norm` or
    `nnlab.clipping`: a task that delegates to them earns no credit. `torch.clamp`,
    `tensor.norm()` and arithmetic are yours to use. The cells below each task run some of
    the tests; more run when your notebook is graded.
    """),
    locked_code("""
    import math

    import torch
    from torch import nn
    """, "imports"),
    md("""
    ## 1. Clipping by value

    Write `clip_by_value(t, clip_value)`: a **new** tensor in which every element is clamped
    to $[-c, c]$ with $c$ = `clip_value`. Each element is treated on its own, so the
    direction of `t` can change.
    """),
    solution("clip_by_value", """
    def clip_by_value(t, clip_value):
        \"\"\"A new tensor with every element of t clamped to [-clip_value, clip_value].\"\"\"
        ### BEGIN SOLUTION
        return t.clamp(-clip_value, clip_value)
        ### END SOLUTION
    """),
    tests("clip_by_value_visible", 1, setup=GUARD, body="""
    t = torch.tensor([-3.0, -0.5, 0.0, 0.2, 7.0])
    with no_delegation("clip_by_value"), g.forbid([nnlab.clipping], "clip_by_value"):
        result = clip_by_value(t, 1.0)
    g.assert_tensor_close(result, torch.tensor([-1.0, -0.5, 0.0, 0.2, 1.0]), "clip_by_value([-3, -0.5, 0, 0.2, 7], 1.0)",
                          hint="elements above c become c, elements below -c become -c, the others stay")
    print("clip_by_value: visible tests passed")
    """),
    hidden("clip_by_value_hidden", 2, GUARD, """
    g.assert_no_delegation(clip_by_value, FORBIDDEN_FUNCTIONS, "clip_by_value")
    rng = torch.Generator().manual_seed(3101)
    with no_delegation("clip_by_value"), g.forbid([nnlab.clipping], "clip_by_value"):
        for shape, c in [((50, 40), 0.5), ((3, 4, 5), 2.0), ((1000,), 1e-3)]:
            t = torch.randn(shape, generator=rng, dtype=torch.float64) * 3
            before = t.clone()
            call = f"clip_by_value(t of shape {shape}, {c})"
            result = clip_by_value(t, c)
            g.assert_tensor_close(t, before, f"t after {call}", hint="return a new tensor; leave t as it was")
            assert result.dtype == t.dtype, f"{call} returned {result.dtype}; expected {t.dtype}"
            g.assert_tensor_close(result, torch.minimum(torch.maximum(t, torch.tensor(-c, dtype=t.dtype)), torch.tensor(c, dtype=t.dtype)), call)
    """),
    md("""
    ## 2. Clipping by norm

    Write `clip_by_norm(t, max_norm)`: a new tensor
    $t \\cdot \\dfrac{\\text{max\\_norm}}{\\max(\\lVert t \\rVert_2, \\text{max\\_norm})}$, where
    $\\lVert t \\rVert_2$ is the L2 norm of all elements of `t`. A tensor whose norm is at most
    `max_norm` comes back unchanged; a longer one is shortened to exactly `max_norm`, keeping
    its direction. For example `[-2, 3, 6]` has norm 7: with `max_norm = 5` it becomes
    `[-2, 3, 6] · 5/7`, with `max_norm = 9` it stays as it is.
    """),
    solution("clip_by_norm", """
    def clip_by_norm(t, max_norm):
        \"\"\"A new tensor t * max_norm / max(||t||, max_norm): its L2 norm is at most max_norm.\"\"\"
        ### BEGIN SOLUTION
        norm = float(t.norm())
        return t * (max_norm / max(norm, max_norm))
        ### END SOLUTION
    """),
    tests("clip_by_norm_visible", 1, setup=GUARD, body="""
    t = torch.tensor([-2.0, 3.0, 6.0])
    with no_delegation("clip_by_norm"), g.forbid([nnlab.clipping], "clip_by_norm"):
        shortened, kept = clip_by_norm(t, 5.0), clip_by_norm(t, 9.0)
    g.assert_tensor_close(shortened, t * 5 / 7, "clip_by_norm([-2, 3, 6], 5.0)",
                          hint="the norm is 7 > 5: multiply by 5/7 (not divide by the norm alone, which gives norm 1)")
    g.assert_tensor_close(kept, t, "clip_by_norm([-2, 3, 6], 9.0)", hint="the norm 7 is below 9: nothing changes")
    print("clip_by_norm: visible tests passed")
    """),
    hidden("clip_by_norm_hidden", 2, GUARD, """
    g.assert_no_delegation(clip_by_norm, FORBIDDEN_FUNCTIONS, "clip_by_norm")
    rng = torch.Generator().manual_seed(3102)
    with no_delegation("clip_by_norm"), g.forbid([nnlab.clipping], "clip_by_norm"):
        for shape, max_norm in [((30, 20), 1.0), ((4, 5, 6), 100.0), ((7,), 0.25)]:
            t = torch.randn(shape, generator=rng, dtype=torch.float64) * 2
            before = t.clone()
            call = f"clip_by_norm(t of shape {shape}, {max_norm}) with ||t|| = {float(t.norm()):.3g}"
            result = clip_by_norm(t, max_norm)
            g.assert_tensor_close(t, before, f"t after {call}", hint="return a new tensor; leave t as it was")
            expected = t * (max_norm / max(float(torch.linalg.vector_norm(t)), max_norm))
            g.assert_tensor_close(result, expected, call,
                                  hint="the norm is over ALL elements of t (not per row); scale the whole tensor by one factor")
    """),
    md("""
    ## 3. Clipping by global norm

    Write `clip_by_global_norm(tensors, max_norm)` for a list of tensors (the gradients of
    all layers). Compute the **global norm** $g = \\sqrt{\\sum_i \\lVert t_i \\rVert_2^2}$, the norm
    of all tensors seen as one long vector, and scale **every** tensor by the same factor
    $\\text{max\\_norm} / \\max(g, \\text{max\\_norm})$. Return the list of new tensors and $g$
    as a Python float. `tensors` may be any iterable of tensors: a list, a tuple, or a
    generator such as `(p.grad for p in model.parameters())`, which can be read only once. Example: `[-2, 3, 6]` (norm 7) and `[-4, 6, 12]` (norm 14) have
    $g = \\sqrt{49 + 196} \\approx 15.65$; with `max_norm = 14.5` both are multiplied by
    $14.5 / 15.65$, so their ratio is kept.
    """),
    solution("clip_by_global_norm", """
    def clip_by_global_norm(tensors, max_norm):
        \"\"\"([t * max_norm / max(g, max_norm) for t in tensors], g) with g = sqrt(sum ||t||^2).\"\"\"
        ### BEGIN SOLUTION
        tensors = list(tensors)
        total = math.sqrt(sum(float(t.double().pow(2).sum()) for t in tensors))
        scale = max_norm / max(total, max_norm)
        return [t * scale for t in tensors], total
        ### END SOLUTION
    """),
    tests("clip_by_global_norm_visible", 1, setup=GUARD, body="""
    a, b = torch.tensor([-2.0, 3.0, 6.0]), torch.tensor([-4.0, 6.0, 12.0])
    with no_delegation("clip_by_global_norm"), g.forbid([nnlab.clipping], "clip_by_global_norm"):
        result = clip_by_global_norm([a, b], 14.5)
    assert isinstance(result, tuple) and len(result) == 2, "clip_by_global_norm must return a pair (list of tensors, global norm)"
    clipped, total = result
    assert_float(total, math.sqrt(245), "the global norm of clip_by_global_norm([[-2, 3, 6], [-4, 6, 12]], 14.5)",
                 hint="sqrt(7**2 + 14**2): the norm of all elements of all tensors")
    scale = 14.5 / math.sqrt(245)
    g.assert_tensor_close(clipped[0], a * scale, "the first tensor returned", hint="every tensor is scaled by max_norm / g")
    g.assert_tensor_close(clipped[1], b * scale, "the second tensor returned", hint="every tensor is scaled by max_norm / g")
    with no_delegation("clip_by_global_norm"), g.forbid([nnlab.clipping], "clip_by_global_norm"):
        clipped, total = clip_by_global_norm((t for t in [a, b]), 14.5)
    hint = "a generator can be read only once: turn tensors into a list before going over it twice"
    assert_float(total, math.sqrt(245), "the global norm of clip_by_global_norm on a generator of the same two tensors", hint=hint)
    assert len(clipped) == 2, f"clip_by_global_norm on a generator of two tensors returned {len(clipped)} tensors. {hint}"
    print("clip_by_global_norm: visible tests passed")
    """),
    hidden("clip_by_global_norm_hidden", 3, GUARD, """
    g.assert_no_delegation(clip_by_global_norm, FORBIDDEN_FUNCTIONS, "clip_by_global_norm")
    rng = torch.Generator().manual_seed(3103)
    with no_delegation("clip_by_global_norm"), g.forbid([nnlab.clipping], "clip_by_global_norm"), \\
            g.substitute(globals(), clip_by_norm=REFERENCES["clip_by_norm"], clip_by_value=REFERENCES["clip_by_value"]):
        for shapes, max_norm in [([(20, 10), (10,), (5, 20)], 1.0), ([(3, 3)], 0.5), ([(4,), (2, 2, 2)], 1e4)]:
            tensors = [torch.randn(s, generator=rng, dtype=torch.float64) for s in shapes]
            before = [t.clone() for t in tensors]
            call = f"clip_by_global_norm(tensors of shapes {shapes}, {max_norm})"
            clipped, total = clip_by_global_norm(tensors, max_norm)
            for t, b in zip(tensors, before):
                g.assert_tensor_close(t, b, f"the inputs after {call}", hint="return new tensors; leave the inputs as they were")
            expected_total = float(torch.linalg.vector_norm(torch.cat([t.flatten() for t in tensors])))
            assert_float(total, expected_total, f"the global norm of {call}",
                         hint="the norm of all tensors together, not the sum or the largest of their norms")
            assert len(clipped) == len(tensors), f"{call} returned {len(clipped)} tensors; expected {len(tensors)}"
            scale = max_norm / max(expected_total, max_norm)
            for i, (c, t) in enumerate(zip(clipped, tensors)):
                g.assert_tensor_close(c, t * scale, f"tensor {i} of {call}",
                                      hint="all tensors share ONE factor max_norm / max(g, max_norm); clipping each on its own unbalances them")
        generated = (torch.ones(4) for _ in range(3))
        clipped, total = clip_by_global_norm(generated, 1.0)
        call = "clip_by_global_norm on a generator of three torch.ones(4)"
        hint = "tensors may be any iterable: turn it into a list before going over it twice"
        assert_float(total, math.sqrt(12), call, hint=hint)
        assert len(clipped) == 3, f"{call} returned {len(clipped)} tensors; expected 3. {hint}"
    """),
    md("""
    ## 4. Clipping gradients in place

    Write `clip_grad_norm_(parameters, max_norm)`, what a training loop calls between
    `loss.backward()` and `optimizer.step()`: take the `.grad` of every parameter that has one
    (parameters whose `.grad` is `None` are skipped), rescale them **in place** like
    `clip_by_global_norm`, and return the global norm *before* clipping as a float. In place
    means that each `p.grad` stays the same tensor object, with new values: an optimizer,
    a hook or gradient accumulation may hold on to it, so `p.grad = ...` is not enough.
    `parameters` may be a generator such as `model.parameters()`, or a single tensor.
    You may call your `clip_by_global_norm` (while this task is graded it is replaced by a
    correct one, so each task earns its points on its own).
    """),
    solution("clip_grad_norm_", """
    def clip_grad_norm_(parameters, max_norm):
        \"\"\"Rescale the gradients of parameters in place to a global norm of at most max_norm;
        return the global norm before clipping.\"\"\"
        ### BEGIN SOLUTION
        if isinstance(parameters, torch.Tensor):
            parameters = [parameters]
        grads = [p.grad for p in parameters if p.grad is not None]
        clipped, total = clip_by_global_norm(grads, max_norm)
        with torch.no_grad():
            for grad, new in zip(grads, clipped):
                grad.copy_(new)
        return total
        ### END SOLUTION
    """),
    tests("clip_grad_norm__visible", 1, setup=GUARD, body="""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 3))
    twin = nn.Sequential(nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 3))
    twin.load_state_dict(model.state_dict())
    x = torch.randn(8, 5)
    for net in (model, twin):
        (net(x) ** 2).sum().mul(10).backward()
    expected = float(torch.nn.utils.clip_grad_norm_(twin.parameters(), 1.0))  # torch as the oracle
    held = {name: p.grad for name, p in model.named_parameters()}  # the gradient tensors an optimizer holds on to
    with no_delegation("clip_grad_norm_"), g.forbid([nnlab.clipping], "clip_grad_norm_"), g.substitute(globals(), **REFERENCES):
        total = clip_grad_norm_(model.parameters(), 1.0)
    assert_float(total, expected, "clip_grad_norm_(model.parameters(), 1.0)", hint="return the global norm BEFORE clipping")
    for name, p in model.named_parameters():
        assert p.grad is held[name], (
            f"after clip_grad_norm_, {name}.grad is a new tensor: rescale the existing one in place "
            "(p.grad.mul_(...) or p.grad.copy_(...)), since optimizers, hooks and gradient accumulation hold on to it")
    for (name, p), q in zip(model.named_parameters(), twin.parameters()):
        g.assert_tensor_close(p.grad, q.grad, f"the gradient of {name} after clip_grad_norm_", rtol=1e-5,
                              hint="rescale each p.grad in place (p.grad.mul_(...) or p.grad.copy_(...))")
    print("clip_grad_norm_: visible tests passed")
    """),
    hidden("clip_grad_norm__hidden", 3, GUARD, """
    g.assert_no_delegation(clip_grad_norm_, FORBIDDEN_FUNCTIONS, "clip_grad_norm_")
    for max_norm, scale in [(0.1, 100.0), (1e3, 1.0)]:
        torch.manual_seed(3104)
        model = nn.Sequential(nn.Linear(6, 6), nn.ReLU(), nn.Linear(6, 6), nn.ReLU(), nn.Linear(6, 2))
        twin = nn.Sequential(nn.Linear(6, 6), nn.ReLU(), nn.Linear(6, 6), nn.ReLU(), nn.Linear(6, 2))
        twin.load_state_dict(model.state_dict())
        for net in (model, twin):
            net[2].weight.requires_grad_(False)  # a frozen layer: its .grad stays None
        x = torch.randn(16, 6)
        for net in (model, twin):
            net(x).pow(2).sum().mul(scale).backward()
        expected = float(torch.nn.utils.clip_grad_norm_(twin.parameters(), max_norm))  # torch as the oracle
        call = f"clip_grad_norm_(model.parameters(), {max_norm}) with a global norm of {expected:.3g}"
        held = {name: p.grad for name, p in model.named_parameters()}
        with no_delegation("clip_grad_norm_"), g.forbid([nnlab.clipping], "clip_grad_norm_"), g.substitute(globals(), **REFERENCES):
            total = clip_grad_norm_(model.parameters(), max_norm)
        assert_float(total, expected, call, hint="the norm over every parameter that has a .grad, before clipping")
        assert model[2].weight.grad is None, f"{call} gave a .grad to a frozen parameter: skip parameters whose .grad is None"
        assert all(p.grad is held[name] for name, p in model.named_parameters()), f"{call} replaced a .grad: rescale it in place"
        for (name, p), q in zip(model.named_parameters(), twin.parameters()):
            if q.grad is not None:
                g.assert_tensor_close(p.grad, q.grad, f"the gradient of {name} after {call}", rtol=1e-5)
    w = torch.zeros(3, requires_grad=True)
    w.grad = torch.tensor([3.0, 0.0, 4.0])
    with no_delegation("clip_grad_norm_"), g.forbid([nnlab.clipping], "clip_grad_norm_"), g.substitute(globals(), **REFERENCES):
        total = clip_grad_norm_(w, 1.0)
    assert_float(total, 5.0, "clip_grad_norm_(w, 1.0) for a single tensor w with gradient [3, 0, 4]",
                 hint="a single tensor counts as a list of one")
    g.assert_tensor_close(w.grad, torch.tensor([0.6, 0.0, 0.8]), "w.grad after clip_grad_norm_(w, 1.0)")
    """),
    md("""
    ## 5. Experiment: an exploding recurrent network

    The cell below reads each MNIST-1D signal one sample at a time with a ReLU recurrent
    network whose recurrent weights start as the identity (so the hidden state neither
    shrinks nor decays, and gradients through 40 time steps can grow large). It trains it for
    6 epochs with SGD and momentum, once as is and once with *your* `clip_grad_norm_`
    (threshold 1) called after every backward pass, and prints the largest gradient norm
    seen and the validation accuracy. Predict both outcomes before running it (about 10
    seconds).
    """),
    prediction('the validation accuracy with and without clipping, and the largest gradient norm seen'),
    code("""
    import nnlab
    from nnlab import plots
    from nnlab.train import Callback


    class IdentityRNN(nn.Module):
        def __init__(self, hidden=64):
            super().__init__()
            self.rnn = nn.RNN(1, hidden, nonlinearity="relu", batch_first=True)
            with torch.no_grad():
                self.rnn.weight_hh_l0.copy_(torch.eye(hidden))
            self.head = nn.Linear(hidden, 10)

        def forward(self, x):
            _, last = self.rnn(x.unsqueeze(-1))
            return self.head(last[-1])


    class ClipEveryStep(Callback):
        def __init__(self, max_norm):
            self.max_norm, self.norms = max_norm, []

        def on_after_backward(self, model, step):
            self.norms.append(clip_grad_norm_(model.parameters(), self.max_norm))


    mnist = nnlab.load_mnist1d()
    train, val, test = mnist.loaders(batch_size=64)
    curves = {}
    for max_norm in (math.inf, 1.0):
        torch.manual_seed(0)
        model, clipper = IdentityRNN(), ClipEveryStep(max_norm)
        history = nnlab.fit(model, train, val, epochs=6, optimizer="sgd", lr=0.01, momentum=0.9,
                            callbacks=[clipper], progress=False)
        curves[f"max_norm = {max_norm}"] = clipper.norms  # the norm before clipping, every step
        print(f"max_norm = {max_norm}: largest gradient norm {max(clipper.norms):.0f}, "
              f"validation accuracy {history.val_acc[-1]:.1%}")
    plots.plot_curves(curves, "step", "gradient norm before clipping", logy=True);
    """),
    md("""
    ## 6. Hypothesis and verdict

    What did you predict, and what did you measure? Explain with your numbers why clipping
    helps here although it never changes the direction of the update. Then say which of the
    three clippings you would use for this network and why: what does clipping each
    gradient tensor *on its own* do to the update that clipping by global norm does not?
    """),
    manual("hypothesis_verdict", 2, """
    *Model answer.* Without clipping the network does not learn: a few gradients of norm in
    the tens to hundreds throw the weights far away, and validation accuracy stays near
    chance (about 10 %). With the global norm clipped to 1 the same network, learning rate
    and seed reach roughly 35–45 % in 6 epochs. Clipping by global norm keeps the direction
    of the whole gradient and only shortens the rare huge steps, so every step moves at
    most `lr · 1` in parameter space. I would use the global norm: clipping by value changes
    the direction of the gradient (each element is cut on its own), and clipping each tensor
    on its own scales the layers by different factors, so the update is no longer a descent
    direction of the whole loss in the same proportions; the global norm scales all layers
    by one factor.
    """, rubric=(
        'without clipping, validation near chance (about 10 %) and gradient norms in the tens to hundreds; with the global norm clipped to 1, roughly 35-45 % after 6 epochs.',
        'clipping by global norm keeps the direction of the whole gradient and shortens only the rare huge steps; by value it changes the direction, and per tensor it scales the layers by different factors.')),
]

cells += challenge('adaptive_clip', 'adaptive gradient clipping', """
Brock et al. (2021) clip each *unit* (each row of a weight matrix) relative to the size of
its weights: when $\\lVert g_i\\rVert / \\max(\\lVert w_i\\rVert, \\epsilon) > \\lambda$, the row's gradient
is rescaled to $\\lambda \\max(\\lVert w_i\\rVert, \\epsilon) \\, g_i / \\lVert g_i\\rVert$; other rows are left
alone. Write `adaptive_clip_(parameters, clipping=0.01, eps=1e-3)`, in place on each `.grad`
(rows of 2-D and higher parameters, the whole tensor for 1-D ones; skip parameters
without a gradient). Not graded; the next cell checks the bound, the untouched rows and the
directions.
""", """
def adaptive_clip_(parameters, clipping=0.01, eps=1e-3):
    ### BEGIN SOLUTION
    with torch.no_grad():
        for p in parameters:
            if p.grad is None:
                continue
            dims = tuple(range(1, p.dim())) if p.dim() > 1 else (0,)
            weight_norm = p.norm(dim=dims, keepdim=True).clamp(min=eps)
            grad_norm = p.grad.norm(dim=dims, keepdim=True)
            limit = clipping * weight_norm
            scale = torch.where(grad_norm > limit, limit / grad_norm.clamp(min=1e-12), torch.ones_like(grad_norm))
            p.grad.mul_(scale)
    ### END SOLUTION
""", """
torch.manual_seed(0)
layer = nn.Linear(6, 5)
layer(torch.randn(8, 6)).pow(2).sum().backward()
with torch.no_grad():
    layer.weight.grad[0] *= 1e-4  # one row far under the limit
before = layer.weight.grad.clone()
adaptive_clip_(layer.parameters(), clipping=0.05)
ratio = layer.weight.grad.norm(dim=1) / layer.weight.detach().norm(dim=1).clamp(min=1e-3)
assert (ratio <= 0.05 * (1 + 1e-5)).all(), "a row's gradient is still above the limit"
assert torch.equal(layer.weight.grad[0], before[0]), "a row under the limit must be left alone"
cosine = torch.nn.functional.cosine_similarity(layer.weight.grad, before, dim=1)
assert torch.allclose(cosine, torch.ones(5), atol=1e-6), "clipping must keep each row's direction"
""")

NOTEBOOK = notebook(cells)
