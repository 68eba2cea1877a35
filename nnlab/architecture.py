"""Building blocks for the architecture chapter: MLPs of given widths, a parameter budget,
bounded output heads and deep stacks with plain, residual or highway connections.

:func:`nnlab.mlp` gives every hidden layer the same width; the sources' questions (is depth
worth more than width at equal cost? does a wide first layer help?) need layers of chosen
widths and widths solved from a parameter budget, which this module adds.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from nnlab.models import MLPBlock, _check_choice, _check_dropout, _check_int, initialize_, make_activation, mlp

CONNECTIONS = ("plain", "residual", "highway")


def mlp_of_widths(
    in_features: int,
    out_features: int,
    widths: Sequence[int],
    activation: str = "relu",
    dropout: float = 0.0,
    init: str = "default",
) -> nn.Sequential:
    """An MLP whose hidden layers have the given ``widths`` (first to last), then a linear output.

    ``mlp_of_widths(40, 10, [256, 64, 64])`` is a wide first layer followed by two narrow ones;
    the layers are the :class:`~nnlab.models.MLPBlock` of :func:`nnlab.mlp`, so a list of
    equal widths builds exactly ``nnlab.mlp``'s network.
    """
    _check_int("in_features", in_features)
    _check_int("out_features", out_features)
    widths = list(widths)
    for width in widths:
        _check_int("every width", width)
    _check_dropout(dropout)
    blocks: list[nn.Module] = []
    features = in_features
    for width in widths:
        blocks.append(MLPBlock(features, width, activation, dropout=dropout))
        features = width
    return initialize_(nn.Sequential(*blocks, nn.Linear(features, out_features)), init)


def mlp_parameters(in_features: int, out_features: int, widths: Sequence[int]) -> int:
    """The number of weights and biases of :func:`mlp_of_widths` with these widths."""
    sizes = [in_features, *widths, out_features]
    return sum((fan_in + 1) * fan_out for fan_in, fan_out in zip(sizes, sizes[1:]))


def width_for_budget(depth: int, parameters: int, in_features: int, out_features: int) -> int:
    """The width that gives ``depth`` equal hidden layers about ``parameters`` parameters.

    With width ``w`` the MLP has ``(d-1)·w² + (in + out + d)·w + out`` parameters (weights and
    biases); of the two whole widths around the positive root of that quadratic, the one whose
    count is nearer the budget keeps the networks of a depth-versus-width comparison within one
    layer's rounding of each other. (Rounding the root itself is not enough: the count grows
    faster than linearly, so the nearer width can lie on the root's farther side.)
    """
    _check_int("depth", depth)
    _check_int("parameters", parameters)
    a = depth - 1
    b = in_features + out_features + depth
    c = out_features - parameters
    if mlp_parameters(in_features, out_features, [1] * depth) > parameters:
        raise ValueError(f"{parameters} parameters cannot pay for even one unit per layer at depth {depth}")
    root = -c / b if a == 0 else (-b + math.sqrt(b * b - 4 * a * c)) / (2 * a)
    candidates = {max(1, math.floor(root)), max(1, math.ceil(root))}
    return min(sorted(candidates),
               key=lambda w: abs(mlp_parameters(in_features, out_features, [w] * depth) - parameters))


class ScaledTanh(nn.Module):
    """``scale · tanh(x)``: an output in (-scale, scale) for a target known to lie there."""

    def __init__(self, scale: float) -> None:
        super().__init__()
        if not isinstance(scale, (int, float)) or isinstance(scale, bool) or not scale > 0:
            raise ValueError(f"scale must be a positive number, got {scale!r}")
        self.scale = float(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * torch.tanh(x)

    def extra_repr(self) -> str:
        return f"scale={self.scale:g}"


class HighwayBlock(nn.Module):
    """A highway layer (Srivastava et al., 2015): ``t · h(x) + (1 − t) · x``.

    ``h(x) = activation(W_h x + b_h)`` is the layer's transform and ``t = σ(W_t x + b_t)`` a
    learned gate per unit. The gate's bias starts at ``gate_bias`` (negative: the gate starts
    mostly shut, so a deep stack begins close to the identity and passes signals and
    gradients through, as a residual stack does without a gate).
    """

    def __init__(self, features: int, activation: str = "relu", gate_bias: float = -2.0) -> None:
        super().__init__()
        _check_int("features", features)
        self.transform = nn.Linear(features, features)
        self.activation = make_activation(activation)
        self.gate = nn.Linear(features, features)
        self.gate_bias = float(gate_bias)
        self.reset_gate()

    def reset_gate(self) -> None:
        """Set the gate's bias to ``gate_bias`` (after a re-initialization zeroed it)."""
        nn.init.constant_(self.gate.bias, self.gate_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        transformed = self.activation(self.transform(x))
        gate = torch.sigmoid(self.gate(x))
        return gate * transformed + (1 - gate) * x


def deep_mlp(
    in_features: int,
    out_features: int,
    width: int,
    depth: int,
    connection: str = "plain",
    activation: str = "relu",
    init: str = "default",
) -> nn.Sequential:
    """``depth`` hidden layers of ``width`` units joined by ``connection``.

    * ``"plain"`` and ``"residual"``: :func:`nnlab.mlp` (with ``residual=True``, every hidden
      layer after the first returns ``x + layer(x)``);
    * ``"highway"``: every hidden layer after the first is a :class:`HighwayBlock`
      (which has twice the weights of a plain layer of the same width: its gate).

    The first layer changes the width from ``in_features`` and is always plain. ``init``
    re-initializes every linear layer as :func:`nnlab.mlp` does, gates included, except that
    the highway gates' biases keep their negative start.
    """
    _check_int("depth", depth)
    _check_int("width", width)
    _check_choice("connection", connection, CONNECTIONS)
    if connection != "highway":
        return mlp(in_features, out_features, width, depth, activation, residual=connection == "residual", init=init)
    blocks: list[nn.Module] = [MLPBlock(in_features, width, activation)]
    blocks += [HighwayBlock(width, activation) for _ in range(depth - 1)]
    model = initialize_(nn.Sequential(*blocks, nn.Linear(width, out_features)), init)
    for block in model:
        if isinstance(block, HighwayBlock):
            block.reset_gate()
    return model
