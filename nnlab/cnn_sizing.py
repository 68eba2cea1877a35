"""Sizing convolutional networks: output sizes, parameter counts, receptive fields.

The reference for the ``cnn_sizing`` exercise. A convolution with kernel ``k``, stride
``s``, padding ``p`` and dilation ``d`` on an input of size ``n`` has
``⌊(n + 2p − d(k − 1) − 1) / s⌋ + 1`` outputs along that dimension: the dilated kernel
spans ``d(k − 1) + 1`` inputs, and it fits ``⌊(n + 2p − span) / s⌋ + 1`` times.
"""
from __future__ import annotations

import math
from collections.abc import Sequence


def _check_int(name: str, value: object, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def _kernel_elements(kernel_size: int | Sequence[int]) -> int:
    if isinstance(kernel_size, int) and not isinstance(kernel_size, bool):
        _check_int("kernel_size", kernel_size, 1)
        return kernel_size * kernel_size  # an int means a square 2-D kernel
    sizes = tuple(kernel_size)
    if not sizes:
        raise ValueError("kernel_size must name at least one dimension")
    for size in sizes:
        _check_int("kernel_size", size, 1)
    return math.prod(sizes)


def conv_output_size(n: int, kernel_size: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Outputs along one spatial dimension: ⌊(n + 2·padding − dilation·(kernel_size − 1) − 1) / stride⌋ + 1."""
    _check_int("n", n, 1)
    _check_int("kernel_size", kernel_size, 1)
    _check_int("stride", stride, 1)
    _check_int("padding", padding, 0)
    _check_int("dilation", dilation, 1)
    size = (n + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1
    if size < 1:
        span = dilation * (kernel_size - 1) + 1
        raise ValueError(f"a kernel spanning {span} does not fit in {n} inputs with padding {padding}")
    return size


def conv_params(
    in_channels: int, out_channels: int, kernel_size: int | Sequence[int], bias: bool = True, groups: int = 1
) -> int:
    """Parameters of a convolution: out · (in / groups) · prod(kernel), plus out biases."""
    _check_int("in_channels", in_channels, 1)
    _check_int("out_channels", out_channels, 1)
    _check_int("groups", groups, 1)
    if in_channels % groups or out_channels % groups:
        raise ValueError(f"groups={groups} must divide in_channels={in_channels} and out_channels={out_channels}")
    weights = out_channels * (in_channels // groups) * _kernel_elements(kernel_size)
    return weights + (out_channels if bias else 0)


def separable_conv_params(
    in_channels: int, out_channels: int, kernel_size: int | Sequence[int], bias: bool = True
) -> int:
    """Depthwise (one k×k filter per input channel) plus pointwise 1×1 convolution parameters."""
    depthwise = conv_params(in_channels, in_channels, kernel_size, bias, groups=in_channels)
    ones = 1 if isinstance(kernel_size, int) else tuple(1 for _ in tuple(kernel_size))
    pointwise = conv_params(in_channels, out_channels, ones, bias)
    return depthwise + pointwise


def receptive_field(layers: Sequence[tuple[int, int]]) -> int:
    """Receptive field of a stack of ``(kernel_size, stride)`` layers (dilation 1).

    Each layer widens the field by ``(k − 1)`` times the product of the strides before it:
    ``r = 1 + Σ_l (k_l − 1) · Π_{i<l} s_i``.
    """
    field, jump = 1, 1
    for index, layer in enumerate(layers):
        if not isinstance(layer, (tuple, list)) or len(layer) != 2:
            raise ValueError(f"layer {index} must be a (kernel_size, stride) pair, got {layer!r}")
        kernel, stride = layer
        _check_int(f"kernel_size of layer {index}", kernel, 1)
        _check_int(f"stride of layer {index}", stride, 1)
        field += (kernel - 1) * jump
        jump *= stride
    return field
