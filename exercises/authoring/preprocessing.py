from nbtools import challenge, code, hidden, locked_code, manual, md, notebook, prediction, solution, tests

GUARD = """\
import types

from nnlab import grading as g
import nnlab.preprocessing
import nnlab.data
from sklearn.preprocessing import MinMaxScaler, StandardScaler  # the oracle
FORBIDDEN = [nnlab.preprocessing]  # the reference solutions of this assignment


def no_delegation(task):
    return g.forbid(FORBIDDEN, task)


def assert_pair(result, call):
    assert isinstance(result, tuple) and len(result) == 2, f"{call} must return a tuple of two tensors, got {type(result).__name__}"


def scaled_features(seed, n=60, d=5, dtype=torch.float64):
    # features in very different units and offsets, as real tables have
    rng = torch.Generator().manual_seed(seed)
    scales = 10.0 ** (4 * torch.rand(d, generator=rng, dtype=dtype) - 2)
    offsets = 100 * torch.randn(d, generator=rng, dtype=dtype)
    return torch.randn(n, d, generator=rng, dtype=dtype) * scales + offsets
"""

cells = [
    md("""
    # Exercise: preprocessing the inputs

    Companion to the chapter *Data preprocessing* (`book/preprocessing.md`) of *Training
    neural networks by experiment*.

    A network trained by gradient descent cares about the scale of its inputs: a feature
    measured in thousands gets gradients a thousand times larger than one measured in
    thousandths. You will write the two usual rescalings, standardization and min-max
    scaling, each in two halves: a `fit_` function that computes the statistics **from the
    training split only**, and a transform that applies those numbers, unchanged, to any
    split. Then you will measure what scaling does to a model trained with SGD, and what a
    statistic computed on the test split does to its score.

    **Rules.** Replace each `raise NotImplementedError()` with your code. Do not call
    `nnlab.preprocessing`: a task that delegates to it earns no credit. Tensor arithmetic
    (`mean`, `std`, `min`, `max`, `torch.where`) is yours to use; scikit-learn's scalers are
    the tests' oracle. Features run along dim 1, samples along dim 0. The cells below each
    task run some of the tests; more run when your notebook is graded.
    """),
    locked_code("""
    import torch
    """, "imports"),
    md("""
    ## 1. Standardization

    Write `fit_standardizer(x_train)` returning the pair `(mean, std)`: for each feature
    (column), the mean and the **population** standard deviation (`unbiased=False`, dividing by
    $N$, as scikit-learn's `StandardScaler` does). A feature that is constant in the training
    split has standard deviation 0: give it 1 instead, so that standardizing centres it
    without dividing by zero. `x_train` must be a matrix (samples, features): raise
    `ValueError` for any other number of dimensions. Leave `x_train` as it was (compute new
    tensors; do not subtract in place): the same split is standardized afterwards.

    Then write `standardize(x, mean, std)` = $(x - \\text{mean}) / \\text{std}$, feature by feature,
    for any split `x`.
    """),
    solution("fit_standardizer", """
    def fit_standardizer(x_train):
        \"\"\"(mean, std) of each feature of x_train; a std of 0 becomes 1.\"\"\"
        ### BEGIN SOLUTION
        if x_train.dim() != 2:
            raise ValueError(f"x_train must be (samples, features), got shape {tuple(x_train.shape)}")
        mean = x_train.mean(dim=0)
        std = x_train.std(dim=0, unbiased=False)
        return mean, torch.where(std > 0, std, torch.ones_like(std))
        ### END SOLUTION
    """),
    tests("fit_standardizer_visible", 1, setup=GUARD, body="""
    x = torch.tensor([[1.0, 10.0, 5.0], [3.0, 30.0, 5.0], [5.0, 20.0, 5.0], [7.0, 40.0, 5.0]])
    before = x.clone()
    with no_delegation("fit_standardizer"):
        result = fit_standardizer(x)
    assert torch.equal(x, before), "fit_standardizer changed x_train: compute new tensors instead of changing it in place"
    assert_pair(result, "fit_standardizer(x)")
    mean, std = result
    g.assert_tensor_close(mean, torch.tensor([4.0, 25.0, 5.0]), "the mean of fit_standardizer(x)", hint="one mean per column (dim=0)")
    g.assert_tensor_close(std, torch.tensor([5.0 ** 0.5, 125.0 ** 0.5, 1.0]), "the std of fit_standardizer(x)", rtol=1e-6,
                          hint="the population std (unbiased=False) per column; a constant column gets 1, not 0")
    with no_delegation("fit_standardizer"):
        g.assert_raises(ValueError, fit_standardizer, torch.ones(5), call="fit_standardizer(a 1-D tensor)",
                        hint="x_train must be (samples, features): raise ValueError")
    print("fit_standardizer: visible tests passed")
    """),
    hidden("fit_standardizer_hidden", 2, GUARD, """
    g.assert_no_delegation(fit_standardizer, g.forbidden_functions(FORBIDDEN), "fit_standardizer")
    for seed, n, d in [(8101, 50, 4), (8102, 7, 9), (8103, 200, 1)]:
        x = scaled_features(seed, n, d)
        x[:, 0] = 3.5  # a constant feature
        with no_delegation("fit_standardizer"):
            mean, std = fit_standardizer(x)
        scaler = StandardScaler().fit(x.numpy())
        call = f"fit_standardizer(x of shape ({n}, {d}))"
        g.assert_tensor_close(mean, torch.from_numpy(scaler.mean_), f"the mean of {call}")
        g.assert_tensor_close(std, torch.from_numpy(scaler.scale_), f"the std of {call}", rtol=1e-6,
                              hint="population std per feature (unbiased=False), 1 for a constant feature")
    """),
    hidden("fit_standardizer_validation", 1, GUARD, """
    g.assert_no_delegation(fit_standardizer, g.forbidden_functions(FORBIDDEN), "fit_standardizer")
    with no_delegation("fit_standardizer"):
        for shape in [(6,), (2, 3, 4)]:
            g.assert_raises(ValueError, fit_standardizer, torch.ones(shape), call=f"fit_standardizer(a tensor of shape {shape})",
                            hint="x_train must be (samples, features): raise ValueError")
    """),
    solution("standardize", """
    def standardize(x, mean, std):
        \"\"\"(x - mean) / std, feature by feature.\"\"\"
        ### BEGIN SOLUTION
        return (x - mean) / std
        ### END SOLUTION
    """),
    tests("standardize_visible", 1, setup=GUARD, body="""
    x = torch.tensor([[1.0, 10.0], [3.0, 30.0]])
    with no_delegation("standardize"):
        result = standardize(x, torch.tensor([2.0, 20.0]), torch.tensor([1.0, 10.0]))
    g.assert_tensor_close(result, torch.tensor([[-1.0, -1.0], [1.0, 1.0]]), "standardize(x, [2, 20], [1, 10])",
                          hint="subtract each feature's mean, then divide by its std")
    print("standardize: visible tests passed")
    """),
    hidden("standardize_hidden", 1, GUARD, """
    g.assert_no_delegation(standardize, g.forbidden_functions(FORBIDDEN), "standardize")
    x_train, x_test = scaled_features(8111, 80, 6), scaled_features(8112, 30, 6)
    scaler = StandardScaler().fit(x_train.numpy())
    with no_delegation("standardize"):
        result = standardize(x_test, torch.from_numpy(scaler.mean_), torch.from_numpy(scaler.scale_))
    g.assert_tensor_close(result, torch.from_numpy(scaler.transform(x_test.numpy())), "standardize(x_test, training mean, training std)")
    """),
    md("""
    ## 2. Min-max scaling

    Write `fit_minmax(x_train)` returning `(x_min, x_max)`, each feature's minimum and maximum
    in the training split (leaving `x_train` as it was), and `minmax_scale(x, x_min, x_max, lo=-1.0, hi=1.0)`, which maps
    each feature's training range onto $[\\text{lo}, \\text{hi}]$:
    $$\\text{lo} + (x - x_\\min) \\frac{\\text{hi} - \\text{lo}}{x_\\max - x_\\min}.$$
    A feature that was constant in training ($x_\\max = x_\\min$) maps to the middle,
    $(\\text{lo} + \\text{hi})/2$. Values outside the training range land outside
    $[\\text{lo}, \\text{hi}]$: the transform does not change once fitted. `lo` must be below
    `hi`: otherwise raise `ValueError`.
    """),
    solution("fit_minmax", """
    def fit_minmax(x_train):
        \"\"\"(x_min, x_max) of each feature of x_train.\"\"\"
        ### BEGIN SOLUTION
        return x_train.min(dim=0).values, x_train.max(dim=0).values
        ### END SOLUTION
    """),
    tests("fit_minmax_visible", 1, setup=GUARD, body="""
    x = torch.tensor([[1.0, -10.0], [3.0, 30.0], [-5.0, 20.0]])
    before = x.clone()
    with no_delegation("fit_minmax"):
        result = fit_minmax(x)
    assert torch.equal(x, before), "fit_minmax changed x_train: compute new tensors instead of changing it in place"
    assert_pair(result, "fit_minmax(x)")
    g.assert_tensor_close(result[0], torch.tensor([-5.0, -10.0]), "x_min of fit_minmax(x)", hint="the minimum of each column (dim=0)")
    g.assert_tensor_close(result[1], torch.tensor([3.0, 30.0]), "x_max of fit_minmax(x)", hint="the maximum of each column (dim=0)")
    print("fit_minmax: visible tests passed")
    """),
    hidden("fit_minmax_hidden", 1, GUARD, """
    g.assert_no_delegation(fit_minmax, g.forbidden_functions(FORBIDDEN), "fit_minmax")
    x = scaled_features(8121, 40, 7)
    with no_delegation("fit_minmax"):
        x_min, x_max = fit_minmax(x)
    scaler = MinMaxScaler().fit(x.numpy())
    g.assert_tensor_close(x_min, torch.from_numpy(scaler.data_min_), "x_min of fit_minmax(x of shape (40, 7))")
    g.assert_tensor_close(x_max, torch.from_numpy(scaler.data_max_), "x_max of fit_minmax(x of shape (40, 7))")
    """),
    solution("minmax_scale", """
    def minmax_scale(x, x_min, x_max, lo=-1.0, hi=1.0):
        \"\"\"Map each feature's [x_min, x_max] onto [lo, hi]; constant features go to the middle.\"\"\"
        ### BEGIN SOLUTION
        if not lo < hi:
            raise ValueError(f"lo must be below hi, got {lo} and {hi}")
        span = x_max - x_min
        constant = span == 0
        scaled = lo + (x - x_min) * (hi - lo) / torch.where(constant, torch.ones_like(span), span)
        return torch.where(constant, torch.full_like(scaled, (lo + hi) / 2), scaled)
        ### END SOLUTION
    """),
    tests("minmax_scale_visible", 1, setup=GUARD, body="""
    x = torch.tensor([[0.0, 5.0, 2.0], [10.0, 7.0, 2.0], [20.0, 9.0, 2.0]])
    x_min, x_max = torch.tensor([0.0, 5.0, 2.0]), torch.tensor([10.0, 9.0, 2.0])
    with no_delegation("minmax_scale"):
        default = minmax_scale(x, x_min, x_max)
        unit = minmax_scale(x, x_min, x_max, lo=0.0, hi=1.0)
    g.assert_tensor_close(default, torch.tensor([[-1.0, -1.0, 0.0], [1.0, 0.0, 0.0], [3.0, 1.0, 0.0]]),
                          "minmax_scale(x, x_min, x_max) onto the default [-1, 1]",
                          hint="lo + (x - x_min)(hi - lo)/(x_max - x_min); a value above x_max lands above hi; a constant feature maps to (lo + hi)/2")
    g.assert_tensor_close(unit, torch.tensor([[0.0, 0.0, 0.5], [1.0, 0.5, 0.5], [2.0, 1.0, 0.5]]),
                          "minmax_scale(x, x_min, x_max, lo=0, hi=1)", hint="use the lo and hi you are given")
    with no_delegation("minmax_scale"):
        g.assert_raises(ValueError, minmax_scale, x, x_min, x_max, 1.0, 1.0, call="minmax_scale(x, x_min, x_max, lo=1, hi=1)",
                        hint="lo must be below hi: raise ValueError")
    print("minmax_scale: visible tests passed")
    """),
    hidden("minmax_scale_hidden", 2, GUARD, """
    g.assert_no_delegation(minmax_scale, g.forbidden_functions(FORBIDDEN), "minmax_scale")
    x_train, x_test = scaled_features(8131, 50, 5), scaled_features(8132, 20, 5)
    for lo, hi in [(-1.0, 1.0), (0.0, 1.0), (-3.0, 0.5)]:
        scaler = MinMaxScaler(feature_range=(lo, hi)).fit(x_train.numpy())
        with no_delegation("minmax_scale"):
            result = minmax_scale(x_test, torch.from_numpy(scaler.data_min_), torch.from_numpy(scaler.data_max_), lo, hi)
        g.assert_tensor_close(result, torch.from_numpy(scaler.transform(x_test.numpy())), f"minmax_scale(x_test, training range, {lo}, {hi})")
    constant = torch.full((4, 2), 7.0, dtype=torch.float64)
    with no_delegation("minmax_scale"):
        result = minmax_scale(constant, constant[0], constant[0], 0.0, 4.0)
    g.assert_tensor_close(result, torch.full((4, 2), 2.0, dtype=torch.float64), "minmax_scale of features constant in training, onto [0, 4]",
                          hint="x_max == x_min: map to (lo + hi) / 2 without dividing by zero")
    """),
    hidden("minmax_scale_validation", 1, GUARD, """
    g.assert_no_delegation(minmax_scale, g.forbidden_functions(FORBIDDEN), "minmax_scale")
    with no_delegation("minmax_scale"):
        for lo, hi in [(1.0, 1.0), (2.0, -2.0)]:
            g.assert_raises(ValueError, minmax_scale, torch.ones(3, 2), torch.zeros(2), torch.ones(2), lo, hi,
                            call=f"minmax_scale(x, x_min, x_max, lo={lo}, hi={hi})", hint="lo must be below hi: raise ValueError")
    """),
    md("""
    ## 3. Experiment: features in different units

    MNIST-1D's 40 features are already on one scale. The cell below multiplies each of them
    by its own factor between $10^{-2}$ and $10^{2}$ (as if they were measured in different
    units), then trains the same linear classifier with plain SGD for 10 epochs on the raw
    features, on your standardized ones and on your min-max scaled ones, each with the
    statistics of the training split only, and prints the validation accuracy.
    """),
    prediction("the validation accuracy of each of the three, and why"),
    code("""
    import nnlab
    from nnlab import plots

    mnist = nnlab.load_mnist1d()
    units = 10.0 ** (4 * torch.rand(40, generator=torch.Generator().manual_seed(0)) - 2)
    x_train, x_val = mnist.x_train * units, mnist.x_val * units
    mean, std = fit_standardizer(x_train)
    x_min, x_max = fit_minmax(x_train)
    versions = {"raw": (x_train, x_val), "standardized": (standardize(x_train, mean, std), standardize(x_val, mean, std)),
                "min-max [-1, 1]": (minmax_scale(x_train, x_min, x_max), minmax_scale(x_val, x_min, x_max))}
    scores = {}
    for name, (train_x, val_x) in versions.items():
        torch.manual_seed(0)
        train = nnlab.TensorLoader(train_x, mnist.y_train, batch_size=64, shuffle=True, seed=0)
        val = nnlab.TensorLoader(val_x, mnist.y_val, batch_size=1024)
        history = nnlab.fit(nnlab.mlp(40, 10, depth=0), train, val, epochs=10, optimizer="sgd", lr=0.05, progress=False)
        scores[name] = 0.1 if history.diverged else max(history.val_acc)
        print(f"{name:>16}: best validation accuracy {scores[name]:.1%}" + (" (diverged)" if history.diverged else ""))
    plots.plot_scores(scores, xlabel="best validation accuracy");
    """),
    md("""
    ## 4. Hypothesis and verdict

    What did you predict, and what did you measure? Explain with your numbers why the raw
    features train badly with SGD, in terms of the gradient each weight gets. Then say what
    would change, and what would go wrong, if you computed `mean` and `std` on the training
    and validation splits together.
    """),
    manual("hypothesis_verdict", 2, """
    *Model answer.* On the raw features SGD stays far below the scaled versions (about 18 %,
    or it diverges with a larger rate), while the standardized and the min-max scaled
    features both reach about 26-28 % in 10 epochs (a linear model on MNIST-1D: the paper's
    logistic regression baseline is 32 %). The gradient of a weight is proportional to its feature:
    a feature a hundred times larger gets a gradient a hundred times larger, so one learning
    rate is too large for the large features (they oscillate or diverge) and too small for
    the small ones (they barely move). Scaling gives every feature the same range, and one
    rate fits all. Statistics from the training and validation splits together would let the
    validation data shape the transform: the validation score would no longer be an estimate
    on unseen data (a leak); here the numbers would barely move, because a mean and a standard
    deviation over 4000 signals change little, but a step that learns more from the data
    (choosing features, PCA) can leak a lot.
    """, rubric=(
        'raw features about 15-20 % (or diverged); standardized and min-max both about 25-30 %.',
        "a weight's gradient is proportional to its feature's scale, so one learning rate cannot suit features of different scales; statistics including the validation split leak it into the model, a small change for a mean and std but large for steps that learn more.")),
]

cells += challenge('pca_whitening', 'PCA whitening', """
Standardization scales each feature on its own; neighbouring positions of an MNIST-1D signal
stay strongly correlated. **PCA whitening** removes the correlations too: with the population
covariance of the centred training data $\\Sigma = U \\operatorname{diag}(\\lambda) U^\\top$, the
matrix $W = U \\operatorname{diag}(1/\\sqrt{\\lambda + \\epsilon})$ makes $(x - \\mu) W$ have
(nearly) the identity as covariance. Write `fit_pca_whitening(x_train, eps=1e-5)` returning
`(mean, W)` (`torch.linalg.eigh` gives the eigenvalues and eigenvectors). Not graded; the
next cell checks the covariance of the whitened training data.
""", """
def fit_pca_whitening(x_train, eps=1e-5):
    ### BEGIN SOLUTION
    mean = x_train.mean(dim=0)
    centred = (x_train - mean).double()
    eigenvalues, eigenvectors = torch.linalg.eigh(centred.T @ centred / x_train.shape[0])
    return mean, (eigenvectors / torch.sqrt(eigenvalues.clamp(min=0) + eps)).to(x_train.dtype)
    ### END SOLUTION
""", """
import nnlab

x = nnlab.load_mnist1d().x_train.double()
mean, whitening = fit_pca_whitening(x, eps=0.0)
white = (x - mean) @ whitening
covariance = white.T @ white / len(x)
assert torch.allclose(covariance, torch.eye(40, dtype=torch.float64), atol=1e-6), "the whitened covariance is not the identity"
""")

NOTEBOOK = notebook(cells)
