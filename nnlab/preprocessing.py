"""Scaling inputs, with statistics from the training split only: the reference for the
``preprocessing`` exercise.

Features run along dim 1, samples along dim 0. Every ``fit_*`` function looks only at the
tensor it is given (the training split); the transform then applies those numbers, unchanged,
to the validation and test splits, which is what keeps their scores honest. Also here: PCA
whitening (the exercise's challenge).
"""
from __future__ import annotations

import torch


def _check_matrix(x: torch.Tensor, name: str = "x_train") -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 2:
        raise ValueError(f"{name} must be a (samples, features) matrix, got shape {tuple(getattr(x, 'shape', ()))}")
    if x.shape[0] < 1:
        raise ValueError(f"{name} has no samples")


def fit_standardizer(x_train: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-feature mean and population standard deviation (``unbiased=False``) of ``x_train``;
    a feature with standard deviation 0 gets 1, so that it is centred but not divided by 0."""
    _check_matrix(x_train)
    mean = x_train.mean(dim=0)
    std = x_train.std(dim=0, unbiased=False)
    return mean, torch.where(std > 0, std, torch.ones_like(std))


def standardize(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """``(x - mean) / std``, feature by feature."""
    return (x - mean) / std


def fit_minmax(x_train: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-feature minimum and maximum of ``x_train``."""
    _check_matrix(x_train)
    return x_train.min(dim=0).values, x_train.max(dim=0).values


def minmax_scale(x: torch.Tensor, x_min: torch.Tensor, x_max: torch.Tensor, lo: float = -1.0, hi: float = 1.0) -> torch.Tensor:
    """Map each feature's ``[x_min, x_max]`` onto ``[lo, hi]``: ``lo + (x - x_min)(hi - lo)/(x_max - x_min)``.

    A feature with ``x_max == x_min`` (constant in training) maps to the middle, ``(lo + hi)/2``.
    Values outside the training range land outside ``[lo, hi]``: the transform is fixed once fitted.
    """
    if not lo < hi:
        raise ValueError(f"lo must be below hi, got lo={lo}, hi={hi}")
    span = x_max - x_min
    constant = span == 0
    scaled = lo + (x - x_min) * (hi - lo) / torch.where(constant, torch.ones_like(span), span)
    return torch.where(constant, torch.full_like(scaled, (lo + hi) / 2), scaled)


def fit_pca_whitening(x_train: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    """``(mean, W)`` such that ``(x - mean) @ W`` has (nearly) identity covariance on the
    training split: ``W = U diag(1/sqrt(λ + eps))`` from the eigendecomposition ``Σ = U diag(λ) Uᵀ``
    of the population covariance. ``eps`` keeps directions of (almost) no variance from blowing up."""
    _check_matrix(x_train)
    mean = x_train.mean(dim=0)
    centred = (x_train - mean).double()
    covariance = centred.T @ centred / x_train.shape[0]
    eigenvalues, eigenvectors = torch.linalg.eigh(covariance)
    whitening = eigenvectors / torch.sqrt(eigenvalues.clamp(min=0) + eps)
    return mean, whitening.to(x_train.dtype)
