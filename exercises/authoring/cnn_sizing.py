from nbtools import challenge, code, hidden, locked_code, manual, md, notebook, prediction, solution, tests

GUARD = """\
from nnlab import grading as g
import nnlab.cnn_sizing
FORBIDDEN = [nnlab.cnn_sizing]  # the reference solutions of this assignment
REFERENCE_CONV_PARAMS = nnlab.cnn_sizing.conv_params  # lent to separable_conv_params: each task is graded on its own
"""

cells = [
    md("""
    # Exercise: sizing convolutional networks

    Companion to the chapter [Sizing CNNs](../book/cnn_sizing.md) of *Training neural
    networks by experiment* (in `make lab`, the book's chapters are in `book/`).

    Before training a CNN you should be able to say, on paper, how large each feature map
    is, how many parameters each layer has, and how much of the input each output sees.
    You will write these four calculations and check them against real PyTorch layers:

    - the output size of a convolution with padding, stride and dilation;
    - the parameter count of a convolution, grouped or not;
    - the parameter count of a depthwise-separable convolution;
    - the receptive field of a stack of layers.

    **Rules.** Replace each `raise NotImplementedError()` with your code. Do not call
    `nnlab.cnn_sizing`: a task that delegates to it earns no credit. You may use PyTorch
    layers to *check* your answers in your own cells. The cells below each task run some of
    the tests; more run when your notebook is graded.
    """),
    locked_code("""
    import math

    import torch
    """, "imports"),
    md("""
    ## 1. Output size

    A kernel of size $k$ with dilation $d$ spans $d(k-1)+1$ inputs. On an input of size $n$
    padded by $p$ on each side, it fits $\\lfloor (n + 2p - d(k-1) - 1)/s \\rfloor + 1$ times
    with stride $s$.

    Write `conv_output_size(n, kernel_size, stride=1, padding=0, dilation=1) -> int` for
    one spatial dimension. Raise `ValueError` when the result would be below 1 (the kernel
    does not fit) or when `kernel_size` or `stride` is not positive.
    """),
    solution("conv_output_size", """
    def conv_output_size(n, kernel_size, stride=1, padding=0, dilation=1):
        \"\"\"Outputs along one spatial dimension of a convolution.\"\"\"
        ### BEGIN SOLUTION
        if kernel_size < 1 or stride < 1:
            raise ValueError(f"kernel_size and stride must be positive, got {kernel_size} and {stride}")
        size = (n + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1
        if size < 1:
            raise ValueError(f"the kernel does not fit: output size {size}")
        return size
        ### END SOLUTION
    """),
    tests("conv_output_size_visible", 1, setup=GUARD, body="""
    with g.forbid(FORBIDDEN, "conv_output_size"):
        g.assert_int(conv_output_size(32, 3, 1, 1), 32, "conv_output_size(32, 3, stride=1, padding=1)",
                     hint="a 3-wide kernel with padding 1 keeps the size")
        g.assert_int(conv_output_size(32, 5), 28, "conv_output_size(32, 5)",
                     hint="a kernel of size k removes k - 1 positions without padding")
        g.assert_int(conv_output_size(7, 3, stride=2, dilation=2), 2,
                     "conv_output_size(7, 3, stride=2, dilation=2)",
                     hint="a 3-wide kernel with dilation 2 spans 5 inputs")
        g.assert_raises(ValueError, conv_output_size, 4, 6, call="conv_output_size(4, 6)",
                        hint="a 6-wide kernel does not fit in 4 inputs: raise ValueError")
        g.assert_raises(ValueError, conv_output_size, 10, 3, stride=0, call="conv_output_size(10, 3, stride=0)",
                        hint="kernel_size and stride must be positive: raise ValueError")
    print("conv_output_size: visible tests passed")
    """),
    hidden("conv_output_size_hidden", 2, GUARD, """
    g.assert_no_delegation(conv_output_size, g.forbidden_functions(FORBIDDEN), "conv_output_size")
    rng = torch.Generator().manual_seed(1121)
    checked = 0
    with g.forbid(FORBIDDEN, "conv_output_size"):
        while checked < 150:
            n, k, s, p, d = (int(torch.randint(lo, hi, (1,), generator=rng)) for lo, hi in
                             [(1, 65), (1, 8), (1, 5), (0, 4), (1, 4)])
            if n + 2 * p < d * (k - 1) + 1:
                continue
            expected = torch.nn.functional.conv1d(torch.zeros(1, 1, n), torch.zeros(1, 1, k), stride=s,
                                                  padding=p, dilation=d).shape[-1]
            g.assert_int(conv_output_size(n, k, s, p, d), expected,
                         f"conv_output_size({n}, {k}, stride={s}, padding={p}, dilation={d})",
                         hint="⌊(n + 2·padding − dilation·(kernel_size − 1) − 1) / stride⌋ + 1")
            checked += 1
    """),
    hidden("conv_output_size_validation", 1, GUARD, """
    g.assert_no_delegation(conv_output_size, g.forbidden_functions(FORBIDDEN), "conv_output_size")
    with g.forbid(FORBIDDEN, "conv_output_size"):
        for args, why in [((3, 5), "a 5-wide kernel does not fit in 3 inputs"),
                          ((10, 3, 1, 0, 5), "a 3-wide kernel with dilation 5 spans 11 > 10 inputs"),
                          ((10, 0), "kernel_size 0"), ((10, 3, 0), "stride 0")]:
            g.assert_raises(ValueError, conv_output_size, *args, call=f"conv_output_size{args}", hint=why + ": raise ValueError")
    """),
    md("""
    ## 2. Parameters of a convolution

    A convolution from `in_channels` to `out_channels` has one filter per output channel,
    each of size `in_channels × kernel elements`, plus one bias per output channel. With
    `groups = G`, the channels are split into G independent groups: each filter only sees
    `in_channels / G` input channels.

    Write `conv_params(in_channels, out_channels, kernel_size, bias=True, groups=1) -> int`.
    An int `kernel_size` means a square 2-D kernel (`3` is 3×3); a tuple gives each
    spatial dimension (`(3,)` for 1-D, `(3, 5)`, `(3, 3, 3)` for 3-D).
    """),
    solution("conv_params", """
    def conv_params(in_channels, out_channels, kernel_size, bias=True, groups=1):
        \"\"\"Number of parameters of a (grouped) convolution.\"\"\"
        ### BEGIN SOLUTION
        elements = kernel_size * kernel_size if isinstance(kernel_size, int) else math.prod(kernel_size)
        weights = out_channels * (in_channels // groups) * elements
        return weights + (out_channels if bias else 0)
        ### END SOLUTION
    """),
    tests("conv_params_visible", 1, setup=GUARD, body="""
    with g.forbid(FORBIDDEN, "conv_params"):
        g.assert_int(conv_params(3, 16, 3), 448, "conv_params(3, 16, 3)", hint="16 filters of 3·3·3 weights, plus 16 biases")
        g.assert_int(conv_params(16, 32, 3, bias=False), 4608, "conv_params(16, 32, 3, bias=False)")
        g.assert_int(conv_params(8, 8, (5,)), 328, "conv_params(8, 8, (5,))", hint="(5,) is a 1-D kernel of 5 elements")
        g.assert_int(conv_params(8, 16, (3, 3), groups=4), 304, "conv_params(8, 16, (3, 3), groups=4)",
                     hint="with groups, each filter sees in_channels / groups channels: 16 · 2 · 9 weights + 16 biases")
    print("conv_params: visible tests passed")
    """),
    hidden("conv_params_hidden", 2, GUARD, """
    g.assert_no_delegation(conv_params, g.forbidden_functions(FORBIDDEN), "conv_params")
    rng = torch.Generator().manual_seed(1122)
    layers = {1: torch.nn.Conv1d, 2: torch.nn.Conv2d, 3: torch.nn.Conv3d}
    with g.forbid(FORBIDDEN, "conv_params"):
        for _ in range(40):
            groups = [1, 2, 4][int(torch.randint(0, 3, (1,), generator=rng))]
            cin = groups * int(torch.randint(1, 9, (1,), generator=rng))
            cout = groups * int(torch.randint(1, 9, (1,), generator=rng))
            dims = int(torch.randint(1, 4, (1,), generator=rng))
            kernel = tuple(int(v) for v in torch.randint(1, 6, (dims,), generator=rng))
            bias = bool(torch.randint(0, 2, (1,), generator=rng))
            as_int = dims == 2 and kernel[0] == kernel[1] and bool(torch.randint(0, 2, (1,), generator=rng))
            argument = kernel[0] if as_int else kernel
            layer = layers[dims](cin, cout, kernel, bias=bias, groups=groups)
            expected = sum(p.numel() for p in layer.parameters())
            g.assert_int(conv_params(cin, cout, argument, bias=bias, groups=groups), expected,
                         f"conv_params({cin}, {cout}, {argument!r}, bias={bias}, groups={groups})",
                         hint="out_channels · (in_channels / groups) · kernel elements, plus out_channels biases")
    """),
    md("""
    ## 3. Depthwise-separable convolution

    A depthwise-separable convolution (MobileNet, Xception) replaces one $k \\times k$
    convolution by two cheaper ones: a **depthwise** convolution with one $k \\times k$
    filter per input channel (`groups = in_channels`), then a **pointwise** $1 \\times 1$
    convolution that mixes channels. Each has its own bias when `bias=True`.

    Write `separable_conv_params(in_channels, out_channels, kernel_size, bias=True) -> int`.
    """),
    solution("separable_conv_params", """
    def separable_conv_params(in_channels, out_channels, kernel_size, bias=True):
        \"\"\"Parameters of a depthwise k×k convolution followed by a pointwise 1×1 convolution.\"\"\"
        ### BEGIN SOLUTION
        elements = kernel_size * kernel_size if isinstance(kernel_size, int) else math.prod(kernel_size)
        depthwise = in_channels * elements + (in_channels if bias else 0)
        pointwise = in_channels * out_channels + (out_channels if bias else 0)
        return depthwise + pointwise
        ### END SOLUTION
    """),
    tests("separable_conv_params_visible", 1, setup=GUARD, body="""
    with g.forbid(FORBIDDEN, "separable_conv_params"), g.substitute(globals(), conv_params=REFERENCE_CONV_PARAMS):
        g.assert_int(separable_conv_params(32, 64, 3), 2432, "separable_conv_params(32, 64, 3)",
                     hint="depthwise 32·3·3 + 32 biases, pointwise 32·64 + 64 biases")
        g.assert_int(separable_conv_params(32, 64, 3, bias=False), 2336, "separable_conv_params(32, 64, 3, bias=False)",
                     hint="without biases: depthwise 32·3·3, pointwise 32·64")
    print("separable_conv_params: visible tests passed")
    """),
    hidden("separable_conv_params_hidden", 2, GUARD, """
    g.assert_no_delegation(separable_conv_params, g.forbidden_functions(FORBIDDEN), "separable_conv_params")
    rng = torch.Generator().manual_seed(1123)
    with g.forbid(FORBIDDEN, "separable_conv_params"), g.substitute(globals(), conv_params=REFERENCE_CONV_PARAMS):
        for _ in range(30):
            cin, cout, k = (int(torch.randint(1, hi, (1,), generator=rng)) for hi in (33, 65, 8))
            bias = bool(torch.randint(0, 2, (1,), generator=rng))
            depthwise = torch.nn.Conv2d(cin, cin, k, groups=cin, bias=bias)
            pointwise = torch.nn.Conv2d(cin, cout, 1, bias=bias)
            expected = sum(p.numel() for p in [*depthwise.parameters(), *pointwise.parameters()])
            g.assert_int(separable_conv_params(cin, cout, k, bias=bias), expected,
                         f"separable_conv_params({cin}, {cout}, {k}, bias={bias})",
                         hint="depthwise: in·k·k (+ in biases); pointwise: in·out (+ out biases)")
    """),
    md("""
    ## 4. Receptive field

    The receptive field of an output is the number of consecutive inputs it depends on.
    A layer with kernel $k_l$ widens it by $k_l - 1$ steps of its *input*, and each input
    step of layer $l$ is $\\prod_{i<l} s_i$ steps of the original input, so

    $$r = 1 + \\sum_l (k_l - 1) \\prod_{i<l} s_i .$$

    Write `receptive_field(layers) -> int` for a list of `(kernel_size, stride)` pairs
    (dilation 1, in order from the input). A max-pool of size 2 and stride 2 is `(2, 2)`.
    """),
    solution("receptive_field", """
    def receptive_field(layers):
        \"\"\"Receptive field of a stack of (kernel_size, stride) layers.\"\"\"
        ### BEGIN SOLUTION
        field, jump = 1, 1
        for kernel, stride in layers:
            field += (kernel - 1) * jump
            jump *= stride
        return field
        ### END SOLUTION
    """),
    tests("receptive_field_visible", 1, setup=GUARD, body="""
    with g.forbid(FORBIDDEN, "receptive_field"):
        g.assert_int(receptive_field([(3, 1), (3, 1)]), 5, "receptive_field([(3, 1), (3, 1)])",
                     hint="two 3×3 convolutions see as far as one 5×5")
        g.assert_int(receptive_field([(3, 2), (3, 2)]), 7, "receptive_field([(3, 2), (3, 2)])",
                     hint="after a stride of 2, each step of the second layer covers 2 inputs")
        g.assert_int(receptive_field([]), 1, "receptive_field([])", hint="no layer: each output is one input")
    print("receptive_field: visible tests passed")
    """),
    hidden("receptive_field_hidden", 2, GUARD, """
    g.assert_no_delegation(receptive_field, g.forbidden_functions(FORBIDDEN), "receptive_field")

    def measured_receptive_field(layers, n=400):
        # Oracle: the span of inputs that reach the central output, read off the gradient.
        x = torch.zeros(1, 1, n, requires_grad=True)
        h = x
        for k, s in layers:
            h = torch.nn.functional.conv1d(h, torch.ones(1, 1, k), stride=s)
        h[0, 0, h.shape[-1] // 2].backward()
        touched = torch.nonzero(x.grad[0, 0]).flatten()
        return int(touched.max() - touched.min() + 1)

    rng = torch.Generator().manual_seed(1124)
    with g.forbid(FORBIDDEN, "receptive_field"):
        for _ in range(30):
            depth = int(torch.randint(1, 6, (1,), generator=rng))
            layers = [(int(torch.randint(1, 6, (1,), generator=rng)), int(torch.randint(1, 3, (1,), generator=rng)))
                      for _ in range(depth)]
            g.assert_int(receptive_field(layers), measured_receptive_field(layers), f"receptive_field({layers})",
                         hint="r = 1 + Σ (k_l − 1) · (product of the strides before layer l)")
    """),
    md("""
    ## 5. Experiment: the course's MNIST-1D CNN, sized by hand

    The introduction's CNN reaches over 99 % on MNIST-1D with four convolutions of 64
    channels (kernel 5, padding 2), BatchNorm (2 parameters per channel, convolutions
    without bias), a max-pool after the second convolution and a linear head on 64 pooled
    features. Predict its parameter count and the receptive field of its last convolution
    with your functions, then compare with the real model built by `nnlab`.
    """),
    prediction('the parameter count and the receptive field of the last convolution'),
    code("""
    import nnlab

    model = nnlab.cnn1d(channels=(64, 64, 64, 64), kernel_size=5, pool_after=(1,))
    convs = [conv_params(1, 64, (5,), bias=False)] + [conv_params(64, 64, (5,), bias=False)] * 3
    predicted = sum(convs) + 4 * 2 * 64 + (64 * 10 + 10)
    print(f"predicted {predicted} parameters, nnlab counts {nnlab.count_parameters(model)}")

    field = receptive_field([(5, 1), (5, 1), (2, 2), (5, 1), (5, 1)])
    length = 40
    for layer, (k, s) in enumerate([(5, 1), (5, 1), (2, 2), (5, 1), (5, 1)]):
        length = conv_output_size(length, k, stride=s, padding=(k - 1) // 2 if s == 1 else 0)
    print(f"each output of the last convolution sees {field} of the 40 input samples; "
          f"the last feature map has length {length}")
    """),
    md("""
    ## 6. Hypothesis and verdict

    The source notes print the output size as $\\lfloor (N-2+2P)/S \\rfloor + 1$. State a
    hypothesis about when that formula gives the right answer, test it with your
    `conv_output_size` on a few layers (write the cell yourself), and give your verdict.
    """),
    manual("hypothesis_verdict", 2, """
    *Model answer.* Hypothesis: the printed formula is the general
    $\\lfloor (N - F + 2P)/S \\rfloor + 1$ with $F = 2$ substituted, so it is right only for
    kernels of size 2. Test with $N = 32$, $P = 0$, $S = 1$: the printed formula gives 31;
    `conv_output_size(32, 2)` gives 31, `conv_output_size(32, 3)` gives 30 and
    `conv_output_size(32, 5)` gives 28. Verdict: refuted as a general formula. It holds for
    $F = 2$ only; the general one is $\\lfloor (N - F + 2P)/S \\rfloor + 1$, and with dilation
    $D$, $\\lfloor (N + 2P - D(F-1) - 1)/S \\rfloor + 1$.
    """, rubric=(
        'with N = 32, P = 0, S = 1: the printed formula gives 31; conv_output_size gives 31 for F = 2, 30 for F = 3 and 28 for F = 5.',
        'the printed formula is the general ⌊(N − F + 2P)/S⌋ + 1 with F = 2 substituted, so it holds for kernels of size 2 only (with dilation D: ⌊(N + 2P − D(F − 1) − 1)/S⌋ + 1).')),
]

cells += challenge('conv_flops', 'the cost of a convolution', """
Parameters are not cost: a convolution's multiply-accumulates grow with the length of its
output too. Write `conv_macs(in_channels, out_channels, kernel_size, output_length,
groups=1)`, the multiply-accumulates of one 1-D convolution over one example (bias
excluded). Not graded; the next cell counts what PyTorch actually computes with
`torch.utils.flop_counter.FlopCounterMode` (which reports 2 FLOPs per multiply-accumulate).
""", """
def conv_macs(in_channels, out_channels, kernel_size, output_length, groups=1):
    ### BEGIN SOLUTION
    return out_channels * output_length * (in_channels // groups) * kernel_size
    ### END SOLUTION
""", """
from torch import nn
from torch.utils.flop_counter import FlopCounterMode
for c_in, c_out, k, n, groups in [(3, 16, 5, 40, 1), (16, 32, 3, 20, 4), (8, 8, 7, 100, 8)]:
    layer = nn.Conv1d(c_in, c_out, k, groups=groups, bias=False)
    counter = FlopCounterMode(display=False)
    with counter:
        out = layer(torch.randn(1, c_in, n))
    expected = counter.get_total_flops() // 2
    got = conv_macs(c_in, c_out, k, out.shape[-1], groups=groups)
    assert got == expected, f"Conv1d({c_in}, {c_out}, {k}, groups={groups}) on length {n}: {got}; PyTorch computes {expected}"
""")

NOTEBOOK = notebook(cells)
