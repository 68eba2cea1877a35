import pytest
import torch
from torch import nn

from nnlab import transfer
from nnlab.train import evaluate

pytestmark = pytest.mark.transfer_learning  # the reference of the transfer_learning assignment


@pytest.fixture(scope="module")
def target():
    return transfer.target_task()


def test_shipped_network_has_the_contract_layout():
    model = transfer.pretrained_mnist1d_cnn()
    assert isinstance(model.features, nn.Sequential) and len(model.features) == 4
    assert isinstance(model.head, nn.Linear) and model.head.out_features == 5


def test_target_task_holds_the_other_five_digits(target):
    assert set(target.y_train.tolist()) == set(range(5))
    assert target.x_train.shape[1:] == (1, 40)
    assert 1500 < len(target.x_train) < 2000


def test_pretrained_features_beat_random_ones_on_the_target(target):
    # A linear probe on frozen features: the pretrained ones must carry over to new digits.
    def probe(model):
        model.eval()
        with torch.no_grad():
            train, test = model.embed(target.x_train), model.embed(target.x_test)
        head = nn.Linear(train.shape[1], 5)
        optimizer = torch.optim.Adam(head.parameters(), lr=0.01)
        for _ in range(300):
            optimizer.zero_grad()
            nn.functional.cross_entropy(head(train), target.y_train).backward()
            optimizer.step()
        return float((head(test).argmax(1) == target.y_test).float().mean())

    torch.manual_seed(0)
    pretrained = probe(transfer.pretrained_mnist1d_cnn())
    random = probe(transfer.cnn1d(num_classes=5, **transfer.ARCHITECTURE))
    assert pretrained > 0.8 and pretrained > random + 0.1


@pytest.mark.parametrize("regime", transfer.REGIMES)
def test_freeze_leaves_the_regimes_trainable_parts(regime):
    model = transfer.freeze_(transfer.pretrained_mnist1d_cnn(), regime)
    head = sum(p.numel() for p in model.head.parameters())
    last = sum(p.numel() for p in model.features[-1].parameters())
    expected = {"small": head, "medium": head + last, "large": sum(p.numel() for p in model.parameters())}[regime]
    assert transfer.count_trainable(model) == expected
    with pytest.raises(ValueError, match="regime"):
        transfer.freeze_(model, "huge")


def test_replace_head_keeps_in_features_and_device():
    model = transfer.replace_head(transfer.pretrained_mnist1d_cnn(), 3)
    assert model.head.in_features == 64 and model.head.out_features == 3
    assert all(p.requires_grad for p in model.head.parameters())
    assert model(torch.randn(2, 1, 40)).shape == (2, 3)


@pytest.mark.slow
def test_pretraining_script_reproduces_a_strong_source_network():
    saved = torch.load(transfer.WEIGHTS, weights_only=True)
    assert saved["source_test_accuracy"] > 0.97
    model = transfer.pretrained_mnist1d_cnn()
    source = transfer.source_task()
    _, _, test = source.loaders()
    assert evaluate(model, test)["acc"] == pytest.approx(saved["source_test_accuracy"], abs=1e-6)


def test_frozen_statistics_keep_the_features_batchnorm_as_it_came(target):
    # requires_grad=False alone leaves BatchNorm's running statistics adapting in training mode;
    # FrozenStatistics keeps them (and the normalization they give) as the source task left them.
    from nnlab.train import fit

    train, _, _ = target.loaders(batch_size=64)

    def statistics(model):
        return [b.clone() for name, b in model.features.named_buffers() if name.endswith("running_mean")]

    adapting = transfer.freeze_(transfer.replace_head(transfer.pretrained_mnist1d_cnn(), 5), "small")
    frozen = transfer.freeze_(transfer.replace_head(transfer.pretrained_mnist1d_cnn(), 5), "small")
    before, head_before = statistics(frozen), frozen.head.weight.detach().clone()
    assert before, "the shipped network has BatchNorm in its features"
    torch.manual_seed(0)
    fit(adapting, train, epochs=1, lr=1e-3, progress=False)
    torch.manual_seed(0)
    fit(frozen, train, epochs=1, lr=1e-3, progress=False, callbacks=[transfer.FrozenStatistics(frozen.features)])
    assert all(torch.equal(a, b) for a, b in zip(statistics(frozen), before))
    assert not all(torch.equal(a, b) for a, b in zip(statistics(adapting), before))
    assert not torch.equal(frozen.head.weight, head_before)  # the head still trains
