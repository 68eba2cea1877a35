import pytest
import torch

from nnlab import device, seed


def test_default_device_prefers_cuda():
    expected = "cuda" if torch.cuda.is_available() else None
    chosen = device.default_device()
    if expected:
        assert chosen.type == "cuda"
    else:
        assert chosen.type in ("mps", "cpu")


def test_to_device_walks_containers_and_casts_only_floats():
    batch = {"x": torch.zeros(2, dtype=torch.float32), "pair": (torch.ones(1), torch.tensor([1, 2])), "n": 3}
    moved = device.to_device(batch, "cpu", torch.float64)
    assert moved["x"].dtype == torch.float64
    assert moved["pair"][0].dtype == torch.float64 and moved["pair"][1].dtype == torch.int64
    assert isinstance(moved["pair"], tuple) and moved["n"] == 3


def test_module_device_and_dtype():
    layer = torch.nn.Linear(2, 2).double()
    assert device.module_dtype(layer) == torch.float64
    assert device.module_device(layer).type == "cpu"
    assert device.module_device(torch.nn.ReLU()).type == "cpu"


def test_seed_everything_reproduces_every_generator():
    import random

    import numpy as np

    g = seed.seed_everything(123)
    draws = (random.random(), np.random.rand(), torch.rand(1).item(), torch.rand(1, generator=g).item())
    g = seed.seed_everything(123)
    again = (random.random(), np.random.rand(), torch.rand(1).item(), torch.rand(1, generator=g).item())
    assert draws == again


@pytest.mark.parametrize("bad, error", [(-1, ValueError), (2**32, ValueError), ("1", TypeError), (1.5, TypeError)])
def test_seed_everything_rejects_bad_seeds(bad, error):
    with pytest.raises(error, match="seed"):
        seed.seed_everything(bad)


@pytest.mark.gpu
def test_fit_runs_on_cuda():
    import nnlab

    s = nnlab.load_mnist1d(channel=True).to("cuda")
    train, val, test = s.loaders(256)
    model = nnlab.cnn1d(channels=(16, 16)).to("cuda")
    history = nnlab.fit(model, train, val, epochs=2, lr=1e-2, progress=False)
    assert len(history) == 2 and history.val_acc[-1] > 0.3
    assert next(model.parameters()).device.type == "cuda"
    assert nnlab.evaluate(model, test)["acc"] > 0.3


@pytest.mark.gpu
def test_diagnostics_on_cuda():
    import nnlab

    model = nnlab.mlp(40, 10, width=32, depth=3, activation="tanh").to("cuda")
    stats = nnlab.activation_stats(model, torch.randn(64, 40, device="cuda"))
    assert len(stats) == 4 and all(s.std > 0 for s in stats)


def test_seed_offset_reads_the_environment_and_refuses_nonsense(monkeypatch):
    monkeypatch.delenv("NNLAB_SEED_OFFSET", raising=False)
    assert seed.seed_offset() == 0  # the book is built with the seeds it states
    monkeypatch.setenv("NNLAB_SEED_OFFSET", "7")
    assert seed.seed_offset() == 7
    for bad in ("-1", "two", "1.5"):
        monkeypatch.setenv("NNLAB_SEED_OFFSET", bad)
        with pytest.raises(ValueError, match="NNLAB_SEED_OFFSET"):
            seed.seed_offset()
