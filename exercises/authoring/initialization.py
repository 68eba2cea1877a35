from nbtools import challenge, code, hidden, locked_code, manual, md, notebook, prediction, solution, tests

GUARD = """\
from nnlab import grading as g
import nnlab.init
FORBIDDEN = [torch.nn.init, nnlab.init]  # the functions this assignment asks you to write
REFERENCE_FANS = nnlab.init.fans  # lent to the other tasks: each task is graded on its own
"""

cells = [
    md("""
    # Exercise: weight initialization

    Companion to the chapter [Weight initialization](../book/initialization.md) of *Training neural
    networks by experiment* (in `make lab`, the book's chapters are in `book/`).

    You will write the four classic initializers yourself and then use them to see, in a
    50-layer network, why the choice matters. By the end you can:

    - compute `fan_in` and `fan_out` for linear and convolutional weights;
    - derive and implement Glorot (Xavier), He (Kaiming) and LeCun initialization;
    - predict, then measure, how the spread of activations evolves through a deep network
      under each of them.

    **Rules.** Write each function in its cell, replacing `raise NotImplementedError()`.
    Do not call `torch.nn.init` or `nnlab.init`: a task that delegates to them earns no
    credit. Tensor methods such as `weight.normal_(mean, std)` and `weight.uniform_(a, b)`
    are what you need. The cells below each task run some of the tests; more tests (with
    other shapes and arguments) run when your notebook is graded. Use
    **Validate** in the Assignments tab to check your notebook before submitting.
    """),
    locked_code("""
    import math

    import torch
    """, "imports"),
    md("""
    ## 1. Fans

    A weight of shape `(out, in)` maps `in` inputs to `out` outputs: each output sums
    `fan_in = in` terms, and each input feeds `fan_out = out` outputs. A convolution weight
    has shape `(out, in, *kernel)`: each output position sums `in × prod(kernel)` terms,
    so **both fans are multiplied by the number of kernel elements**.

    Write `fans(weight) -> tuple[int, int]` returning `(fan_in, fan_out)` as plain Python
    ints. A tensor with fewer than 2 dimensions has no fans: raise `ValueError`.
    """),
    solution("fans", """
    def fans(weight):
        \"\"\"(fan_in, fan_out) of a linear (out, in) or convolutional (out, in, *kernel) weight.\"\"\"
        ### BEGIN SOLUTION
        if weight.dim() < 2:
            raise ValueError(f"fans need a weight with at least 2 dims, got shape {tuple(weight.shape)}")
        receptive = math.prod(weight.shape[2:])
        return int(weight.shape[1] * receptive), int(weight.shape[0] * receptive)
        ### END SOLUTION
    """),
    tests("fans_visible", 1, setup=GUARD, body="""
    with g.forbid(FORBIDDEN, "fans"):
        g.assert_int_tuple(fans(torch.empty(8, 3)), (3, 8), "fans(torch.empty(8, 3))",
                           hint="a Linear weight has shape (out, in)")
        g.assert_int_tuple(fans(torch.empty(16, 8, 3, 5)), (120, 240), "fans(torch.empty(16, 8, 3, 5))",
                           hint="for a conv weight multiply both fans by the kernel size 3·5 = 15")
    g.assert_raises(ValueError, fans, torch.empty(7), call="fans(torch.empty(7))",
                    hint="a weight with fewer than 2 dims has no fan_in and fan_out")
    print("fans: visible tests passed")
    """),
    hidden("fans_hidden", 2, GUARD, """
    g.assert_no_delegation(fans, g.forbidden_functions(FORBIDDEN), "fans")
    rng = torch.Generator().manual_seed(1121)
    with g.forbid(FORBIDDEN, "fans"):
        for _ in range(30):
            dims = int(torch.randint(2, 6, (1,), generator=rng))
            shape = tuple(int(v) for v in torch.randint(1, 9, (dims,), generator=rng))
            kernel = math.prod(shape[2:])
            expected = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))  # torch as the oracle
            g.assert_int_tuple(fans(torch.empty(shape)), expected, f"fans(torch.empty{shape})",
                               hint=f"(out, in, *kernel): fan_in = in·{kernel}, fan_out = out·{kernel}")
    """),
    hidden("fans_validation", 1, GUARD, """
    g.assert_no_delegation(fans, g.forbidden_functions(FORBIDDEN), "fans")
    with g.forbid(FORBIDDEN, "fans"):
        for shape in [(5,), ()]:
            g.assert_raises(ValueError, fans, torch.empty(shape), call=f"fans(torch.empty{shape})",
                            hint="a weight with fewer than 2 dims has no fan_in and fan_out")
    """),
    md("""
    ## 2. Glorot (Xavier) initialization

    For `y = W x` with independent, zero-mean weights and inputs,
    $\\operatorname{Var}(y_i) = \\text{fan\\_in} \\cdot \\operatorname{Var}(w) \\cdot \\mathbb{E}[x^2]$.
    Keeping the variance of the activations constant on the way forward asks for
    $\\operatorname{Var}(w) = 1/\\text{fan\\_in}$; keeping the variance of the gradients constant
    on the way back asks for $1/\\text{fan\\_out}$. Glorot and Bengio (2010) take the compromise

    $$\\operatorname{Var}(w) = \\frac{2}{\\text{fan\\_in} + \\text{fan\\_out}} \\cdot \\text{gain}^2 .$$

    - `xavier_uniform_(weight, gain=1.0)`: fill `weight` **in place** with $U(-a, a)$,
      $a = \\text{gain}\\cdot\\sqrt{6/(\\text{fan\\_in}+\\text{fan\\_out})}$ (a uniform distribution on
      $(-a, a)$ has variance $a^2/3$), and return `weight`.
    - `xavier_normal_(weight, gain=1.0)`: fill it with $N(0, \\sigma^2)$,
      $\\sigma = \\text{gain}\\cdot\\sqrt{2/(\\text{fan\\_in}+\\text{fan\\_out})}$.

    One of the course's sources writes this as "N(0, √(2/(n_in+n_out)))" and calls it the
    variance: mind the difference between a variance and a standard deviation. Fill under
    `torch.no_grad()` so that it also works on a parameter that requires gradients.
    """),
    solution("xavier_uniform_", """
    def xavier_uniform_(weight, gain=1.0):
        \"\"\"Fill weight in place with U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out)); return it.\"\"\"
        ### BEGIN SOLUTION
        fan_in, fan_out = fans(weight)
        bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
        with torch.no_grad():
            return weight.uniform_(-bound, bound)
        ### END SOLUTION
    """),
    tests("xavier_uniform__visible", 1, setup=GUARD, body="""
    torch.manual_seed(0)
    w = torch.empty(300, 200)
    before = w.clone()
    with g.forbid(FORBIDDEN, "xavier_uniform_"), g.substitute(globals(), fans=REFERENCE_FANS):
        returned = xavier_uniform_(w)
    g.assert_in_place(returned, w, before, "xavier_uniform_(w)")
    g.assert_distribution(w, math.sqrt(6 / 500) / math.sqrt(3), "xavier_uniform_(torch.empty(300, 200))",
                          kind="uniform", formula="a/√3 with a = √(6/(200+300))")
    # a model's weight: an nn.Parameter that requires gradients, with a gain
    w = torch.nn.Parameter(torch.empty(200, 300))
    before = w.detach().clone()
    call = "xavier_uniform_(nn.Parameter(torch.empty(200, 300)), gain=2.0)"
    with g.forbid(FORBIDDEN, "xavier_uniform_"), g.substitute(globals(), fans=REFERENCE_FANS):
        returned = g.call_in_place_on_parameter(xavier_uniform_, w, call, gain=2.0)
    g.assert_in_place(returned, w, before, call)
    g.assert_distribution(w, 2.0 * math.sqrt(6 / 500) / math.sqrt(3), call, kind="uniform",
                          formula="a/√3 with a = 2·√(6/(200+300))")
    print("xavier_uniform_: visible tests passed")
    """),
    hidden("xavier_uniform__hidden", 2, GUARD, """
    g.assert_no_delegation(xavier_uniform_, g.forbidden_functions(FORBIDDEN), "xavier_uniform_")
    torch.manual_seed(1121)
    with g.forbid(FORBIDDEN, "xavier_uniform_"), g.substitute(globals(), fans=REFERENCE_FANS):
        for shape, gain in [((128, 96, 3), 5 / 3), ((64, 48, 3, 3), math.sqrt(2)), ((250, 400), 0.5)]:
            fan_in = shape[1] * math.prod(shape[2:])
            fan_out = shape[0] * math.prod(shape[2:])
            a = gain * math.sqrt(6 / (fan_in + fan_out))
            w = torch.nn.Parameter(torch.empty(shape))
            before = w.detach().clone()
            call = f"xavier_uniform_(nn.Parameter(torch.empty{shape}), gain={gain:.4g})"
            g.assert_in_place(g.call_in_place_on_parameter(xavier_uniform_, w, call, gain=gain), w, before, call)
            g.assert_distribution(w, a / math.sqrt(3), call, kind="uniform",
                                  formula=f"a/√3 with a = {gain:.4g}·√(6/({fan_in}+{fan_out}))")
    """),
    solution("xavier_normal_", """
    def xavier_normal_(weight, gain=1.0):
        \"\"\"Fill weight in place with N(0, std**2), std = gain * sqrt(2 / (fan_in + fan_out)); return it.\"\"\"
        ### BEGIN SOLUTION
        fan_in, fan_out = fans(weight)
        std = gain * math.sqrt(2.0 / (fan_in + fan_out))
        with torch.no_grad():
            return weight.normal_(0.0, std)
        ### END SOLUTION
    """),
    tests("xavier_normal__visible", 1, setup=GUARD, body="""
    torch.manual_seed(0)
    w = torch.empty(300, 200)
    before = w.clone()
    with g.forbid(FORBIDDEN, "xavier_normal_"), g.substitute(globals(), fans=REFERENCE_FANS):
        returned = xavier_normal_(w)
    g.assert_in_place(returned, w, before, "xavier_normal_(w)")
    g.assert_distribution(w, math.sqrt(2 / 500), "xavier_normal_(torch.empty(300, 200))", formula="√(2/(200+300))")
    # a model's weight: an nn.Parameter that requires gradients, with a gain
    w = torch.nn.Parameter(torch.empty(200, 300))
    before = w.detach().clone()
    call = "xavier_normal_(nn.Parameter(torch.empty(200, 300)), gain=0.5)"
    with g.forbid(FORBIDDEN, "xavier_normal_"), g.substitute(globals(), fans=REFERENCE_FANS):
        returned = g.call_in_place_on_parameter(xavier_normal_, w, call, gain=0.5)
    g.assert_in_place(returned, w, before, call)
    g.assert_distribution(w, 0.5 * math.sqrt(2 / 500), call, formula="0.5·√(2/(200+300))")
    print("xavier_normal_: visible tests passed")
    """),
    hidden("xavier_normal__hidden", 2, GUARD, """
    g.assert_no_delegation(xavier_normal_, g.forbidden_functions(FORBIDDEN), "xavier_normal_")
    torch.manual_seed(1122)
    with g.forbid(FORBIDDEN, "xavier_normal_"), g.substitute(globals(), fans=REFERENCE_FANS):
        for shape, gain in [((96, 128, 5), 5 / 3), ((32, 64, 3, 3), 2.0), ((400, 250), 0.7)]:
            fan_in = shape[1] * math.prod(shape[2:])
            fan_out = shape[0] * math.prod(shape[2:])
            w = torch.nn.Parameter(torch.empty(shape))
            before = w.detach().clone()
            call = f"xavier_normal_(nn.Parameter(torch.empty{shape}), gain={gain:.4g})"
            g.assert_in_place(g.call_in_place_on_parameter(xavier_normal_, w, call, gain=gain), w, before, call)
            g.assert_distribution(w, gain * math.sqrt(2 / (fan_in + fan_out)), call,
                                  formula=f"{gain:.4g}·√(2/({fan_in}+{fan_out}))")
    """),
    md("""
    ## 3. He (Kaiming) initialization

    A ReLU sets half of its inputs to zero, which halves $\\mathbb{E}[x^2]$ from one layer to
    the next. He et al. (2015) compensate with twice LeCun's variance:
    $\\operatorname{Var}(w) = 2/\\text{fan}$, where `fan` is `fan_in` (`mode="fan_in"`, preserves
    the forward signal) or `fan_out` (`mode="fan_out"`, preserves the backward gradients).

    Write `he_normal_(weight, mode="fan_in")`: in place, $N(0, 2/\\text{fan})$; any other `mode`
    raises `ValueError`. PyTorch's own `kaiming_normal_` defaults to `mode="fan_in"` too; a
    network initialized with `fan_out` keeps the gradients' scale instead of the activations'.
    """),
    solution("he_normal_", """
    def he_normal_(weight, mode="fan_in"):
        \"\"\"Fill weight in place with N(0, 2 / fan), fan = fan_in or fan_out by mode; return it.\"\"\"
        ### BEGIN SOLUTION
        if mode not in ("fan_in", "fan_out"):
            raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
        fan_in, fan_out = fans(weight)
        fan = fan_in if mode == "fan_in" else fan_out
        with torch.no_grad():
            return weight.normal_(0.0, math.sqrt(2.0 / fan))
        ### END SOLUTION
    """),
    tests("he_normal__visible", 1, setup=GUARD, body="""
    torch.manual_seed(0)
    w = torch.empty(256, 512)
    before = w.clone()
    with g.forbid(FORBIDDEN, "he_normal_"), g.substitute(globals(), fans=REFERENCE_FANS):
        returned = he_normal_(w)
    g.assert_in_place(returned, w, before, "he_normal_(w)")
    g.assert_distribution(w, math.sqrt(2 / 512), "he_normal_(torch.empty(256, 512))", formula="√(2/fan_in) = √(2/512)")
    w = torch.empty(256, 512)
    before = w.clone()
    with g.forbid(FORBIDDEN, "he_normal_"), g.substitute(globals(), fans=REFERENCE_FANS):
        returned = he_normal_(w, mode="fan_out")
    g.assert_in_place(returned, w, before, "he_normal_(w, mode='fan_out')")
    g.assert_distribution(w, math.sqrt(2 / 256), "he_normal_(torch.empty(256, 512), mode='fan_out')",
                          formula="√(2/fan_out) = √(2/256)")
    g.assert_raises(ValueError, he_normal_, torch.empty(4, 4), mode="fan_sum",
                    call="he_normal_(w, mode='fan_sum')", hint="only 'fan_in' and 'fan_out' are valid modes")
    print("he_normal_: visible tests passed")
    """),
    hidden("he_normal__hidden", 2, GUARD, """
    g.assert_no_delegation(he_normal_, g.forbidden_functions(FORBIDDEN), "he_normal_")
    torch.manual_seed(1123)
    with g.forbid(FORBIDDEN, "he_normal_"), g.substitute(globals(), fans=REFERENCE_FANS):
        for shape, mode in [((256, 512), "fan_out"), ((64, 32, 3, 3), "fan_in"), ((32, 96, 5), "fan_out")]:
            fan = (shape[1] if mode == "fan_in" else shape[0]) * math.prod(shape[2:])
            w = torch.empty(shape)
            before = w.clone()
            call = f"he_normal_(torch.empty{shape}, mode={mode!r})"
            g.assert_in_place(he_normal_(w, mode=mode), w, before, call)
            g.assert_distribution(w, math.sqrt(2 / fan), call, formula=f"√(2/{mode}) = √(2/{fan})")
    """),
    hidden("he_normal__validation", 1, GUARD, """
    g.assert_no_delegation(he_normal_, g.forbidden_functions(FORBIDDEN), "he_normal_")
    with g.forbid(FORBIDDEN, "he_normal_"), g.substitute(globals(), fans=REFERENCE_FANS):
        for mode in ("fan_avg", "FAN_IN"):
            g.assert_raises(ValueError, he_normal_, torch.empty(4, 4), mode=mode,
                            call=f"he_normal_(w, mode={mode!r})", hint="only 'fan_in' and 'fan_out' are valid modes")
    """),
    md("""
    ## 4. LeCun initialization

    LeCun et al. (1998) use $\\operatorname{Var}(w) = 1/\\text{fan\\_in}$: the variance that keeps
    a linear layer's output variance equal to its input variance. Self-normalizing networks
    (SELU activations) rely on it. Write `lecun_normal_(weight)`: in place, $N(0, 1/\\text{fan\\_in})$.

    Every initializer here receives plain tensors and `nn.Parameter`s (a model's weights,
    which require gradients): fill under `torch.no_grad()`, and keep `requires_grad` as it was.
    """),
    solution("lecun_normal_", """
    def lecun_normal_(weight):
        \"\"\"Fill weight in place with N(0, 1 / fan_in); return it.\"\"\"
        ### BEGIN SOLUTION
        fan_in, _ = fans(weight)
        with torch.no_grad():
            return weight.normal_(0.0, math.sqrt(1.0 / fan_in))
        ### END SOLUTION
    """),
    tests("lecun_normal__visible", 1, setup=GUARD, body="""
    torch.manual_seed(0)
    w = torch.empty(256, 512)
    before = w.clone()
    with g.forbid(FORBIDDEN, "lecun_normal_"), g.substitute(globals(), fans=REFERENCE_FANS):
        returned = lecun_normal_(w)
    g.assert_in_place(returned, w, before, "lecun_normal_(w)")
    g.assert_distribution(w, math.sqrt(1 / 512), "lecun_normal_(torch.empty(256, 512))", formula="√(1/fan_in) = √(1/512)")
    w = torch.nn.Parameter(torch.empty(128, 64, 3))
    before = w.detach().clone()
    call = "lecun_normal_(nn.Parameter(torch.empty(128, 64, 3)))"
    with g.forbid(FORBIDDEN, "lecun_normal_"), g.substitute(globals(), fans=REFERENCE_FANS):
        returned = g.call_in_place_on_parameter(lecun_normal_, w, call)
    g.assert_in_place(returned, w, before, call)
    g.assert_distribution(w, math.sqrt(1 / (64 * 3)), call, formula="√(1/fan_in) = √(1/(64·3))")
    print("lecun_normal_: visible tests passed")
    """),
    hidden("lecun_normal__hidden", 1, GUARD, """
    g.assert_no_delegation(lecun_normal_, g.forbidden_functions(FORBIDDEN), "lecun_normal_")
    torch.manual_seed(1124)
    with g.forbid(FORBIDDEN, "lecun_normal_"), g.substitute(globals(), fans=REFERENCE_FANS):
        for shape in [(128, 64, 5), (300, 700)]:
            fan_in = shape[1] * math.prod(shape[2:])
            w = torch.empty(shape)
            before = w.clone()
            call = f"lecun_normal_(torch.empty{shape})"
            g.assert_in_place(lecun_normal_(w), w, before, call)
            g.assert_distribution(w, math.sqrt(1 / fan_in), call, formula=f"√(1/{fan_in})")
    """),
    md("""
    ## 5. Experiment: 50 layers deep

    Your initializers now go into a real network. The cell below builds 50-layer MLPs
    (256 units per layer) with `nnlab`, re-initializes every `Linear` weight with *your*
    functions (biases at zero), passes 1000 random inputs through and plots the standard
    deviation of each layer's output. Before running it, write down what you expect for
    each of the four curves.
    """),
    prediction('the std of each of the four curves after layer 50, before you run the cell'),
    code("""
    import nnlab
    from nnlab import plots

    torch.manual_seed(0)
    x = torch.randn(1000, 256)
    axis = None
    for activation, initializer in [("tanh", xavier_normal_), ("tanh", he_normal_),
                                    ("relu", xavier_normal_), ("relu", he_normal_)]:
        model = nnlab.mlp(256, 256, width=256, depth=50, activation=activation)
        for module in model.modules():
            if isinstance(module, torch.nn.Linear):
                initializer(module.weight)
                with torch.no_grad():
                    module.bias.zero_()
        stds = [stats.std for stats in nnlab.activation_stats(model, x)][:-1]  # hidden layers
        figure = plots.plot_layer_statistic(stds, "activation std", ax=axis,
                                            label=f"{activation}, {initializer.__name__}")
        axis = figure.axes[0]
        print(f"{activation:>4} + {initializer.__name__:<15} std after layer 1: {stds[0]:.3f}, after layer 50: {stds[-1]:.3g}")
    """),
    md("""
    ## 6. Hypothesis and verdict

    In a few sentences: which initializer did you expect to keep the spread of activations
    stable through 50 **ReLU** layers, and which through 50 **tanh** layers, and why (use
    the variance argument)? What does the figure show? Give your verdict on the rule of
    thumb "Glorot for tanh, He for ReLU", with the numbers printed above.
    """),
    manual("hypothesis_verdict", 2, """
    *Model answer.* A ReLU zeroes half of its pre-activations, so
    $\\mathbb{E}[\\mathrm{relu}(z)^2] = \\operatorname{Var}(z)/2$. With Glorot,
    $\\operatorname{Var}(w) = 2/(256+256) = 1/256$, so each layer halves the variance: after 50
    layers it has fallen by $2^{50}$ and the std by $2^{25} \\approx 3\\cdot 10^7$ (the printed
    $\\sim 10^{-8}$). He's $\\operatorname{Var}(w) = 2/256$ exactly compensates and the std stays
    of order 0.5. Glorot's argument assumes an activation that is linear with slope 1; tanh
    is only near 0 and contracts everything else, so each layer loses a little variance and
    the std decays from about 0.6 to 0.1 over 50 layers. He's larger variance compensates
    that contraction and holds the std near 0.55 without saturating units. Verdict: "He for
    ReLU" is confirmed; "Glorot for tanh" is not, at this depth: a gain above 1 (He's
    $\\sqrt2$, or the 5/3 PyTorch recommends for tanh) keeps the signal, plain Glorot lets
    it fade.
    """, rubric=(
        'ReLU with Glorot ends around 1e-8 (anything below 1e-6); ReLU with He stays of order 0.5 (0.2 to 2); tanh with Glorot fades to about 0.1; tanh with He holds near 0.5.',
        "a ReLU halves E[x²], so Glorot's Var(w) = 1/256 loses a factor 2 per layer (2⁵⁰ in variance) while He's 2/fan_in makes up for it; tanh contracts all but small inputs, so Glorot's variance (right for a slope-1 activation) fades and a gain above 1 holds it.")),
]

cells += challenge('orthogonal', 'orthogonal initialization', """
Saxe et al. (2014) initialize a weight matrix with orthonormal rows or columns, scaled by
`gain`: every singular value equals `gain`, so a deep *linear* network keeps the norm of
every signal exactly. Write `orthogonal_(weight, gain=1.0)`, in place like the tasks above,
for a 2-D `weight` of shape `(rows, cols)`: draw a Gaussian matrix, take its QR
decomposition (`torch.linalg.qr`), fix the signs with the diagonal of `R` so that the
result is uniformly distributed, transpose when `rows < cols`, and copy `gain * Q`. Not
graded; the next cell checks $W W^\\top = \\text{gain}^2 I$ (or $W^\\top W$) and that the
values match the distribution of `torch.nn.init.orthogonal_`.
""", """
def orthogonal_(weight, gain=1.0):
    ### BEGIN SOLUTION
    rows, cols = weight.shape
    flat = torch.randn(max(rows, cols), min(rows, cols), dtype=torch.float64)
    q, r = torch.linalg.qr(flat)
    q = q * torch.sign(torch.diagonal(r))
    if rows < cols:
        q = q.T
    with torch.no_grad():
        weight.copy_(gain * q)
    return weight
    ### END SOLUTION
""", """
for shape, gain in [((64, 32), 1.0), ((20, 50), 2.0)]:
    w = orthogonal_(torch.empty(shape), gain=gain)
    small = w @ w.T if shape[0] <= shape[1] else w.T @ w
    assert torch.allclose(small, gain**2 * torch.eye(min(shape)), atol=1e-4), "the rows (or columns) are not orthonormal times gain"
    ours, theirs = w.abs().mean().item(), torch.nn.init.orthogonal_(torch.empty(shape), gain=gain).abs().mean().item()
    assert abs(ours - theirs) < 0.15 * theirs, f"mean |w| {ours:.3f}, torch's orthogonal_ gives about {theirs:.3f}"
""")

NOTEBOOK = notebook(cells)
