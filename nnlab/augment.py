"""Augmenting 1-D signals: new training examples drawn from old ones by changes the label
does not care about.

For MNIST-1D the natural ones are those its generator already applies to every signal: a
circular shift along the time axis, a change of amplitude, and added noise.
:class:`Augmented` wraps a loader of batches ``(x, y)`` and draws a fresh change for every
example of every batch, from its own seeded generator, so a run is reproducible.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator

import torch


def shift_scale_noise(x: torch.Tensor, generator: torch.Generator, max_shift: int = 3, scale: float = 0.1,
                      noise: float = 0.1) -> torch.Tensor:
    """Augment a batch of signals ``x``: ``(N, L)``, or ``(N, C, L)`` for a CNN (a new tensor).

    Each signal is rolled circularly by a shift drawn uniformly from ``-max_shift..max_shift``
    samples (all channels of a signal by the same shift), multiplied by a factor drawn
    uniformly from ``[1 - scale, 1 + scale]``, and given independent Gaussian noise of
    standard deviation ``noise``. A batch ``(N, 1, L)`` gets exactly what ``(N, L)`` would.
    """
    if x.dim() not in (2, 3):
        raise ValueError(f"x must be a batch of 1-D signals (N, L) or (N, C, L), got shape {tuple(x.shape)}")
    if max_shift < 0 or not 0 <= scale < 1 or noise < 0:
        raise ValueError(f"need max_shift >= 0, 0 <= scale < 1 and noise >= 0; got {max_shift}, {scale}, {noise}")
    n, length = x.shape[0], x.shape[-1]
    shifts = torch.randint(-max_shift, max_shift + 1, (n,), generator=generator)
    index = (torch.arange(length).unsqueeze(0) - shifts.unsqueeze(1)) % length  # torch.roll, one shift per row
    factors = 1 + scale * (2 * torch.rand(n, 1, generator=generator, dtype=x.dtype) - 1)
    if x.dim() == 3:
        index, factors = index.unsqueeze(1).expand(-1, x.shape[1], -1), factors.unsqueeze(1)
    return x.gather(-1, index.to(x.device)) * factors.to(x.device) + noise * torch.randn(
        x.shape, generator=generator, dtype=x.dtype).to(x.device)


class Augmented:
    """The batches of ``loader`` with :func:`shift_scale_noise` applied to each input batch."""

    def __init__(self, loader: Iterable[tuple[torch.Tensor, torch.Tensor]], seed: int = 0, max_shift: int = 3,
                 scale: float = 0.1, noise: float = 0.1) -> None:
        self.loader = loader
        self.generator = torch.Generator().manual_seed(seed)
        self.options = {"max_shift": max_shift, "scale": scale, "noise": noise}

    def __len__(self) -> int:
        return len(self.loader)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for x, y in self.loader:
            yield shift_scale_noise(x, self.generator, **self.options), y

    def __repr__(self) -> str:
        return f"Augmented({self.loader!r}, {self.options})"


@torch.no_grad()
def predict_shifted(model: torch.nn.Module, x: torch.Tensor, max_shift: int = 2) -> torch.Tensor:
    """Class probabilities averaged over circular shifts of the inputs by ``-max_shift..max_shift``.

    Test-time augmentation: the model sees each signal at ``2 max_shift + 1`` positions and the
    softmax outputs are averaged, which smooths over a network that is not quite
    shift-invariant. ``max_shift=0`` is the plain prediction. The model is evaluated in eval
    mode and left in the mode it was in.
    """
    if not isinstance(max_shift, int) or isinstance(max_shift, bool) or max_shift < 0:
        raise ValueError(f"max_shift must be an int >= 0, got {max_shift!r}")
    was_training = model.training
    model.eval()
    try:
        shifts = range(-max_shift, max_shift + 1)
        return sum(torch.softmax(model(torch.roll(x, shift, dims=-1)), dim=1) for shift in shifts) / len(shifts)
    finally:
        model.train(was_training)
