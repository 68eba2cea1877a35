from nbtools import challenge, code, hidden, locked_code, manual, md, notebook, prediction, solution, tests

GUARD = """\
from nnlab import grading as g
import nnlab.transfer
from nnlab.transfer import pretrained_mnist1d_cnn
FORBIDDEN = [nnlab.transfer]  # the reference solutions
REFERENCE_NAMES = ["freeze_", "count_trainable", "replace_head"]


def trainable_names(model):
    return sorted(name for name, p in model.named_parameters() if p.requires_grad)


def names_under(model, prefix):
    return sorted(name for name, _ in model.named_parameters() if name.startswith(prefix))
"""

cells = [
    md("""
    # Exercise: transfer learning

    Companion to the chapter *Transfer learning* (`book/transfer_learning.md`) of *Training
    neural networks by experiment*.

    `nnlab` ships a small 1-D CNN pretrained on digits 0–4 of a separately generated
    MNIST-1D. Your target task is digits 5–9, with very few labelled signals. You will write
    the three helpers that turn a pretrained network into a starting point for a new task:
    freezing layers by data regime, counting what is left to train, and replacing the
    classifier head; then you will measure feature extraction and fine-tuning against
    training from scratch.

    **Rules.** Replace each `raise NotImplementedError()` with your code. Do not call
    `nnlab.transfer.freeze_`, `count_trainable` or `replace_head`: a task that delegates to
    them earns no credit. `pretrained_mnist1d_cnn()` gives you the network. The cells below
    each task run some of the tests; more run when your notebook is graded.
    """),
    locked_code("""
    import torch
    from torch import nn

    from nnlab.transfer import pretrained_mnist1d_cnn

    model = pretrained_mnist1d_cnn()
    print(model)
    """, "imports"),
    md("""
    The printout shows the two parts every task relies on: `model.features`, an
    `nn.Sequential` of four convolutional blocks, and `model.head`, the `nn.Linear` that
    turns the pooled features into 5 class scores.

    ## 1. Freezing by data regime

    Write `freeze_(model, regime)` that sets `requires_grad` on every parameter of `model`
    and returns `model`:

    - `"small"` (few target examples): only `model.head` trains; the features are used as
      they are (*feature extraction*);
    - `"medium"`: `model.head` and the **last** block of `model.features` train;
    - `"large"`: every parameter trains (*fine-tuning* the whole network);
    - any other regime: raise `ValueError`.

    The model may have been frozen differently before: set every parameter, not just some.
    """),
    solution("freeze_", """
    def freeze_(model, regime):
        \"\"\"Make trainable what the data regime allows: head / head + last block / everything.\"\"\"
        ### BEGIN SOLUTION
        if regime not in ("small", "medium", "large"):
            raise ValueError(f"regime must be 'small', 'medium' or 'large', got {regime!r}")
        for p in model.parameters():
            p.requires_grad_(regime == "large")
        trainable = [model.head] + ([model.features[-1]] if regime == "medium" else [])
        for module in trainable:
            for p in module.parameters():
                p.requires_grad_(True)
        return model
        ### END SOLUTION
    """),
    tests("freeze__visible", 1, setup=GUARD, body="""
    with g.forbid(FORBIDDEN, "freeze_", names=REFERENCE_NAMES):
        returned = freeze_(pretrained_mnist1d_cnn(), "small")
    assert isinstance(returned, nn.Module), f"freeze_ returned {type(returned).__name__}; return the model"
    assert trainable_names(returned) == names_under(returned, "head."), (
        f"after freeze_(model, 'small') these parameters train: {trainable_names(returned)}; expected only the head's")
    model, last = returned, len(returned.features) - 1
    with g.forbid(FORBIDDEN, "freeze_", names=REFERENCE_NAMES):
        for regime, expected in [("medium", names_under(model, "head.") + names_under(model, f"features.{last}.")),
                                 ("large", [n for n, _ in model.named_parameters()]),
                                 ("small", names_under(model, "head."))]:
            assert freeze_(model, regime) is model, f"freeze_(model, {regime!r}) must return the model it was given"
            got = trainable_names(model)
            assert got == sorted(expected), (
                f"after freeze_(model, {regime!r}), applied to a model frozen before, these train: {got}; expected {sorted(expected)}. "
                "'medium' is the head and the LAST block of features; set requires_grad on every parameter each time")
        g.assert_raises(ValueError, freeze_, pretrained_mnist1d_cnn(), "huge", call="freeze_(model, 'huge')",
                        hint="only 'small', 'medium' and 'large' are regimes")
    print("freeze_: visible tests passed")
    """),
    hidden("freeze__hidden", 3, GUARD, """
    g.assert_no_delegation(freeze_, g.forbidden_functions(FORBIDDEN), "freeze_")
    last = len(pretrained_mnist1d_cnn().features) - 1
    with g.forbid(FORBIDDEN, "freeze_", names=REFERENCE_NAMES):
        for before in ("large", "small", "medium"):
            model = pretrained_mnist1d_cnn()
            freeze_(model, before)
            for regime, expected in [("medium", names_under(model, "head.") + names_under(model, f"features.{last}.")),
                                     ("large", [n for n, _ in model.named_parameters()]),
                                     ("small", names_under(model, "head."))]:
                returned = freeze_(model, regime)
                assert returned is model, f"freeze_(model, {regime!r}) must return the model it was given"
                got = trainable_names(model)
                assert got == sorted(expected), (
                    f"after freeze_(model, {before!r}) then freeze_(model, {regime!r}) these train: {got}; expected {sorted(expected)}. "
                    "'medium' is the head and the LAST block of features; set requires_grad on every parameter each time")
    """),
    hidden("freeze__validation", 1, GUARD, """
    g.assert_no_delegation(freeze_, g.forbidden_functions(FORBIDDEN), "freeze_")
    with g.forbid(FORBIDDEN, "freeze_", names=REFERENCE_NAMES):
        for regime in ("tiny", "Small"):
            g.assert_raises(ValueError, freeze_, pretrained_mnist1d_cnn(), regime, call=f"freeze_(model, {regime!r})",
                            hint="only 'small', 'medium' and 'large' are regimes")
    """),
    md("""
    ## 2. Counting what trains

    Write `count_trainable(model)`: the number of scalar parameters (elements, not
    tensors) whose `requires_grad` is true. A parameter that two layers share counts once,
    as `model.parameters()` lists it once.
    """),
    solution("count_trainable", """
    def count_trainable(model):
        \"\"\"Number of scalar parameters with requires_grad.\"\"\"
        ### BEGIN SOLUTION
        return sum(p.numel() for p in model.parameters() if p.requires_grad)
        ### END SOLUTION
    """),
    tests("count_trainable_visible", 1, setup=GUARD, body="""
    layer = nn.Linear(3, 2)
    with g.forbid(FORBIDDEN, "count_trainable", names=REFERENCE_NAMES):
        g.assert_int(count_trainable(layer), 8, "count_trainable(nn.Linear(3, 2))", hint="3 x 2 weights + 2 biases: count elements")
        layer.weight.requires_grad_(False)
        g.assert_int(count_trainable(layer), 2, "count_trainable(nn.Linear(3, 2)) with its weight frozen")
        shared = nn.Linear(2, 2)
        g.assert_int(count_trainable(nn.Sequential(shared, nn.Tanh(), shared)), 6,
                     "count_trainable(nn.Sequential(layer, nn.Tanh(), layer)) with one nn.Linear(2, 2) used twice",
                     hint="a parameter shared by two layers is one parameter: model.parameters() lists it once")
    print("count_trainable: visible tests passed")
    """),
    hidden("count_trainable_hidden", 2, GUARD, """
    g.assert_no_delegation(count_trainable, g.forbidden_functions(FORBIDDEN), "count_trainable")
    model = pretrained_mnist1d_cnn()
    with g.forbid(FORBIDDEN, "count_trainable", names=REFERENCE_NAMES):
        g.assert_int(count_trainable(model), sum(p.numel() for p in model.parameters()), "count_trainable(pretrained_mnist1d_cnn())")
        for p in model.features.parameters():
            p.requires_grad_(False)
        g.assert_int(count_trainable(model), model.head.weight.numel() + model.head.bias.numel(),
                     "count_trainable of the pretrained network with its features frozen")
        shared = nn.Linear(4, 4)
        twice = nn.Sequential(shared, nn.ReLU(), shared)
        g.assert_int(count_trainable(twice), 20, "count_trainable(nn.Sequential(layer, nn.ReLU(), layer)) with one nn.Linear(4, 4) used twice",
                     hint="a parameter shared by two layers is one parameter: model.parameters() lists it once")
        g.assert_int(count_trainable(nn.ReLU()), 0, "count_trainable(nn.ReLU())")
    """),
    md("""
    ## 3. A new head

    Write `replace_head(model, num_classes)`: give `model` a **fresh** `nn.Linear` head with
    the same `in_features` as the old one and `num_classes` outputs, on the same device and
    with the same dtype as the old head, and return `model`.
    """),
    solution("replace_head", """
    def replace_head(model, num_classes):
        \"\"\"A fresh nn.Linear(in_features, num_classes) head; returns the model.\"\"\"
        ### BEGIN SOLUTION
        old = model.head
        model.head = nn.Linear(old.in_features, num_classes, device=old.weight.device, dtype=old.weight.dtype)
        return model
        ### END SOLUTION
    """),
    tests("replace_head_visible", 1, setup=GUARD, body="""
    model = pretrained_mnist1d_cnn()
    with g.forbid(FORBIDDEN, "replace_head", names=REFERENCE_NAMES):
        returned = replace_head(model, 7)
    assert returned is model, "replace_head must return the model it was given"
    assert isinstance(model.head, nn.Linear), f"model.head is a {type(model.head).__name__}; expected an nn.Linear"
    assert (model.head.in_features, model.head.out_features) == (64, 7), (
        f"the new head maps {model.head.in_features} -> {model.head.out_features}; expected 64 -> 7")
    assert model(torch.randn(2, 1, 40)).shape == (2, 7), "the model with its new head must output (batch, 7)"
    double = pretrained_mnist1d_cnn().double()
    old = double.head
    with g.forbid(FORBIDDEN, "replace_head", names=REFERENCE_NAMES):
        replace_head(double, 3)
    assert double.head is not old, "replace_head kept the old head object: create a new nn.Linear"
    assert double.head.weight.requires_grad, "the new head must be trainable"
    assert double.head.weight.dtype == torch.float64, (
        f"after model.double(), the new head is {double.head.weight.dtype}; create it with the old head's dtype (dtype=old.weight.dtype)")
    print("replace_head: visible tests passed")
    """),
    hidden("replace_head_hidden", 2, GUARD, """
    g.assert_no_delegation(replace_head, g.forbidden_functions(FORBIDDEN), "replace_head")
    with g.forbid(FORBIDDEN, "replace_head", names=REFERENCE_NAMES):
        model = pretrained_mnist1d_cnn()
        old = model.head
        old_weight = old.weight.detach().clone()
        features_before = {k: v.clone() for k, v in model.features.state_dict().items()}
        replace_head(model, 5)
        assert model.head is not old, "replace_head kept the old head object: create a new nn.Linear"
        assert not torch.allclose(model.head.weight, old_weight), "the new head has the old head's weights: it must be freshly initialized"
        assert model.head.weight.requires_grad, "the new head must be trainable"
        for k, v in model.features.state_dict().items():
            assert torch.equal(v, features_before[k]), f"replace_head changed features.{k}: only the head may change"
        double = pretrained_mnist1d_cnn().double()
        replace_head(double, 3)
        assert double.head.weight.dtype == torch.float64, (
            f"after model.double(), the new head is {double.head.weight.dtype}; create it with the old head's dtype")
        assert double(torch.randn(4, 1, 40, dtype=torch.float64)).shape == (4, 3)
    """),
    md("""
    ## 4. Experiment: feature extraction, fine-tuning, or from scratch?

    The cell below gives each approach the same 25 labelled training signals of the target
    digits (5 per class) and the same budget of 300 steps: the pretrained network with a new
    head under each of your three regimes, and the same architecture trained from scratch.
    It prints the number of trainable parameters and the test accuracy of each. Predict the
    order before running it (about 5 seconds).
    """),
    prediction('the order of the four approaches by test accuracy with 25 labelled signals'),
    code("""
    import nnlab
    from nnlab.models import cnn1d
    from nnlab.transfer import ARCHITECTURE, target_task

    target = target_task(train_size=25, seed=0)
    train, val, test = target.loaders(batch_size=32)
    for regime in ("small", "medium", "large", "from scratch"):
        torch.manual_seed(0)
        if regime == "from scratch":
            model = cnn1d(num_classes=5, **ARCHITECTURE)
        else:
            model = freeze_(replace_head(pretrained_mnist1d_cnn(), 5), regime)
        nnlab.fit(model, train, epochs=300 // len(train), lr=3e-3, progress=False)
        accuracy = nnlab.evaluate(model, test)["acc"]
        print(f"{regime:>12}: {count_trainable(model):6d} trainable parameters, test accuracy {accuracy:.1%}")
    """),
    md("""
    ## 5. Hypothesis and verdict

    What did you predict, and what did you measure? With your numbers, judge the rule of
    thumb "with little data, train only the head; with more, unfreeze more layers". What
    would you expect to change with 2,000 target signals instead of 100, or with a source
    task unlike the target (say, a network pretrained on photographs)?
    """),
    manual("hypothesis_verdict", 2, """
    *Model answer.* (One seed; other seeds move each number by a few points.) With 25
    signals, fine-tuning the last block and the head ("medium", about 85–93 %) is best;
    fine-tuning everything is close behind; training from scratch is clearly worse (about
    80 %); and training only the head is worst of all (about 70 %). So pretrained features
    help, but the rule "with little data, train only the head" is refuted here: the last
    block's features were shaped to tell digits 0–4 apart, and a linear head on them cannot
    separate 5–9 as well as a slightly adapted block can. Few parameters (325) do not
    protect against that bias. With 2,000 target signals, training from scratch catches up
    (the chapter measures it at 400 already), because the data alone suffice to learn good
    features. With a dissimilar source (photographs), fewer of the source's layers would be
    worth keeping as they are: one would fine-tune more of them, or start from scratch.
    """, rubric=(
        'medium (last block and head) best, about 85-93 %; large close behind; from scratch about 80 %; the head alone worst, about 70 %. One seed moves each by a few points.',
        'the pretrained features were shaped to tell digits 0-4 apart; a linear head on them cannot separate 5-9 as well as a slightly adapted last block can, so few trainable parameters do not protect against that bias.')),
]

cells += challenge('layer_rates', 'discriminative learning rates', """
Howard & Ruder (2018) fine-tune with a smaller rate for earlier layers, which hold more
general features. Write `discriminative_param_groups(model, lr_head, decay=0.1)` for the
pretrained network: a list of two param groups for an optimizer, the head's trainable
parameters at `lr_head` and the feature extractor's trainable parameters at
`lr_head * decay` (frozen parameters in neither). Not graded; the next cell checks that the
groups cover every trainable parameter once, with the right rates, and that
`torch.optim.SGD` accepts them.
""", """
def discriminative_param_groups(model, lr_head, decay=0.1):
    ### BEGIN SOLUTION
    return [
        {"params": [p for p in model.features.parameters() if p.requires_grad], "lr": lr_head * decay},
        {"params": [p for p in model.head.parameters() if p.requires_grad], "lr": lr_head},
    ]
    ### END SOLUTION
""", """
import math
net = pretrained_mnist1d_cnn()
for p in list(net.features.parameters())[:2]:
    p.requires_grad_(False)
groups = discriminative_param_groups(net, 0.01, decay=0.2)
trainable = {id(p) for p in net.parameters() if p.requires_grad}
listed = [id(p) for group in groups for p in group["params"]]
assert sorted(listed) == sorted(trainable), "every trainable parameter must be in exactly one group, no frozen one"
head = {id(p) for p in net.head.parameters()}
for group in groups:
    expected = 0.01 if {id(p) for p in group["params"]} <= head else 0.01 * 0.2
    assert math.isclose(group["lr"], expected), f"a group has lr {group['lr']}; expected {expected}"
torch.optim.SGD(groups, lr=1.0)
""")

NOTEBOOK = notebook(cells)
