from nbtools import challenge, code, hidden, locked_code, manual, md, notebook, prediction, solution, tests

GUARD = """\
from nnlab import grading as g
import nnlab.diagnostics
import nnlab.gradients
FORBIDDEN = [nnlab.gradients, nnlab.diagnostics]  # the reference solutions and their relatives
"""

cells = [
    md("""
    # Exercise: vanishing and exploding gradients

    Companion to the chapter *Vanishing and exploding gradients* (`book/vanishing_gradients.md`)
    of *Training neural networks by experiment*.

    You will write the three measuring instruments of the chapter and point them at a deep
    network:

    - the derivative of the sigmoid, whose maximum of 1/4 is where vanishing gradients begin;
    - the gradient norm of every parameter after a backward pass;
    - the spread (standard deviation) of every layer's output on the way forward.

    **Rules.** Replace each `raise NotImplementedError()` with your code. Do not call
    `nnlab.gradients` or `nnlab.diagnostics`: a task that delegates to them earns no credit.
    `torch.sigmoid`, `tensor.norm()` and `tensor.std()` are yours to use. The cells below each
    task run some of the tests; more run when your notebook is graded.
    """),
    locked_code("""
    import torch
    from torch import nn
    """, "imports"),
    md("""
    ## 1. The sigmoid's derivative

    $\\sigma(x) = 1/(1 + e^{-x})$ has the derivative $\\sigma'(x) = \\sigma(x)\\,(1 - \\sigma(x))$.
    Write `sigmoid_derivative(x)` returning it elementwise, as a new tensor of the same shape
    and dtype. It must stay finite for large $|x|$ (try $x = \\pm 100$ in float32): the
    formula $e^{-x}/(1+e^{-x})^2$ overflows there.
    """),
    solution("sigmoid_derivative", """
    def sigmoid_derivative(x):
        \"\"\"sigma'(x) = sigma(x) * (1 - sigma(x)), elementwise; same shape as x.\"\"\"
        ### BEGIN SOLUTION
        s = torch.sigmoid(x)
        return s * (1 - s)
        ### END SOLUTION
    """),
    tests("sigmoid_derivative_visible", 1, setup=GUARD, body="""
    x = torch.linspace(-5, 5, 11, dtype=torch.float64, requires_grad=True)
    torch.sigmoid(x).sum().backward()  # autograd as the oracle
    with g.forbid(FORBIDDEN, "sigmoid_derivative"):
        result = sigmoid_derivative(x.detach())
    g.assert_tensor_close(result, x.grad, "sigmoid_derivative(torch.linspace(-5, 5, 11))", rtol=1e-9)
    g.assert_tensor_close(sigmoid_derivative(torch.zeros(1, dtype=torch.float64)), torch.tensor([0.25], dtype=torch.float64),
                          "sigmoid_derivative(torch.zeros(1))", hint="the derivative peaks at 1/4 at x = 0")
    x = torch.tensor([-100.0, 100.0])
    with g.forbid(FORBIDDEN, "sigmoid_derivative"):
        result = sigmoid_derivative(x)
    g.assert_tensor_close(result, torch.zeros(2), "sigmoid_derivative(torch.tensor([-100., 100.]))", atol=1e-20,
                          hint="e^(-x) overflows for x = -100 in float32: compute it from torch.sigmoid(x), which never does")
    assert result.dtype == x.dtype, f"sigmoid_derivative of a float32 tensor returned {result.dtype}; keep the input's dtype"
    assert torch.equal(x, torch.tensor([-100.0, 100.0])), "sigmoid_derivative changed its input x; return a new tensor instead"
    print("sigmoid_derivative: visible tests passed")
    """),
    hidden("sigmoid_derivative_hidden", 2, GUARD, """
    g.assert_no_delegation(sigmoid_derivative, g.forbidden_functions(FORBIDDEN), "sigmoid_derivative")
    rng = torch.Generator().manual_seed(2201)
    with g.forbid(FORBIDDEN, "sigmoid_derivative"):
        for shape in [(7,), (3, 5), (2, 3, 4)]:
            x = (torch.randn(shape, generator=rng, dtype=torch.float64) * 6).requires_grad_(True)
            torch.sigmoid(x).sum().backward()
            g.assert_tensor_close(sigmoid_derivative(x.detach()), x.grad, f"sigmoid_derivative(x with shape {shape})", rtol=1e-9)
        x = torch.tensor([-100.0, -60.0, 60.0, 100.0])
        before = x.clone()
        result = sigmoid_derivative(x)
        g.assert_tensor_close(result, torch.zeros(4), "sigmoid_derivative(torch.tensor([-100., -60., 60., 100.]))",
                              atol=1e-20, hint="compute it from torch.sigmoid(x), which never overflows")
        assert torch.equal(x, before), "sigmoid_derivative changed its input x; return a new tensor instead"
    """),
    md("""
    ## 2. Gradient norms

    After `loss.backward()`, every parameter that took part has a `.grad`. Write
    `grad_norms(model)` returning a `dict` that maps each name of `model.named_parameters()`
    whose `.grad` is not `None`, **in that order**, to the L2 norm of its gradient as a plain
    Python `float`. Parameters without a gradient (frozen, or not used in the forward pass) are
    left out.
    """),
    solution("grad_norms", """
    def grad_norms(model):
        \"\"\"{name: L2 norm of the gradient} for each parameter with a gradient, in named_parameters order.\"\"\"
        ### BEGIN SOLUTION
        return {name: float(p.grad.norm()) for name, p in model.named_parameters() if p.grad is not None}
        ### END SOLUTION
    """),
    tests("grad_norms_visible", 1, setup=GUARD, body="""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2))
    net(torch.randn(8, 4)).pow(2).sum().backward()
    with g.forbid(FORBIDDEN, "grad_norms"):
        norms = grad_norms(net)
    expected = {name: torch.linalg.vector_norm(p.grad).item() for name, p in net.named_parameters()}
    assert isinstance(norms, dict), f"grad_norms returned {type(norms).__name__}; expected a dict"
    assert list(norms) == list(expected), f"grad_norms returned the keys {list(norms)}; expected {list(expected)}"
    for name, value in expected.items():
        assert isinstance(norms[name], float), f"grad_norms(...)[{name!r}] is a {type(norms[name]).__name__}; return a plain float (float(tensor))"
        assert abs(norms[name] - value) <= 1e-6 * value, (
            f"grad_norms(...)[{name!r}] is {norms[name]:.6g}; expected {value:.6g}, the L2 norm √Σg² of that gradient")
    net[2].bias.grad = None  # as if it had not taken part: no gradient, so no entry
    with g.forbid(FORBIDDEN, "grad_norms"):
        norms = grad_norms(net)
    assert "2.bias" not in norms, "grad_norms returned an entry for 2.bias, whose .grad is None: leave such parameters out"
    print("grad_norms: visible tests passed")
    """),
    hidden("grad_norms_hidden", 2, GUARD, """
    g.assert_no_delegation(grad_norms, g.forbidden_functions(FORBIDDEN), "grad_norms")
    torch.manual_seed(2202)
    net = nn.Sequential(nn.Conv1d(2, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6, 5), nn.Linear(5, 3))
    net[0].bias.requires_grad_(False)     # frozen: no gradient
    net(torch.randn(6, 2, 8))[:, :2].sum().backward()
    net[4].bias.grad = None               # as if never used
    expected = {name: torch.linalg.vector_norm(p.grad.double()).item() for name, p in net.named_parameters() if p.grad is not None}
    with g.forbid(FORBIDDEN, "grad_norms"):
        norms = grad_norms(net)
    assert list(norms) == list(expected), (
        f"grad_norms returned the keys {list(norms)}; expected {list(expected)}: leave out parameters whose .grad is None")
    for name, value in expected.items():
        assert isinstance(norms[name], float), f"grad_norms(...)[{name!r}] is a {type(norms[name]).__name__}; return a plain float"
        assert abs(norms[name] - value) <= 1e-6 * value, f"grad_norms(...)[{name!r}] is {norms[name]:.6g}; expected {value:.6g}"
    """),
    md("""
    ## 3. Activation spread

    Write `activation_stds(model, x)` for an `nn.Sequential`: feed `x` through each child in
    turn (each called once, as `child(x)`), with autograd off (`torch.no_grad()`: the tests
    check that no child runs while autograd records), and return a list with the standard
    deviation of each child's output (PyTorch's default `tensor.std()`, which divides by
    $n - 1$), as plain floats. The first entry is the first child's output, not the input.
    """),
    solution("activation_stds", """
    def activation_stds(model, x):
        \"\"\"The std of each child's output as x flows through the nn.Sequential model.\"\"\"
        ### BEGIN SOLUTION
        stds = []
        with torch.no_grad():
            for child in model:
                x = child(x)
                stds.append(float(x.std()))
        return stds
        ### END SOLUTION
    """),
    tests("activation_stds_visible", 1, setup=GUARD, body="""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    x = torch.randn(5, 8)
    with torch.no_grad():
        h1 = net[0](x)
        expected = [h1.std().item(), h1.relu().std().item(), net[2](h1.relu()).std().item()]
    with g.forbid(FORBIDDEN, "activation_stds"), g.recording_grad_mode(net) as grad_modes:
        stds = activation_stds(net, x)
    assert isinstance(stds, list) and len(stds) == 3, f"activation_stds returned {stds!r}; expected a list of 3 floats, one per child"
    assert len(grad_modes) == len(net), (
        f"activation_stds called the children {len(grad_modes)} times for {len(net)} children: call each once, as child(x)")
    assert not any(grad_modes), (
        "activation_stds ran the children with autograd recording: wrap the forward passes in torch.no_grad() "
        "(a measurement needs no graph, and a graph keeps every activation in memory)")
    for i, (got, want) in enumerate(zip(stds, expected)):
        assert abs(float(got) - want) <= 1e-6 * want, (
            f"activation_stds(...)[{i}] is {float(got):.6g}; expected {want:.6g} (tensor.std(), which divides by n - 1)")
    print("activation_stds: visible tests passed")
    """),
    hidden("activation_stds_hidden", 2, GUARD, """
    g.assert_no_delegation(activation_stds, g.forbidden_functions(FORBIDDEN), "activation_stds")
    torch.manual_seed(2203)
    net = nn.Sequential(*[layer for _ in range(6) for layer in (nn.Linear(12, 12), nn.Tanh())])
    x = torch.randn(3, 12)
    expected, h = [], x
    with torch.no_grad():
        for child in net:
            h = child(h)
            expected.append(h.std().item())
    with g.forbid(FORBIDDEN, "activation_stds"), g.recording_grad_mode(net) as grad_modes:
        stds = activation_stds(net, x)
    assert len(stds) == len(expected), f"activation_stds returned {len(stds)} values for {len(net)} children"
    assert len(grad_modes) == len(net), f"activation_stds called the children {len(grad_modes)} times for {len(net)} children"
    assert not any(grad_modes), "activation_stds ran the children with autograd recording: use torch.no_grad()"
    for i, (got, want) in enumerate(zip(stds, expected)):
        assert isinstance(got, float), f"activation_stds(...)[{i}] is a {type(got).__name__}; return plain floats"
        assert abs(got - want) <= 1e-6 * want, f"activation_stds(...)[{i}] is {got:.6g}; expected {want:.6g}"
    assert all(p.grad is None for p in net.parameters()), "activation_stds must not compute gradients (no backward pass)"
    """),
    md("""
    ## 4. Experiment: skip connections

    The cell below builds two 20-layer sigmoid MLPs for MNIST-1D with `nnlab`, one plain and
    one with a skip connection around each hidden block, runs one batch through each, and
    plots *your* `grad_norms` of every weight matrix (input side on the left) and *your*
    `activation_stds` of every block. Before running it, predict: how many orders of
    magnitude lie between the first and the last layer's gradient in each network?
    """),
    prediction("how many orders of magnitude between the first and the last layer's gradient, plain and with skip connections"),
    code("""
    import nnlab
    from nnlab import plots

    mnist = nnlab.load_mnist1d()
    x, y = mnist.x_train[:256], mnist.y_train[:256]
    axis = None
    for residual in (False, True):
        torch.manual_seed(0)
        model = nnlab.mlp(40, 10, width=128, depth=20, activation="sigmoid", init="xavier", residual=residual)
        nn.functional.cross_entropy(model(x), y).backward()
        norms = {name: value for name, value in grad_norms(model).items() if name.endswith("weight")}
        label = "with skip connections" if residual else "plain"
        figure = plots.plot_gradient_flow(norms, ax=axis, label=label)
        axis = figure.axes[0]
        values = list(norms.values())
        stds = activation_stds(model, x)
        print(f"{label:>21}: first-layer gradient {values[0]:.2e}, last {values[-1]:.2e}; "
              f"activation std of block 1 {stds[0]:.3f}, block 20 {stds[19]:.3f}")
    """),
    md("""
    ## 5. Hypothesis and verdict

    What did you predict, and what does the figure show? Explain the plain network's curve
    with the backward recursion $\\delta_{l-1} = \\sigma'(z_{l-1}) \\odot (W_l^\\top \\delta_l)$ and
    the bound $\\sigma' \\le 1/4$, and explain why the skip connections change it. Quote the
    printed numbers.
    """),
    manual("hypothesis_verdict", 2, """
    *Model answer.* In the plain network every step back multiplies the gradient by a
    sigmoid derivative (at most 1/4, about 0.2 for these pre-activations) and by a Glorot
    weight matrix that does not make up for it, so the gradient falls geometrically towards
    the input: about 13 orders of magnitude between the output layer (~1) and the first layer
    (~1e-13). The first layers then receive essentially no learning signal. With skip
    connections, $h_l = h_{l-1} + f(h_{l-1})$ and the recursion becomes
    $\\delta_{l-1} = \\delta_l + (\\ldots)$: the identity path carries the output's gradient to
    every layer untouched, so the first layer's gradient no longer vanishes (about 0.2 instead
    of 1e-13). The output layer's gradient grows instead (about 100): every block adds its
    output to the running sum, so the activations, whose std grows from 0.16 to about 1.8,
    and with them the last layer's gradient, grow with depth. Verdict: the hypothesis that
    skip connections remove the vanishing gradient is confirmed.
    """, rubric=(
        "plain: the first layer's gradient is about 1e-13 against about 1 at the output (ten orders or more); with skip connections the first layer's gradient is of order 0.1 to 1 and the activation std grows with depth.",
        "each step back multiplies by σ' ≤ 1/4 and a weight matrix that does not compensate, so the gradient shrinks geometrically; a skip connection adds δ_l itself to δ_(l-1), an identity path that carries the gradient back unshrunk.")),
]

cells += challenge('residual', 'a residual block', """
He et al. (2016) add each block's input to its output, $y = x + f(x)$: the gradient reaching
$x$ is the upstream gradient plus what flows through $f$, so it cannot vanish however
deep the stack. Write `ResidualBlock(width)`, an `nn.Module` whose `forward` returns
`x + torch.tanh(self.linear(x))` with `self.linear = nn.Linear(width, width)`. Not graded;
the next cell builds 40 such blocks and 40 plain `Linear → Tanh` blocks and compares the
gradient norm at the first layer to the last.
""", """
class ResidualBlock(nn.Module):
    def __init__(self, width):
        super().__init__()
        ### BEGIN SOLUTION
        self.linear = nn.Linear(width, width)
        ### END SOLUTION

    def forward(self, x):
        ### BEGIN SOLUTION
        return x + torch.tanh(self.linear(x))
        ### END SOLUTION
""", """
torch.manual_seed(0)
block = ResidualBlock(8)
x = torch.randn(4, 8)
assert torch.allclose(block(x), x + torch.tanh(block.linear(x))), "forward is not x + tanh(linear(x))"
ratios = {}
for name, make in [("residual", lambda: ResidualBlock(32)), ("plain", lambda: nn.Sequential(nn.Linear(32, 32), nn.Tanh()))]:
    torch.manual_seed(0)
    net = nn.Sequential(*[make() for _ in range(40)])
    for module in net.modules():
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.3 / 32**0.5)
    net(torch.randn(16, 32)).pow(2).sum().backward()
    weights = [m.weight.grad.norm().item() for m in net.modules() if isinstance(m, nn.Linear)]
    ratios[name] = weights[0] / weights[-1]
    print(f"{name}: gradient norm at the first layer / at the last = {ratios[name]:.2e}")
assert ratios["residual"] > 0.1 and ratios["plain"] < 1e-6, "the residual stack should keep its gradient, the plain one lose it"
""")

NOTEBOOK = notebook(cells)
