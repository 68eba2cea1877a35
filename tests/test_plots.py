import matplotlib.pyplot as plt
import pytest
import torch

import nnlab
from nnlab import data, diagnostics, plots


def test_every_plot_draws_real_data():
    s = data.load_mnist1d()
    figure = plots.plot_signals(s.x_train, s.y_train, data.mnist1d_time_axis())
    assert len(figure.axes) == 10
    assert all(len(ax.lines) == 1 for ax in figure.axes)

    digits = data.load_digits()
    figure = plots.plot_images(digits.x_train, digits.y_train, count=6)
    assert [ax.get_title() for ax in figure.axes] == [str(int(v)) for v in digits.y_train[:6]]

    x, y = data.make_spirals(200)
    model = nnlab.mlp(2, 2)
    figure = plots.plot_2d(x, y, model)
    assert figure.axes[0].collections  # scatter and decision regions

    outputs = diagnostics.layer_outputs(nnlab.mlp(40, 10, depth=12, activation="tanh"), s.x_train[:100])
    figure = plots.plot_activation_histograms(outputs, max_panels=5)
    assert len(figure.axes) == 5

    figure = plots.plot_layer_statistic([s.std for s in nnlab.activation_stats(nnlab.mlp(40, 10), s.x_train)], "std", label="default")
    assert figure.axes[0].get_yscale() == "log"

    model = nnlab.mlp(40, 10, depth=4, activation="sigmoid")
    torch.nn.functional.cross_entropy(model(s.x_train[:64]), s.y_train[:64]).backward()
    norms = diagnostics.gradient_norms(model, weights_only=True)
    figure = plots.plot_gradient_flow(norms)
    (line,) = figure.axes[0].lines
    assert list(line.get_ydata()) == list(norms.values())


def test_plot_2d_rejects_non_2d_points():
    import pytest

    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        plots.plot_2d(torch.zeros(5, 3), torch.zeros(5))


def test_plot_trajectories_draws_one_line_per_path():
    from nnlab.optim import SGD, trajectory

    def bowl(w):
        return w[0] ** 2 + 3 * w[1] ** 2

    path, _ = trajectory(lambda p: SGD(p, lr=0.1), bowl, (1.0, 1.0), steps=10)
    figure = plots.plot_trajectories(bowl, {"SGD": path}, (-1.5, 1.5), (-1.5, 1.5), title="bowl")
    lines = figure.axes[0].get_lines()
    assert len(lines) == 1 and len(lines[0].get_xdata()) == 11
    import matplotlib.pyplot as plt

    plt.close(figure)


def test_overlay_draws_every_run_on_the_first_runs_axes():
    runs = {"relu": [1.0, 0.5, 0.25], "tanh": [1.0, 0.9, 0.8], "sigmoid": [1.0, 0.1, 0.01]}
    figure = plots.overlay(plots.plot_layer_statistic, runs, ylabel="activation std")
    assert len(figure.axes) == 1
    lines = figure.axes[0].get_lines()
    assert [line.get_label() for line in lines] == list(runs)
    assert [list(line.get_ydata()) for line in lines] == list(runs.values())
    with pytest.raises(ValueError, match="at least one run"):
        plots.overlay(plots.plot_layer_statistic, {}, ylabel="x")
    with pytest.raises(TypeError, match="cannot overlay"):
        plots.overlay(plots.plot_scores, runs)
    plt.close("all")


def test_plot_curves_marks_vertical_lines_with_their_labels():
    figure = plots.plot_curves({"accuracy": ([0.01, 0.1, 1.0], [0.5, 0.8, 0.3])}, "lr", "acc", logx=True,
                               vlines={"steepest": 0.05, "diverged": 2.0})
    lines = figure.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["accuracy", "steepest", "diverged"]
    assert list(lines[1].get_xdata()) == [0.05, 0.05] and list(lines[2].get_xdata()) == [2.0, 2.0]
    assert [t.get_text() for t in figure.axes[0].get_legend().get_texts()] == ["accuracy", "steepest", "diverged"]
    plt.close("all")


def test_plot_curves_shades_one_spread_around_a_mean():
    figure = plots.plot_curves({"BatchNorm": ([4, 64], [0.9, 0.95]), "none": ([4, 64], [0.8, 0.85])}, "batch", "acc",
                               spreads={"BatchNorm": [0.01, 0.02]})
    (band,) = figure.axes[0].collections
    vertices = band.get_paths()[0].vertices
    assert vertices[:, 1].min() == pytest.approx(0.89) and vertices[:, 1].max() == pytest.approx(0.97)
    with pytest.raises(ValueError, match="2 points but 1 spreads"):
        plots.plot_curves({"a": ([1, 2], [0.1, 0.2])}, "x", "y", spreads={"a": [0.1]})
    with pytest.raises(ValueError, match="not plotted"):
        plots.plot_curves({"a": ([1, 2], [0.1, 0.2])}, "x", "y", spreads={"b": [0.1, 0.1]})
    plt.close("all")


def test_plot_stopping_draws_both_panels_with_the_rule_s_marks():
    import nnlab

    history = nnlab.History()
    for epoch, (loss, acc) in enumerate([(1.0, 0.5), (0.8, 0.6), (0.9, 0.62)]):
        for name, value in (("epoch", epoch), ("train_loss", loss / 2), ("train_acc", acc + 0.2), ("val_loss", loss),
                            ("val_acc", acc), ("lr", 0.1), ("seconds", 0.1)):
            getattr(history, name).append(value)
    figure = plots.plot_stopping(history, [0.55, 0.58, 0.61], {"restored": 2, "stopped": 3})
    loss_panel, accuracy_panel = figure.axes
    assert [line.get_label() for line in loss_panel.get_lines()] == ["validation loss", "training loss", "restored", "stopped"]
    assert list(loss_panel.get_lines()[0].get_ydata()) == [1.0, 0.8, 0.9]
    assert list(accuracy_panel.get_lines()[1].get_ydata()) == [0.55, 0.58, 0.61]
    assert list(accuracy_panel.get_lines()[2].get_xdata()) == [2, 2]
    with pytest.raises(ValueError, match="2 values for 3 epochs"):
        plots.plot_stopping(history, [0.5, 0.6], {})
    plt.close("all")


def test_plot_regression_draws_the_points_and_one_sorted_line_per_model():
    x = torch.tensor([[0.5], [-1.0], [0.0]])
    y = torch.tensor([1.0, 2.0, 3.0])
    figure = plots.plot_regression(x, y, {"mean": torch.tensor([0.1, 0.2, 0.3])}, ylim=(-1, 4))
    (line,) = figure.axes[0].get_lines()
    assert list(line.get_xdata()) == [-1.0, 0.0, 0.5] and list(line.get_ydata()) == pytest.approx([0.2, 0.3, 0.1])
    assert figure.axes[0].get_ylim() == (-1, 4)
    with pytest.raises(ValueError, match="2 predictions for 3 inputs"):
        plots.plot_regression(x, y, {"short": torch.zeros(2)})
    grid = torch.linspace(-1, 1, 5)
    figure = plots.plot_regression(x, y, {"grid": grid ** 2}, at=grid)
    assert list(figure.axes[0].get_lines()[0].get_xdata()) == pytest.approx(grid.tolist())
    plt.close("all")


def test_plot_trials_draws_one_panel_per_hyperparameter_with_its_scale():
    scores = [0.2, 0.5, 0.4]
    figure = plots.plot_trials({"lr": [1e-3, 1e-2, 1e-1], "momentum": [0.5, 0.9, 0.7]}, scores, log=["lr"],
                               titles={"lr": "share 0.8"})
    first, second = figure.axes
    assert first.get_xscale() == "log" and second.get_xscale() == "linear"
    assert first.get_title() == "share 0.8"
    assert list(second.collections[0].get_offsets()[:, 1]) == scores
    plt.close(figure)
    with pytest.raises(ValueError, match="'lr' has 2 values for 3 scores"):
        plots.plot_trials({"lr": [1e-3, 1e-2]}, scores)


def test_plot_seed_scores_draws_each_mean_with_its_seeds_and_spread():
    scores = {"ReLU": [0.6, 0.7, 0.65], "sigmoid": [0.3, 0.32, 0.31]}
    figure = plots.plot_seed_scores(scores, reference=0.1)
    ax = figure.axes[0]
    bars = [patch for patch in ax.patches]
    assert [bar.get_width() for bar in bars] == pytest.approx([0.65, 0.31])
    dots = [line for line in ax.get_lines() if line.get_marker() == "o"]
    assert [list(line.get_xdata()) for line in dots] == [scores["ReLU"], scores["sigmoid"]]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["ReLU", "sigmoid"]
    assert any(list(line.get_xdata()) == [0.1, 0.1] for line in ax.get_lines())  # the reference line
    with pytest.raises(ValueError, match="empty"):
        plots.plot_seed_scores({})
    with pytest.raises(ValueError, match="'tanh' has no scores"):
        plots.plot_seed_scores({"tanh": []})
    plt.close("all")


def test_plot_seed_scores_says_when_its_axis_does_not_start_at_zero():
    zoomed = plots.plot_seed_scores({"a": [0.6, 0.62], "b": [0.65, 0.66]})
    assert zoomed.axes[0].get_xlim()[0] == pytest.approx(0.5)
    assert zoomed.axes[0].get_xlabel() == "test accuracy (axis from 0.5)"
    full = plots.plot_seed_scores({"a": [0.1, 0.12], "b": [0.65, 0.66]})
    assert full.axes[0].get_xlim()[0] == 0 and full.axes[0].get_xlabel() == "test accuracy"
    plt.close("all")


def test_plot_error_ladder_draws_each_rungs_error_on_a_log_axis():
    scores = {"logistic": [0.32, 0.33, 0.31], "CNN": [0.98, 0.99, 0.97], "ensemble": [0.99]}
    figure = plots.plot_error_ladder(scores, references={"goal": 0.995})
    ax = figure.axes[0]
    assert ax.get_xscale() == "log"
    # bars at the mean error in percent, one dot per seed
    assert [bar.get_width() for bar in ax.patches] == pytest.approx([68.0, 2.0, 1.0])
    dots = [line for line in ax.get_lines() if line.get_marker() == "o"]
    assert [list(line.get_xdata()) for line in dots][1] == pytest.approx([2.0, 1.0, 3.0])
    assert [t.get_text() for t in ax.get_yticklabels()] == list(scores)
    goal = [line for line in ax.get_lines() if line.get_linestyle() == ":"]
    assert len(goal) == 1 and list(goal[0].get_xdata()) == pytest.approx([0.5, 0.5])
    # a perfect seed stays on the axis, at its floor
    perfect = plots.plot_error_ladder({"a": [1.0, 0.99]})
    assert min(perfect.axes[0].get_lines()[0].get_xdata()) == pytest.approx(perfect.axes[0].get_xlim()[0])
    with pytest.raises(ValueError, match="empty"):
        plots.plot_error_ladder({})
    with pytest.raises(ValueError, match="'b' has no scores"):
        plots.plot_error_ladder({"b": []})
    with pytest.raises(ValueError, match="outside"):
        plots.plot_error_ladder({"c": [1.5]})
    plt.close("all")


def test_plot_mistakes_titles_each_signal_with_its_label_and_the_guess():
    s = data.load_mnist1d()
    figure = plots.plot_mistakes(s.x_test[:3].unsqueeze(1), s.y_test[:3], torch.tensor([9, 8, 7]),
                                 t=data.mnist1d_time_axis())
    assert [ax.get_title() for ax in figure.axes] == [f"{int(label)} \u2192 {guess}"
                                                      for label, guess in zip(s.y_test[:3], [9, 8, 7])]
    assert all(len(ax.lines) == 1 for ax in figure.axes)
    with pytest.raises(ValueError, match="one label and one prediction per signal"):
        plots.plot_mistakes(s.x_test[:3], s.y_test[:2], torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match="no signals"):
        plots.plot_mistakes(s.x_test[:0], s.y_test[:0], torch.tensor([], dtype=torch.long))
    plt.close("all")
