"""nnlab.recipe: training by a named recipe, as *The recipe, measured* and the MNIST-1D
benchmark do."""
import pytest
import torch
from torch import nn

from nnlab.augment import predict_shifted
from nnlab.data import Splits
from nnlab.evidence import compare_over_seeds
from nnlab.recipe import Recipe, accuracy, ladder_markdown, train_recipe


def two_classes(n_train: int = 256, n_test: int = 128, length: int = 16) -> Splits:
    """Signals whose class is the sign of their mean: a linear model can learn it."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(n_train + n_test, 1, length, generator=generator) + 0.8 * torch.randn(
        n_train + n_test, 1, 1, generator=generator)
    y = (x.mean(dim=(1, 2)) > 0).long()
    empty = torch.empty(0, 1, length)
    return Splits(x[:n_train], y[:n_train], empty, torch.empty(0, dtype=torch.long), x[n_train:], y[n_train:])


def linear(length: int = 16) -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(length, 2))


def zero_linear(length: int = 16) -> nn.Module:
    model = linear(length)
    nn.init.zeros_(model[1].weight)
    nn.init.zeros_(model[1].bias)
    return model  # the same start whatever the seed: only the data order can differ between runs


@pytest.mark.parametrize("options, message", [
    ({"epochs": 0}, "epochs must be a positive int"),
    ({"optimizer": "adam"}, "optimizer must be one of"),
    ({"lr": 0.0}, "lr must be positive"),
    ({"ema_decay": 1.0}, "ema_decay must be in"),
    ({"test_shifts": -1}, "test_shifts must be an int"),
])
def test_a_recipe_refuses_settings_it_cannot_train_and_names_itself(options, message):
    settings = {"epochs": 1, "lr": 0.1, **options}
    with pytest.raises(ValueError, match=message) as error:
        Recipe("broken", linear, **settings)
    assert "'broken'" in str(error.value)


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_both_optimizers_learn_a_linear_task(optimizer):
    data = two_classes()
    run = train_recipe(Recipe("linear", linear, epochs=10, lr=0.05, optimizer=optimizer), data, seed=0)
    assert run.test_accuracy > 0.85 and run.train_accuracy > 0.85
    assert run.model is run.last_model  # no averaging: the last weights are the tested ones
    # the reported accuracies are the model's, measured independently
    assert run.test_accuracy == pytest.approx(accuracy(run.model, data.x_test, data.y_test))
    assert run.train_accuracy == pytest.approx(accuracy(run.model, data.x_train, data.y_train))
    wrong = (run.test_probabilities.argmax(dim=1) != data.y_test).nonzero().flatten()
    assert torch.equal(run.test_errors, wrong) and len(wrong) == round((1 - run.test_accuracy) * len(data.y_test))


def test_the_same_seed_gives_the_same_run_and_data_seed_alone_sets_the_batches():
    data = two_classes()
    recipe = Recipe("zero start", zero_linear, epochs=2, lr=0.05, batch_size=32, augment=True)
    first, again = (train_recipe(recipe, data, seed=3) for _ in range(2))
    assert torch.equal(first.test_probabilities, again.test_probabilities)
    # a model that starts the same whatever the seed: other seeds, same data_seed, same run
    other_seed = train_recipe(recipe, data, seed=4, data_seed=3)
    assert torch.equal(first.test_probabilities, other_seed.test_probabilities)
    # another data_seed reorders the batches and redraws the augmentation
    other_data = train_recipe(recipe, data, seed=3, data_seed=4)
    assert not torch.equal(first.test_probabilities, other_data.test_probabilities)
    # with a random start, the seed changes the initial weights while data_seed holds the batches
    randomly_started = Recipe("random start", linear, epochs=2, lr=0.05, batch_size=32)
    a = train_recipe(randomly_started, data, seed=1, data_seed=0)
    b = train_recipe(randomly_started, data, seed=2, data_seed=0)
    assert not torch.equal(a.model[1].weight, b.model[1].weight)


def test_ema_and_test_shifts_change_only_what_is_tested():
    data = two_classes()
    plain = Recipe("plain", linear, epochs=3, lr=0.05)
    averaged = Recipe("averaged", linear, epochs=3, lr=0.05, ema_decay=0.9, test_shifts=2)
    base = train_recipe(plain, data, seed=0)
    run = train_recipe(averaged, data, seed=0)
    # the EMA never touches the weights being trained: the last weights are the plain run's
    assert torch.equal(run.last_model[1].weight, base.last_model[1].weight)
    assert run.model is not run.last_model
    assert not torch.equal(run.model[1].weight, run.last_model[1].weight)
    # the tested predictions are the EMA's, averaged over shifts -2..2
    assert torch.allclose(run.test_probabilities, predict_shifted(run.model, data.x_test, max_shift=2))
    assert run.test_accuracy == pytest.approx(accuracy(run.model, data.x_test, data.y_test, test_shifts=2))


def test_accuracy_counts_correct_argmaxes():
    model = nn.Sequential(nn.Flatten(), nn.Linear(3, 2, bias=False))
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
    x = torch.tensor([[[2.0, 1.0, 0.0]], [[0.0, 3.0, 0.0]], [[5.0, 1.0, 0.0]], [[1.0, 4.0, 0.0]]])
    assert accuracy(model, x, torch.tensor([0, 1, 1, 0])) == 0.5


def test_ladder_markdown_shows_each_rung_with_its_spread_and_its_verdict():
    scores = {"plain": [0.80, 0.78, 0.82], "+ trick": [0.90, 0.91, 0.89], "+ nothing": [0.90, 0.89, 0.91],
              "ensemble": [0.93]}
    steps = {"+ trick": compare_over_seeds(scores["+ trick"], scores["plain"], names=("+ trick", "plain")),
             "+ nothing": compare_over_seeds(scores["+ nothing"], scores["+ trick"], names=("+ nothing", "+ trick")),
             }
    table = ladder_markdown(scores, seconds={"plain": 1.5, "+ trick": 2.0}, train_scores={"plain": [0.9, 0.9, 0.9]},
                            steps=steps)
    lines = table.splitlines()
    assert len(lines) == 2 + len(scores)
    assert lines[2] == "| plain | 80.00% ± 2.00% | 90.00% ± 0.00% | 1.5 | – |"
    assert "| ahead beyond the noise |" in lines[3] and "| within the noise |" in lines[4]
    assert lines[5] == "| ensemble | 93.00% (one run) | – | – | – |"
    behind = {"+ trick": compare_over_seeds(scores["plain"], scores["+ trick"], names=("+ trick", "plain"))}
    assert "behind beyond the noise" in ladder_markdown(scores, steps=behind).splitlines()[3]
    with pytest.raises(ValueError, match="empty"):
        ladder_markdown({})
    with pytest.raises(ValueError, match="at least one score"):
        ladder_markdown({"plain": []})

