"""Losses for classification and for regression turned into classification.

* :func:`softmax_squared_error`: the squared error between the predicted probabilities and the
  one-hot label, ``‖softmax(z) − e_y‖²`` averaged over examples: "the L2 loss" for a classifier.
  Its gradient with respect to the logits is ``2 J (p − e_y)`` with ``J = diag(p) − p pᵀ``
  the softmax's Jacobian, which vanishes when the network is confidently wrong (``p`` near a
  one-hot vector), where cross-entropy's gradient ``p − e_y`` is largest.
* Binning (cs231n: "discretize the output into bins and classify"): :func:`bin_edges` spreads
  ``bins`` equal bins over a range, :func:`to_bins` gives each target its bin's index,
  :func:`bin_centres` and :func:`binned_prediction` turn a classifier's logits back into a
  value (the centre of the most likely bin, or the mean over the predicted distribution).
* :func:`temperature_scaled_loss`: the cross-entropy of logits divided by a temperature, which
  changes the loss and never the accuracy.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def softmax_squared_error(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``mean_i ‖softmax(z_i) − e_{y_i}‖²`` for logits ``(N, C)`` and integer labels ``(N,)``."""
    if logits.dim() != 2:
        raise ValueError(f"logits must be (N, classes), got shape {tuple(logits.shape)}")
    probabilities = F.softmax(logits, dim=1)
    one_hot = F.one_hot(labels, logits.shape[1]).to(probabilities.dtype)
    return (probabilities - one_hot).pow(2).sum(dim=1).mean()


def bin_edges(low: float, high: float, bins: int) -> torch.Tensor:
    """``bins + 1`` equally spaced edges from ``low`` to ``high``."""
    if not isinstance(bins, int) or bins < 2:
        raise ValueError(f"bins must be an int >= 2, got {bins!r}")
    if not low < high:
        raise ValueError(f"low must be below high, got {low} and {high}")
    return torch.linspace(low, high, bins + 1)


def to_bins(values: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    """The index of the bin each value falls in; values outside the edges go to the first or last bin."""
    inner = edges[1:-1].to(values.dtype).contiguous()
    return torch.bucketize(values.contiguous(), inner, right=True)


def bin_centres(edges: torch.Tensor) -> torch.Tensor:
    """The middle of each bin."""
    return (edges[:-1] + edges[1:]) / 2


def binned_prediction(logits: torch.Tensor, edges: torch.Tensor, how: str = "mode") -> torch.Tensor:
    """A value per example from a classifier over bins: the centre of the most likely bin
    (``"mode"``) or the mean of the centres under the predicted probabilities (``"mean"``)."""
    centres = bin_centres(edges).to(logits.dtype)
    if how == "mode":
        return centres[logits.argmax(dim=1)]
    if how == "mean":
        return F.softmax(logits, dim=1) @ centres
    raise ValueError(f"how must be 'mode' or 'mean', got {how!r}")


def temperature_scaled_loss(logits: torch.Tensor, labels: torch.Tensor, temperature: float) -> float:
    """Cross-entropy of ``logits / temperature``: the same argmax, so the same accuracy, for every temperature."""
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    return float(F.cross_entropy(logits / temperature, labels))
