import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nnlab import data
from nnlab.data import Splits, Standardizer, TensorLoader


@pytest.fixture(scope="module")
def mnist1d():
    return data.load_mnist1d(val_fraction=0.1, seed=0)


def test_mnist1d_matches_the_generator(mnist1d, tmp_path, monkeypatch):
    # The oracle is the mnist1d package itself, called the documented way.
    from mnist1d.data import get_dataset_args, make_dataset

    made = make_dataset(get_dataset_args())
    assert torch.allclose(mnist1d.x_test, torch.tensor(made["x_test"], dtype=torch.float32))
    assert torch.equal(mnist1d.y_test, torch.tensor(made["y_test"]))
    # train + val together are exactly the 4000 training signals
    both = torch.cat([mnist1d.x_train, mnist1d.x_val])
    reference = torch.tensor(made["x"], dtype=torch.float32)
    assert both.shape == reference.shape == (4000, 40)
    key = lambda t: sorted(map(tuple, t.numpy().round(5).tolist()))  # noqa: E731
    assert key(both) == key(reference)


def test_mnist1d_shapes_and_split(mnist1d):
    assert len(mnist1d.x_train) == 3600 and len(mnist1d.x_val) == 400 and len(mnist1d.x_test) == 1000
    assert mnist1d.feature_shape == (40,)
    assert mnist1d.num_classes == 10
    assert mnist1d.x_train.dtype == torch.float32 and mnist1d.y_train.dtype == torch.int64
    channel = data.load_mnist1d(channel=True)
    assert channel.feature_shape == (1, 40)


def test_mnist1d_split_is_seeded():
    a, b = data.load_mnist1d(seed=3), data.load_mnist1d(seed=3)
    c = data.load_mnist1d(seed=4)
    assert torch.equal(a.x_val, b.x_val)
    assert not torch.equal(a.x_val, c.x_val)
    assert len(data.load_mnist1d(val_fraction=0).x_val) == 0


def test_mnist1d_cache_is_used_and_survives_corruption(tmp_path, monkeypatch):
    monkeypatch.setenv("NNLAB_CACHE", str(tmp_path))
    first = data.load_mnist1d()
    cached = tmp_path / "mnist1d-v1-seed42.npz"
    assert cached.exists()
    cached.write_bytes(b"not an npz file")
    again = data.load_mnist1d()  # regenerated, not a crash
    assert torch.equal(first.x_test, again.x_test)


@pytest.mark.parametrize("bad", [1.2, -0.1, 1.0])
def test_bad_fractions_are_named(bad):
    with pytest.raises(ValueError, match="val_fraction"):
        data.load_mnist1d(val_fraction=bad)


def test_split_fractions_must_leave_training_data():
    x, y = torch.randn(10, 2), torch.zeros(10, dtype=torch.long)
    with pytest.raises(ValueError, match="leave training data"):
        data.split(x, y, val_fraction=0.5, test_fraction=0.5)
    with pytest.raises(ValueError, match="samples"):
        data.split(x, y[:5])


@settings(max_examples=30, deadline=None)
@given(n=st.integers(10, 200), val=st.floats(0, 0.45), test=st.floats(0, 0.45), seed=st.integers(0, 100))
def test_split_is_a_partition(n, val, test, seed):
    x = torch.arange(n, dtype=torch.float32).unsqueeze(1)
    y = torch.arange(n)
    s = data.split(x, y, val, test, seed)
    ids = torch.cat([s.y_train, s.y_val, s.y_test]).sort().values
    assert torch.equal(ids, torch.arange(n))
    assert torch.equal(s.x_train[:, 0].long(), s.y_train)  # pairs stay together


def test_digits_are_images_in_unit_range():
    s = data.load_digits()
    assert s.feature_shape == (1, 8, 8)
    assert len(s.x_train) + len(s.x_val) + len(s.x_test) == 1797
    assert 0 <= s.x_train.min() and s.x_train.max() <= 1
    assert s.num_classes == 10
    assert s.flattened().feature_shape == (64,)


def test_standardized_uses_training_statistics_only():
    x = torch.randn(100, 3) * torch.tensor([1.0, 5.0, 0.0]) + torch.tensor([2.0, -1.0, 7.0])
    y = torch.zeros(100, dtype=torch.long)
    shifted = torch.full((20, 3), 100.0)  # test data far from the training data
    s = Splits(x, y, shifted, y[:20], shifted, y[:20]).standardized()
    expected_mean, expected_std = x.mean(0), x.std(0, unbiased=False)
    expected_std[2] = 1.0  # a constant feature is not divided by zero
    torch.testing.assert_close(s.x_train, (x - expected_mean) / expected_std)
    torch.testing.assert_close(s.x_test, (shifted - expected_mean) / expected_std)
    torch.testing.assert_close(s.x_train[:, :2].mean(0), torch.zeros(2), atol=1e-5, rtol=0)
    torch.testing.assert_close(s.x_train[:, :2].std(0, unbiased=False), torch.ones(2), atol=1e-5, rtol=0)


def test_standardizer_rejects_wrong_shapes():
    scaler = Standardizer.fit(torch.randn(10, 3))
    with pytest.raises(ValueError, match="do not match"):
        scaler(torch.randn(5, 4))
    with pytest.raises(ValueError, match="at least 2"):
        Standardizer.fit(torch.randn(1, 3))


def test_splits_reject_mismatched_lengths():
    with pytest.raises(ValueError, match="x_train has 3 samples but y_train has 2"):
        Splits(torch.zeros(3, 1), torch.zeros(2), *[torch.zeros(0)] * 4)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 300), batch=st.integers(1, 64), shuffle=st.booleans(), drop_last=st.booleans())
def test_tensor_loader_covers_every_sample_once(n, batch, shuffle, drop_last):
    x, y = torch.arange(n).float().unsqueeze(1), torch.arange(n)
    loader = TensorLoader(x, y, batch, shuffle=shuffle, drop_last=drop_last)
    batches = list(loader)
    assert len(batches) == len(loader)
    seen = torch.cat([b[1] for b in batches]) if batches else torch.zeros(0, dtype=torch.long)
    if drop_last:
        assert len(seen) == (n // batch) * batch
        assert all(len(b[1]) == batch for b in batches)
    else:
        assert torch.equal(seen.sort().values, torch.arange(n))
    for bx, by in batches:
        assert torch.equal(bx[:, 0].long(), by)


def test_tensor_loader_matches_dataloader_without_shuffle():
    from torch.utils.data import DataLoader, TensorDataset

    x, y = torch.randn(50, 3), torch.randint(0, 4, (50,))
    ours = list(TensorLoader(x, y, 16))
    theirs = list(DataLoader(TensorDataset(x, y), batch_size=16))
    assert len(ours) == len(theirs)
    for (a, b), (c, d) in zip(ours, theirs):
        assert torch.equal(a, c) and torch.equal(b, d)


def test_tensor_loader_order_is_reproducible_and_changes_per_epoch():
    x, y = torch.randn(40, 2), torch.arange(40)
    first = TensorLoader(x, y, 8, shuffle=True, seed=1)
    epoch1 = torch.cat([b for _, b in first])
    epoch2 = torch.cat([b for _, b in first])
    assert not torch.equal(epoch1, epoch2)
    again = torch.cat([b for _, b in TensorLoader(x, y, 8, shuffle=True, seed=1)])
    assert torch.equal(epoch1, again)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_tensor_loader_rejects_bad_batch_size(bad):
    with pytest.raises(ValueError, match="batch_size"):
        TensorLoader(torch.zeros(4, 1), torch.zeros(4), bad)


def test_spirals_are_balanced_and_not_linearly_separable():
    from sklearn.linear_model import LogisticRegression

    x, y = data.make_spirals(600, classes=3, seed=0)
    assert x.shape == (600, 2) and y.shape == (600,)
    assert torch.bincount(y).tolist() == [200, 200, 200]
    linear = LogisticRegression(max_iter=1000).fit(x.numpy(), y.numpy())
    assert linear.score(x.numpy(), y.numpy()) < 0.7
    again, _ = data.make_spirals(600, classes=3, seed=0)
    assert torch.equal(x, again)


def test_moons_follow_scikit_learn():
    from sklearn.datasets import make_moons

    x, y = data.make_moons(100, noise=0.05, seed=2)
    ref_x, ref_y = make_moons(100, noise=0.05, random_state=2)
    np.testing.assert_allclose(x.numpy(), ref_x, rtol=1e-6)
    assert y.tolist() == ref_y.tolist()


@pytest.mark.parametrize("call", [lambda: data.make_spirals(0), lambda: data.make_spirals(10, classes=1),
                                  lambda: data.make_moons(10, noise=-1)])
def test_synthetic_sets_reject_bad_arguments(call):
    with pytest.raises(ValueError):
        call()


def test_baselines_are_the_papers():
    assert data.MNIST1D_BASELINES["MLP"] == 0.68 and data.MNIST1D_BASELINES["CNN"] == 0.94


def test_subsample_train_keeps_pairs_and_other_splits():
    x, y = torch.arange(100).float().unsqueeze(1), torch.arange(100)
    s = data.split(x, y, 0.1, 0.2, seed=0)
    small = s.subsample_train(10, seed=1)
    assert len(small.x_train) == 10 and torch.equal(small.x_train[:, 0].long(), small.y_train)
    assert set(small.y_train.tolist()) <= set(s.y_train.tolist())
    assert torch.equal(small.x_test, s.x_test) and torch.equal(small.x_val, s.x_val)
    with pytest.raises(ValueError, match="n must be"):
        s.subsample_train(1000)
