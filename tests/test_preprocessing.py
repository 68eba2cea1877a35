import pytest
import torch
from sklearn.decomposition import PCA
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from nnlab import preprocessing as pre


def _data(seed=0):
    rng = torch.Generator().manual_seed(seed)
    x = torch.randn(200, 5, generator=rng, dtype=torch.float64) * torch.tensor([1.0, 10.0, 0.1, 3.0, 1e3], dtype=torch.float64)
    return x + torch.tensor([0.0, -5.0, 2.0, 100.0, 1.0], dtype=torch.float64)


def test_the_standardizer_matches_scikit_learns():
    x_train, x_test = _data(0), _data(1)
    mean, std = pre.fit_standardizer(x_train)
    scaler = StandardScaler().fit(x_train.numpy())
    assert torch.allclose(mean, torch.from_numpy(scaler.mean_)) and torch.allclose(std, torch.from_numpy(scaler.scale_))
    assert torch.allclose(pre.standardize(x_test, mean, std), torch.from_numpy(scaler.transform(x_test.numpy())))


def test_a_constant_feature_is_centred_not_divided_by_zero():
    x = torch.tensor([[1.0, 3.0], [2.0, 3.0], [3.0, 3.0]])
    mean, std = pre.fit_standardizer(x)
    assert std.tolist() == [pytest.approx((2 / 3) ** 0.5), 1.0]
    assert pre.standardize(x, mean, std)[:, 1].tolist() == [0.0, 0.0, 0.0]


def test_minmax_matches_scikit_learn_on_any_range_and_maps_constants_to_the_middle():
    x_train, x_test = _data(0), _data(1)
    low, high = pre.fit_minmax(x_train)
    for lo, hi in [(-1.0, 1.0), (0.0, 1.0), (2.0, 5.0)]:
        scaler = MinMaxScaler(feature_range=(lo, hi)).fit(x_train.numpy())
        assert torch.allclose(pre.minmax_scale(x_test, low, high, lo, hi), torch.from_numpy(scaler.transform(x_test.numpy())))
    constant = torch.tensor([[1.0, 3.0], [2.0, 3.0]])
    low, high = pre.fit_minmax(constant)
    assert pre.minmax_scale(constant, low, high)[:, 1].tolist() == [0.0, 0.0]
    assert pre.minmax_scale(constant, low, high, 0.0, 1.0)[:, 1].tolist() == [0.5, 0.5]


def test_bad_inputs_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="matrix"):
        pre.fit_standardizer(torch.ones(4))
    with pytest.raises(ValueError, match="no samples"):
        pre.fit_minmax(torch.ones(0, 3))
    with pytest.raises(ValueError, match="lo must be below hi"):
        pre.minmax_scale(torch.ones(2, 2), torch.zeros(2), torch.ones(2), 1.0, 1.0)


def test_pca_whitening_gives_identity_covariance_and_matches_scikit_learn():
    x = _data(0) @ torch.randn(5, 5, generator=torch.Generator().manual_seed(3), dtype=torch.float64)  # correlated features
    mean, whitening = pre.fit_pca_whitening(x, eps=0.0)
    white = (x - mean) @ whitening
    assert torch.allclose(white.T @ white / len(x), torch.eye(5, dtype=torch.float64), atol=1e-8)
    # scikit-learn's whitened components (unbiased covariance) agree up to the sign of each component and n/(n-1)
    theirs = torch.from_numpy(PCA(whiten=True).fit_transform(x.numpy())) * (len(x) / (len(x) - 1)) ** 0.5
    ours = white.flip(1)  # eigh sorts eigenvalues up, PCA down
    assert torch.allclose(ours.abs(), theirs.abs(), atol=1e-6)
