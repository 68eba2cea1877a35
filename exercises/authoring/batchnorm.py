from nbtools import challenge, code, hidden, locked_code, manual, md, notebook, prediction, solution, tests

GUARD = """\
from nnlab import grading as g
import nnlab.normalization
TORCH_BUILTINS = [torch, torch.nn.functional]  # their batch_norm is what this assignment asks you to write
REFERENCE_BATCHNORM_FORWARD = nnlab.normalization.batchnorm_forward  # lent to BatchNorm1d: each task is graded on its own
FORBIDDEN_FUNCTIONS = g.forbidden_functions([nnlab.normalization]) + [torch.nn.functional.batch_norm, torch.batch_norm]


def no_builtins(task):
    return g.forbid(TORCH_BUILTINS, task, names=["batch_norm"])


def torch_reference(x, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-5):
    # torch.nn.functional.batch_norm as the oracle, on copies: returns the output and the new running statistics
    rm, rv = running_mean.clone(), running_var.clone()
    out = torch.nn.functional.batch_norm(x, rm, rv, gamma, beta, training=training, momentum=momentum, eps=eps)
    return out, rm, rv
"""

cells = [
    md("""
    # Exercise: batch normalization

    Companion to the chapter *Batch normalization and its relatives* (`book/batchnorm.md`)
    of *Training neural networks by experiment*.

    You will write batch normalization twice: as a function with explicit running
    statistics, then as an `nn.Module` that behaves exactly like `torch.nn.BatchNorm1d` on
    `(N, D)` inputs, in training and in evaluation mode, for outputs, gradients and running
    statistics. Then you will use your module to compare the two placements the course's
    sources disagree on.

    **Rules.** Replace each `raise NotImplementedError()` with your code. Do not call
    `torch.nn.functional.batch_norm`, `torch.batch_norm`, `torch.nn.BatchNorm1d` (which
    calls them) or `nnlab.normalization`: a task that delegates to them earns no credit.
    `tensor.mean`, `tensor.var` and autograd are yours to use. The cells below each task run
    some of the tests; more run when your notebook is graded.
    """),
    locked_code("""
    import torch
    from torch import nn
    """, "imports"),
    md("""
    ## 1. The function

    `batchnorm_forward(x, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-5)`
    takes `x` of shape `(N, D)` and four tensors of shape `(D,)`.

    - **Training** (`training=True`): normalize each feature with the batch mean and the
      *biased* batch variance (divide by $N$),
      $y = \\gamma\\,(x - \\mu_B)/\\sqrt{\\sigma_B^2 + \\varepsilon} + \\beta$. Then update the running
      statistics **in place**: `r = (1 - momentum) * r + momentum * batch_stat`, using the
      *unbiased* variance (divide by $N - 1$) for `running_var`. Do not let this update
      take part in autograd.
    - **Evaluation** (`training=False`): use `running_mean` and `running_var` instead of
      the batch statistics, and change nothing.

    The output must be differentiable by autograd with respect to `x`, `gamma` and `beta`.
    """),
    solution("batchnorm_forward", """
    def batchnorm_forward(x, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-5):
        \"\"\"Batch normalization of x: (N, D); updates the running statistics in place when training.\"\"\"
        ### BEGIN SOLUTION
        if training:
            mean = x.mean(dim=0)
            var = x.var(dim=0, unbiased=False)
            with torch.no_grad():
                n = x.shape[0]
                running_mean.mul_(1 - momentum).add_(momentum * mean)
                running_var.mul_(1 - momentum).add_(momentum * var * n / (n - 1))
        else:
            mean, var = running_mean, running_var
        return (x - mean) / torch.sqrt(var + eps) * gamma + beta
        ### END SOLUTION
    """),
    tests("batchnorm_forward_visible", 1, setup=GUARD, body="""
    torch.manual_seed(0)
    x = torch.randn(8, 3, dtype=torch.float64) * 2 + 1
    gamma, beta = torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64), torch.tensor([0.0, -1.0, 3.0], dtype=torch.float64)
    rm, rv = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    expected, expected_rm, expected_rv = torch_reference(x, gamma, beta, rm, rv, training=True)
    x.requires_grad_(True)
    with no_builtins("batchnorm_forward"), g.forbid([nnlab.normalization], "batchnorm_forward"):
        out = batchnorm_forward(x, gamma, beta, rm, rv, training=True)
    assert isinstance(out, torch.Tensor) and out.requires_grad, (
        "batchnorm_forward(x, ..., training=True) with x.requires_grad: the output is not connected to autograd")
    upstream = torch.linspace(-1, 1, 24, dtype=torch.float64).reshape(8, 3)
    x_twin = x.detach().clone().requires_grad_(True)
    twin_out, _, _ = torch_reference(x_twin, gamma, beta, torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64), True)
    g.assert_tensor_close(torch.autograd.grad(out, x, upstream)[0], torch.autograd.grad(twin_out, x_twin, upstream)[0],
                          "the gradient of batchnorm_forward(x, ..., training=True) with respect to x", rtol=1e-6, atol=1e-9,
                          hint="the batch mean and variance depend on x too: compute them from x with tensor operations, not under no_grad")
    out = out.detach()
    x = x.detach()
    g.assert_tensor_close(out, expected, "batchnorm_forward(x, ..., training=True)", rtol=1e-7, atol=1e-9,
                          hint="normalize with the batch mean and the biased variance x.var(dim=0, unbiased=False)")
    g.assert_tensor_close(rm, expected_rm, "running_mean after batchnorm_forward(..., training=True)", rtol=1e-7, atol=1e-12,
                          hint="update it in place: running_mean.mul_(1 - momentum).add_(momentum * mean)")
    g.assert_tensor_close(rv, expected_rv, "running_var after batchnorm_forward(..., training=True)", rtol=1e-7, atol=1e-12,
                          hint="running_var is updated with the UNBIASED batch variance x.var(dim=0) (divide by N - 1), "
                               "while the normalization itself uses the biased one")
    assert not rm.requires_grad and not rv.requires_grad, (
        "the running statistics became part of the autograd graph: update them under torch.no_grad()")
    frozen_rm, frozen_rv = rm.clone(), rv.clone()
    expected_eval, _, _ = torch_reference(x, gamma, beta, rm, rv, training=False)
    with no_builtins("batchnorm_forward"), g.forbid([nnlab.normalization], "batchnorm_forward"):
        out_eval = batchnorm_forward(x, gamma, beta, rm, rv, training=False)
    g.assert_tensor_close(out_eval, expected_eval, "batchnorm_forward(x, ..., training=False)", rtol=1e-7, atol=1e-9,
                          hint="in evaluation mode use running_mean and running_var")
    assert torch.equal(rm, frozen_rm) and torch.equal(rv, frozen_rv), "evaluation mode must not change the running statistics"
    print("batchnorm_forward: visible tests passed")
    """),
    hidden("batchnorm_forward_hidden", 3, GUARD, """
    g.assert_no_delegation(batchnorm_forward, FORBIDDEN_FUNCTIONS, "batchnorm_forward")
    rng = torch.Generator().manual_seed(2301)
    for n, d, momentum, eps in [(5, 4, 0.1, 1e-5), (16, 7, 0.3, 1e-3), (2, 3, 0.9, 1e-5)]:
        call = f"batchnorm_forward(x of shape ({n}, {d}), ..., momentum={momentum}, eps={eps})"
        x, gamma, beta, rm, rv, upstream = g.batchnorm_inputs(n, d, rng)
        expected, expected_rm, expected_rv = torch_reference(x, gamma, beta, rm, rv, True, momentum, eps)
        expected_grads = torch.autograd.grad(expected, (x, gamma, beta), upstream)
        with no_builtins("batchnorm_forward"), g.forbid([nnlab.normalization], "batchnorm_forward"):
            out = batchnorm_forward(x, gamma, beta, rm, rv, True, momentum=momentum, eps=eps)
        g.assert_tensor_close(out, expected, call + " in training mode", rtol=1e-7, atol=1e-9)
        g.assert_tensor_close(rm, expected_rm, "running_mean after " + call, rtol=1e-7, atol=1e-12)
        g.assert_tensor_close(rv, expected_rv, "running_var after " + call, rtol=1e-7, atol=1e-12,
                              hint="running_var is updated with the UNBIASED batch variance (divide by N - 1)")
        assert out.requires_grad, f"{call}: the output is not connected to autograd"
        grads = torch.autograd.grad(out, (x, gamma, beta), upstream, allow_unused=True)
        for name, got, want in zip(("x", "gamma", "beta"), grads, expected_grads):
            assert got is not None, f"{call}: the output does not depend on {name} through autograd"
            g.assert_tensor_close(got, want, f"the gradient of {call} with respect to {name}", rtol=1e-6, atol=1e-9)
        assert not rm.requires_grad and not rv.requires_grad, (
            f"{call}: the running statistics became part of the autograd graph; update them under torch.no_grad() or with detached statistics")
        frozen = rm.clone(), rv.clone()
        expected_eval, _, _ = torch_reference(x.detach(), gamma.detach(), beta.detach(), rm, rv, False, momentum, eps)
        with no_builtins("batchnorm_forward"), g.forbid([nnlab.normalization], "batchnorm_forward"):
            out_eval = batchnorm_forward(x.detach(), gamma.detach(), beta.detach(), rm, rv, False, momentum=momentum, eps=eps)
        g.assert_tensor_close(out_eval, expected_eval, call + " in evaluation mode", rtol=1e-7, atol=1e-9)
        assert torch.equal(rm, frozen[0]) and torch.equal(rv, frozen[1]), "evaluation mode must not change the running statistics"
    """),
    md("""
    ## 2. The module

    Write `BatchNorm1d(nn.Module)` with `__init__(self, num_features, eps=1e-5, momentum=0.1)`:

    - parameters `weight` (ones) and `bias` (zeros), as `nn.Parameter`s of shape `(num_features,)`;
    - buffers `running_mean` (zeros) and `running_var` (ones), registered with
      `self.register_buffer(...)` so that they move with `.to(...)` and are saved in the
      `state_dict` without being trained (a `num_batches_tracked` buffer, as torch keeps,
      is allowed but not needed);
    - `forward(x)` normalizes `(N, D)` inputs, in training or evaluation mode according to
      `self.training` (set by `model.train()` and `model.eval()`).

    You may call your `batchnorm_forward` (while this task is graded it is replaced by a
    correct one, so each task earns its points on its own).
    """),
    solution("BatchNorm1d", """
    class BatchNorm1d(nn.Module):
        \"\"\"Batch normalization over (N, D) inputs, like torch.nn.BatchNorm1d.\"\"\"

        def __init__(self, num_features, eps=1e-5, momentum=0.1):
            super().__init__()
            ### BEGIN SOLUTION
            self.eps, self.momentum = eps, momentum
            self.weight = nn.Parameter(torch.ones(num_features))
            self.bias = nn.Parameter(torch.zeros(num_features))
            self.register_buffer("running_mean", torch.zeros(num_features))
            self.register_buffer("running_var", torch.ones(num_features))
            ### END SOLUTION

        def forward(self, x):
            ### BEGIN SOLUTION
            return batchnorm_forward(x, self.weight, self.bias, self.running_mean, self.running_var,
                                     self.training, self.momentum, self.eps)
            ### END SOLUTION
    """),
    tests("BatchNorm1d_visible", 1, setup=GUARD, body="""
    with no_builtins("BatchNorm1d"), g.substitute(globals(), batchnorm_forward=REFERENCE_BATCHNORM_FORWARD):
        layer = BatchNorm1d(4)
    params = dict(layer.named_parameters())
    buffers = dict(layer.named_buffers())
    assert set(params) == {"weight", "bias"}, f"BatchNorm1d(4) has the parameters {sorted(params)}; expected weight and bias"
    assert {"running_mean", "running_var"} <= set(buffers) <= {"running_mean", "running_var", "num_batches_tracked"}, (
        f"BatchNorm1d(4) has the buffers {sorted(buffers)}; expected running_mean and running_var "
        "(and, if you like, num_batches_tracked, as torch has): use self.register_buffer")
    g.assert_tensor_close(layer.weight, torch.ones(4), "BatchNorm1d(4).weight")
    g.assert_tensor_close(layer.running_var, torch.ones(4), "BatchNorm1d(4).running_var")
    torch.manual_seed(0)
    x = torch.randn(10, 4) * 2 + 3
    expected = nn.BatchNorm1d(4)(x)
    with no_builtins("BatchNorm1d"), g.substitute(globals(), batchnorm_forward=REFERENCE_BATCHNORM_FORWARD):
        out = layer(x)
    g.assert_tensor_close(out, expected, "BatchNorm1d(4)(x) in training mode", rtol=1e-5, atol=1e-6)
    reference = nn.BatchNorm1d(4)
    reference(x)
    g.assert_tensor_close(layer.running_var, reference.running_var, "BatchNorm1d(4).running_var after one batch", rtol=1e-5, atol=1e-7)
    layer.eval()
    reference.eval()
    with no_builtins("BatchNorm1d"), g.substitute(globals(), batchnorm_forward=REFERENCE_BATCHNORM_FORWARD):
        out_eval = layer(x[:3])
    g.assert_tensor_close(out_eval, reference(x[:3]), "BatchNorm1d(4)(x) after .eval()", rtol=1e-5, atol=1e-6,
                          hint="forward must follow self.training: model.eval() switches to the running statistics")
    print("BatchNorm1d: visible tests passed")
    """),
    hidden("BatchNorm1d_hidden", 3, GUARD, """
    g.assert_no_delegation(BatchNorm1d.forward, FORBIDDEN_FUNCTIONS, "BatchNorm1d")
    torch.manual_seed(2302)
    for d, momentum, eps in [(6, 0.1, 1e-5), (3, 0.25, 1e-3)]:
        with no_builtins("BatchNorm1d"), g.substitute(globals(), batchnorm_forward=REFERENCE_BATCHNORM_FORWARD):
            ours = BatchNorm1d(d, eps=eps, momentum=momentum).double()
        theirs = nn.BatchNorm1d(d, eps=eps, momentum=momentum).double()
        with torch.no_grad():
            for layer in (ours, theirs):
                layer.weight.copy_(torch.linspace(0.5, 2, d))
                layer.bias.copy_(torch.linspace(-1, 1, d))
        name = f"BatchNorm1d({d}, eps={eps}, momentum={momentum})"
        for step in range(3):
            x = torch.randn(12, d, dtype=torch.float64) * 2 + step
            upstream = torch.randn(12, d, dtype=torch.float64)
            x1, x2 = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
            with no_builtins("BatchNorm1d"), g.substitute(globals(), batchnorm_forward=REFERENCE_BATCHNORM_FORWARD):
                out = ours(x1)
            expected = theirs(x2)
            g.assert_tensor_close(out, expected, f"{name} in training mode, step {step + 1}", rtol=1e-7, atol=1e-9)
            out.backward(upstream)
            expected.backward(upstream)
            g.assert_tensor_close(x1.grad, x2.grad, f"the input gradient of {name}", rtol=1e-6, atol=1e-9)
            g.assert_tensor_close(ours.weight.grad, theirs.weight.grad, f"{name}.weight.grad", rtol=1e-6, atol=1e-9)
            g.assert_tensor_close(ours.running_mean, theirs.running_mean, f"{name}.running_mean after {step + 1} steps", rtol=1e-7, atol=1e-12,
                                  hint="pass self.momentum (not the default) to the update")
            g.assert_tensor_close(ours.running_var, theirs.running_var, f"{name}.running_var after {step + 1} steps", rtol=1e-7, atol=1e-12)
        ours.eval(), theirs.eval()
        x = torch.randn(5, d, dtype=torch.float64)
        with no_builtins("BatchNorm1d"), g.substitute(globals(), batchnorm_forward=REFERENCE_BATCHNORM_FORWARD):
            out = ours(x)
        g.assert_tensor_close(out, theirs(x), f"{name} in evaluation mode", rtol=1e-7, atol=1e-9,
                              hint="forward must follow self.training: model.eval() switches to the running statistics")
        moved = BatchNorm1d(d).double()
        assert moved.running_mean.dtype == torch.float64, "the running statistics must be buffers, so that .double() and .to() move them"
    """),
    md("""
    ## 3. Experiment: before or after the activation?

    The cell below trains two 3-layer MLPs on MNIST-1D that use *your* `BatchNorm1d`, one
    with it before each ReLU and one after, for 10 epochs each, and prints their best
    validation accuracies. Predict first: which wins, and by how much?
    """),
    prediction('which placement reaches the higher validation accuracy, and by how much'),
    code("""
    import nnlab
    from nnlab import plots

    mnist = nnlab.load_mnist1d()
    train, val, test = mnist.loaders(batch_size=64)


    def block(n_in, n_out, position):
        layers = [nn.Linear(n_in, n_out), BatchNorm1d(n_out), nn.ReLU()]
        return layers if position == "before" else [layers[0], layers[2], layers[1]]


    curves = {}
    for position in ("before", "after"):
        torch.manual_seed(0)
        model = nn.Sequential(*block(40, 128, position), *block(128, 128, position), *block(128, 128, position), nn.Linear(128, 10))
        history = nnlab.fit(model, train, val, epochs=10, lr=1e-3, progress=False)
        curves[f"BatchNorm {position} the ReLU"] = ([e + 1 for e in history.epoch], history.val_acc)
        print(f"BatchNorm {position} the ReLU: best validation accuracy {max(history.val_acc):.1%}")
    plots.plot_curves(curves, "epoch", "validation accuracy", marker="o");
    """),
    md("""
    ## 4. Hypothesis and verdict

    What did you predict, and what did you measure? One seed decides little: how would you
    make the comparison trustworthy? Then explain in two or three sentences why a layer's
    output no longer depends on the scale of the weights feeding a BatchNorm layer, and what
    that implies for the learning rate.
    """),
    manual("hypothesis_verdict", 2, """
    *Model answer.* Both placements reach about the same best validation accuracy (about
    63 %, within a point or two of each other), well above the same MLP without
    normalization (about 56 % in the chapter). A single seed cannot separate them: one
    would repeat each run over several seeds and compare the spread with the difference
    (the chapter does this with three seeds). BatchNorm divides by the
    batch's standard deviation, so scaling the incoming weights by $c$ scales both numerator
    and denominator by $c$: the output is unchanged. A large step can therefore not blow up
    the activations; it changes the direction of the weights, and the effective step even
    shrinks as the weights grow. That is why normalized networks tolerate much larger
    learning rates.
    """, rubric=(
        'both placements within a couple of points of each other (about 60-65 %), above the MLP without normalization; a single seed does not separate them.',
        "BatchNorm divides by the batch's standard deviation, so scaling the incoming weights by c leaves the output unchanged: large steps cannot blow up the activations, which is why normalized networks take larger rates.")),
]

cells += challenge('layernorm', 'layer normalization', """
Ba et al. (2016) normalize each *example* over its features instead of each feature over
the batch: no running statistics, the same computation in training and evaluation, and
any batch size works. Write `layernorm_forward(x, gamma, beta, eps=1e-5)` for `x` of shape
`(N, D)`: subtract each row's mean, divide by the square root of its (biased) variance plus
`eps`, then scale by `gamma` and shift by `beta` (each of shape `(D,)`). Not graded; the next
cell compares values and gradients with `torch.nn.functional.layer_norm`.
""", """
def layernorm_forward(x, gamma, beta, eps=1e-5):
    ### BEGIN SOLUTION
    mean = x.mean(dim=1, keepdim=True)
    var = x.var(dim=1, unbiased=False, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * gamma + beta
    ### END SOLUTION
""", """
torch.manual_seed(0)
x = (torch.randn(6, 5, dtype=torch.float64) * 3 + 1).requires_grad_(True)
gamma = (torch.rand(5, dtype=torch.float64) + 0.5).requires_grad_(True)
beta = torch.randn(5, dtype=torch.float64).requires_grad_(True)
ours = layernorm_forward(x, gamma, beta)
theirs = torch.nn.functional.layer_norm(x, (5,), gamma, beta, eps=1e-5)
assert torch.allclose(ours, theirs, atol=1e-10), "values differ from torch.nn.functional.layer_norm"
upstream = torch.randn(6, 5, dtype=torch.float64)
for a, b in zip(torch.autograd.grad(ours, (x, gamma, beta), upstream), torch.autograd.grad(theirs, (x, gamma, beta), upstream)):
    assert torch.allclose(a, b, atol=1e-10), "gradients differ from torch's"
""")

NOTEBOOK = notebook(cells)
