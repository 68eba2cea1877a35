import copy

import pytest
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

import nnlab
from nnlab.early_stopping import EarlyStopping, replay
from nnlab.regularization import (
    EpochRecorder,
    MaxNorm,
    WeightAverages,
    ensemble_accuracy,
    l1_penalty,
    l2_penalty,
    max_norm_,
    penalized_loss,
    predict_proba,
    update_ema,
)


def small_net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 3))


def test_penalties_cover_weights_not_biases():
    net = small_net()
    weights = [net[0].weight, net[2].weight]
    assert torch.allclose(l1_penalty(net), sum(w.abs().sum() for w in weights))
    assert torch.allclose(l2_penalty(net), 0.5 * sum(w.pow(2).sum() for w in weights))
    l2_penalty(net).backward()
    assert torch.equal(net[0].weight.grad, net[0].weight.detach()), "the gradient of ½Σw² is w"
    assert net[0].bias.grad is None


def test_an_l2_penalty_with_sgd_is_weight_decay():
    # the derivation of the chapter: one SGD step on loss + λ/2‖w‖² equals torch's SGD with weight_decay=λ
    x, y = torch.randn(16, 5, generator=torch.Generator().manual_seed(1)), torch.arange(16) % 3
    penalized, decayed = small_net(), small_net()
    lr, lam = 0.1, 0.05
    loss = penalized_loss(penalized, l2=lam)(penalized(x), y)
    loss.backward()
    with torch.no_grad():
        for p in penalized.parameters():
            p -= lr * p.grad
    groups = [{"params": [decayed[0].weight, decayed[2].weight], "weight_decay": lam},
              {"params": [decayed[0].bias, decayed[2].bias], "weight_decay": 0.0}]
    optimizer = torch.optim.SGD(groups, lr=lr)
    nn.functional.cross_entropy(decayed(x), y).backward()
    optimizer.step()
    for a, b in zip(penalized.parameters(), decayed.parameters()):
        assert torch.allclose(a, b, atol=1e-7)


def test_penalized_loss_rejects_negative_strengths():
    with pytest.raises(ValueError, match="l1 must be >= 0"):
        penalized_loss(small_net(), l1=-1.0)


def test_max_norm_caps_each_unit_and_keeps_its_direction():
    net = small_net()
    with torch.no_grad():
        net[0].weight[0] *= 100  # one unit far above the cap
        net[0].weight[1] *= 1e-3  # one far below
    before = net[0].weight.detach().clone()
    max_norm_(net, 2.0)
    norms = net[0].weight.norm(dim=1)
    assert norms.max() <= 2.0 + 1e-5
    assert torch.isclose(norms[0], torch.tensor(2.0))
    assert torch.allclose(net[0].weight[1], before[1]), "a unit below the cap is left alone"
    cosine = torch.nn.functional.cosine_similarity(net[0].weight[0], before[0], dim=0)
    assert cosine > 1 - 1e-6
    with pytest.raises(ValueError, match="c must be > 0"):
        MaxNorm(0.0)


def test_update_ema_matches_torch_averaged_model():
    net, decay = small_net(), 0.9
    ours = copy.deepcopy(net)
    theirs = AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(decay))
    theirs.update_parameters(net)  # torch's first update copies the weights, as our start does
    for step in range(5):
        with torch.no_grad():
            for p in net.parameters():
                p.add_(torch.randn_like(p))
        update_ema(ours, net, decay)
        theirs.update_parameters(net)
    for a, b in zip(ours.parameters(), theirs.module.parameters()):
        assert torch.allclose(a, b, atol=1e-6)
    with pytest.raises(ValueError, match="decay must be in"):
        update_ema(ours, net, 1.5)


def tiny_data(n: int = 48, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 5, generator=g)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()
    return nnlab.TensorLoader(x, y, batch_size=16, shuffle=True, seed=seed), nnlab.TensorLoader(x, y, batch_size=64)


class Snapshots(nnlab.train.Callback):
    def __init__(self):
        self.epoch_weights, self.step_weights = [], []

    def on_batch_end(self, model, step, loss):
        self.step_weights.append(copy.deepcopy(model))

    def on_epoch_end(self, model, epoch, history):
        self.epoch_weights.append(copy.deepcopy(model))


def test_weight_averages_match_torch_swa_and_ema():
    train, _ = tiny_data()
    net = small_net()
    initial = copy.deepcopy(net)
    averages, snapshots = WeightAverages(ema_decay=0.8, swa_start=2), Snapshots()
    nnlab.fit(net, train, epochs=5, optimizer="sgd", lr=0.1, callbacks=[averages, snapshots], progress=False)
    swa = AveragedModel(initial)
    for model in snapshots.epoch_weights[2:]:
        swa.update_parameters(model)
    assert averages.swa_epochs == 3
    for a, b in zip(averages.swa.parameters(), swa.module.parameters()):
        assert torch.allclose(a, b, atol=1e-6)
    ema = AveragedModel(initial, multi_avg_fn=get_ema_multi_avg_fn(0.8))
    ema.update_parameters(initial)
    for model in snapshots.step_weights:
        ema.update_parameters(model)
    for a, b in zip(averages.ema.parameters(), ema.module.parameters()):
        assert torch.allclose(a, b, atol=1e-6)
    # the model being trained is the last snapshot, untouched by the averages
    for a, b in zip(net.parameters(), snapshots.epoch_weights[-1].parameters()):
        assert torch.equal(a, b)


def test_epoch_recorder_agrees_with_evaluate_and_ensembles_average_probabilities():
    train, whole = tiny_data()
    net = small_net()
    recorder = EpochRecorder(whole)
    nnlab.fit(net, train, epochs=3, lr=0.05, callbacks=[recorder], progress=False)
    assert len(recorder.accuracy) == 3
    assert recorder.accuracy[-1] == pytest.approx(nnlab.evaluate(net, whole)["acc"])
    assert torch.allclose(recorder.probabilities[-1], predict_proba(net, whole))
    assert torch.allclose(recorder.probabilities[-1].sum(dim=1), torch.ones(48))
    # a vote of the three would follow the two unsure wrong models; the mean probability follows the sure one
    labels = torch.tensor([0, 1])
    right = torch.tensor([[0.9, 0.1], [0.1, 0.9]])
    wrong = torch.tensor([[0.4, 0.6], [0.6, 0.4]])
    assert ensemble_accuracy([right], labels) == 1.0
    assert ensemble_accuracy([right, wrong, wrong], labels) == 1.0  # mean 0.567 for the right class
    assert ensemble_accuracy([wrong], labels) == 0.0
    with pytest.raises(ValueError, match="at least one"):
        ensemble_accuracy([], labels)


def test_replay_stops_where_early_stopping_would():
    values = [1.0, 0.8, 0.85, 0.7, 0.75, 0.76, 0.77, 0.6]
    assert replay(values, patience=1) == (2, 1)
    assert replay(values, patience=3) == (6, 3)
    assert replay(values, patience=10) == (7, 7), "never stopping ends at the last epoch"
    stopper = EarlyStopping(patience=3)
    stopped = next(epoch for epoch, v in enumerate(values) if stopper.step(v))
    assert (stopped, stopper.best_epoch) == replay(values, patience=3)
    assert replay([0.1, 0.2, 0.3], patience=1, mode="max") == (2, 2)
    with pytest.raises(ValueError, match="at least one"):
        replay([])
