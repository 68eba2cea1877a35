"""Model builders: MLPs and small 1-D / 2-D CNNs with the knobs the chapters turn.

Every builder returns ordinary ``torch.nn`` modules. MLPs are an ``nn.Sequential`` of
:class:`MLPBlock` followed by the output ``nn.Linear``; CNNs are a :class:`ConvNet` whose
``features`` is an ``nn.Sequential`` of :class:`ConvBlock` and whose ``head`` is an ``nn.Linear``
after global pooling (the layout the transfer-learning chapter relies on).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from nnlab import init as initializers

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "selu": nn.SELU,
    "gelu": nn.GELU,
    "prelu": nn.PReLU,  # one learned negative slope, initialized to 0.25 (He et al., 2015)
    "rrelu": nn.RReLU,  # a random negative slope in [1/8, 1/3] while training, their mean in eval
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "identity": nn.Identity,
}
NORMS = (None, "batch", "layer", "group")
NORM_POSITIONS = ("before", "after")
INITS = ("default", "xavier", "he", "lecun", "standard_normal", "constant", "zeros")


def make_activation(name: str) -> nn.Module:
    """An activation module by name (one of :data:`ACTIVATIONS`)."""
    if not isinstance(name, str) or name.lower() not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name.lower()]()


def _norm_layer(norm: str | None, features: int, dims: int) -> nn.Module:
    """Normalization over ``features`` for dense (dims=0), 1-D (1) or 2-D (2) feature maps."""
    if norm is None:
        return nn.Identity()
    if norm == "batch":
        return (nn.BatchNorm1d, nn.BatchNorm1d, nn.BatchNorm2d)[dims](features)
    if norm == "layer":
        # GroupNorm with one group normalizes each sample over all its channels and positions:
        # LayerNorm for feature maps, without fixing the spatial size in advance.
        return nn.LayerNorm(features) if dims == 0 else nn.GroupNorm(1, features)
    if norm == "group":
        # Wu & He (2018): statistics per sample over groups of channels (up to 8 groups).
        return nn.GroupNorm(math.gcd(features, 8), features)
    raise ValueError(f"unknown norm {norm!r}; choose one of {NORMS}")


def _check_int(name: str, value: int, minimum: int = 1) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


def _check_choice(name: str, value: object, choices: Sequence[object]) -> None:
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; choose one of {tuple(choices)}")


def _check_dropout(p: float) -> None:
    if not isinstance(p, (int, float)) or isinstance(p, bool) or not 0 <= p < 1:
        raise ValueError(f"dropout must be a probability in [0, 1), got {p!r}")


class MLPBlock(nn.Module):
    """``Linear -> [norm] -> activation -> [dropout]`` with an optional skip connection.

    ``norm_position="after"`` puts the normalization after the activation instead (the seeds
    disagree on the place; chapter 3 measures both). With ``residual=True`` the block returns
    ``x + block(x)``, which needs ``in_features == out_features``.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        activation: str = "relu",
        norm: str | None = None,
        norm_position: str = "before",
        dropout: float = 0.0,
        residual: bool = False,
    ) -> None:
        super().__init__()
        _check_choice("norm", norm, NORMS)
        _check_choice("norm_position", norm_position, NORM_POSITIONS)
        _check_dropout(dropout)
        if residual and in_features != out_features:
            raise ValueError(
                f"a residual block needs in_features == out_features, got {in_features} and {out_features}"
            )
        self.linear = nn.Linear(in_features, out_features, bias=norm is None or norm_position == "after")
        self.norm = _norm_layer(norm, out_features, dims=0)
        self.activation = make_activation(activation)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.norm_position = norm_position
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.linear(x)
        if self.norm_position == "before":
            h = self.activation(self.norm(h))
        else:
            h = self.norm(self.activation(h))
        h = self.dropout(h)
        return x + h if self.residual else h


def mlp(
    in_features: int,
    out_features: int,
    width: int = 128,
    depth: int = 2,
    activation: str = "relu",
    norm: str | None = None,
    norm_position: str = "before",
    dropout: float = 0.0,
    residual: bool = False,
    init: str = "default",
) -> nn.Sequential:
    """A multilayer perceptron with ``depth`` hidden layers of ``width`` units.

    Input ``(N, in_features)``, output ``(N, out_features)`` logits. ``residual=True`` adds a
    skip connection around every hidden block after the first (the first changes the
    width). ``init`` re-initializes every ``Linear`` (see :func:`initialize_`).
    """
    _check_int("in_features", in_features)
    _check_int("out_features", out_features)
    _check_int("width", width)
    _check_int("depth", depth, minimum=0)
    blocks: list[nn.Module] = []
    features = in_features
    for index in range(depth):
        blocks.append(
            MLPBlock(features, width, activation, norm, norm_position, dropout, residual=residual and index > 0)
        )
        features = width
    model = nn.Sequential(*blocks, nn.Linear(features, out_features))
    return initialize_(model, init)


class ConvBlock(nn.Module):
    """``Conv -> [norm] -> activation -> [dropout] -> [max-pool by 2]``, 1-D or 2-D.

    ``padding`` keeps the length ("same" convolution, odd kernels). ``residual=True`` adds the
    input back before pooling; when the channel count changes, a 1x1 convolution projects it
    (as in ResNet's projection shortcut).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        dims: int = 1,
        activation: str = "relu",
        norm: str | None = "batch",
        dropout: float = 0.0,
        pool: bool = False,
        residual: bool = False,
    ) -> None:
        super().__init__()
        _check_choice("dims", dims, (1, 2))
        _check_choice("norm", norm, NORMS)
        _check_int("in_channels", in_channels)
        _check_int("out_channels", out_channels)
        _check_int("kernel_size", kernel_size)
        _check_dropout(dropout)
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd so that padding keeps the size, got {kernel_size}")
        conv = nn.Conv1d if dims == 1 else nn.Conv2d
        self.conv = conv(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=norm is None)
        self.norm = _norm_layer(norm, out_channels, dims)
        self.activation = make_activation(activation)
        dropout_layer = nn.Dropout1d if dims == 1 else nn.Dropout2d
        self.dropout = dropout_layer(dropout) if dropout > 0 else nn.Identity()
        if residual and in_channels != out_channels:
            self.shortcut: nn.Module | None = conv(in_channels, out_channels, 1, bias=False)
        elif residual:
            self.shortcut = nn.Identity()
        else:
            self.shortcut = None
        max_pool = nn.MaxPool1d if dims == 1 else nn.MaxPool2d
        self.pool = max_pool(2) if pool else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.dropout(self.activation(self.norm(self.conv(x))))
        if self.shortcut is not None:
            h = h + self.shortcut(x)
        return self.pool(h)


class ConvNet(nn.Module):
    """Convolutional ``features``, global pooling, then a linear ``head``.

    Input ``(N, C, L)`` (1-D) or ``(N, C, H, W)`` (2-D); output ``(N, num_classes)`` logits.
    Global max pooling makes the prediction invariant to where a pattern sits, which is
    what MNIST-1D's random translations call for.
    """

    def __init__(self, features: nn.Sequential, head: nn.Linear, global_pool: str = "max") -> None:
        super().__init__()
        _check_choice("global_pool", global_pool, ("max", "avg"))
        self.features = features
        self.head = head
        self.global_pool = global_pool

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled features fed to the head: ``(N, channels)``."""
        h = self.features(x).flatten(2)
        return h.amax(dim=2) if self.global_pool == "max" else h.mean(dim=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))

    def extra_repr(self) -> str:
        return f"global_pool={self.global_pool!r}"


def cnn(
    in_channels: int = 1,
    num_classes: int = 10,
    channels: Sequence[int] = (32, 32, 64),
    kernel_size: int = 5,
    dims: int = 1,
    activation: str = "relu",
    norm: str | None = "batch",
    dropout: float = 0.0,
    pool_after: Sequence[int] = (0,),
    residual: bool = False,
    global_pool: str = "max",
    init: str = "default",
) -> ConvNet:
    """A small CNN: one :class:`ConvBlock` per entry of ``channels``.

    ``pool_after`` lists the block indices followed by a max-pool that halves the length (or
    height and width). ``residual=True`` gives every block a skip connection.
    """
    if not channels:
        raise ValueError("channels must name at least one convolutional block")
    for index in pool_after:
        if not 0 <= index < len(channels):
            raise ValueError(f"pool_after index {index} is outside the {len(channels)} blocks")
    blocks = []
    previous = in_channels
    for index, width in enumerate(channels):
        blocks.append(
            ConvBlock(
                previous, width, kernel_size, dims, activation, norm, dropout,
                pool=index in pool_after, residual=residual,
            )
        )
        previous = width
    model = ConvNet(nn.Sequential(*blocks), nn.Linear(previous, num_classes), global_pool)
    return initialize_(model, init)


def cnn1d(in_channels: int = 1, num_classes: int = 10, **kwargs) -> ConvNet:
    """A 1-D CNN for signals ``(N, C, L)`` such as MNIST-1D (see :func:`cnn`)."""
    return cnn(in_channels, num_classes, dims=1, **kwargs)


def cnn2d(in_channels: int = 1, num_classes: int = 10, **kwargs) -> ConvNet:
    """A 2-D CNN for images ``(N, C, H, W)`` such as the 8x8 digits (see :func:`cnn`)."""
    kwargs.setdefault("kernel_size", 3)
    return cnn(in_channels, num_classes, dims=2, **kwargs)


class RecurrentClassifier(nn.Module):
    """A one-layer Elman RNN that reads a signal one sample at a time, then a linear ``head``.

    Input ``(N, L)`` or ``(N, 1, L)``; output ``(N, num_classes)`` logits from the last hidden
    state. ``identity_init=True`` starts the recurrent weights at the identity and the biases
    at zero (Le et al., 2015, "IRNN"): with ReLU the hidden state is carried unchanged through
    time, which is also what lets gradients through 40 steps grow large.
    """

    def __init__(self, num_classes: int = 10, hidden: int = 64, nonlinearity: str = "relu",
                 identity_init: bool = True) -> None:
        super().__init__()
        _check_int("num_classes", num_classes)
        _check_int("hidden", hidden)
        _check_choice("nonlinearity", nonlinearity, ("relu", "tanh"))
        self.rnn = nn.RNN(1, hidden, nonlinearity=nonlinearity, batch_first=True)
        if identity_init:
            with torch.no_grad():
                self.rnn.weight_hh_l0.copy_(torch.eye(hidden))
                self.rnn.bias_hh_l0.zero_()
                self.rnn.bias_ih_l0.zero_()
        self.head = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 3:
            if x.shape[1] != 1:
                raise ValueError(f"expected one channel, got input of shape {tuple(x.shape)}")
            x = x[:, 0]
        if x.dim() != 2:
            raise ValueError(f"expected input (N, L) or (N, 1, L), got shape {tuple(x.shape)}")
        _, last = self.rnn(x.unsqueeze(-1))
        return self.head(last[-1])


def initialize_(model: nn.Module, init: str = "default") -> nn.Module:
    """Re-initialize every ``Linear`` and convolution of ``model`` in place; biases to zero.

    * ``"default"``: leave torch's own initialization (uniform, Var(w) = 1 / (3 fan_in));
    * ``"xavier"``: Glorot & Bengio 2010, Var(w) = 2 / (fan_in + fan_out);
    * ``"he"``: He et al. 2015, Var(w) = 2 / fan_in;
    * ``"lecun"``: LeCun et al. 1998, Var(w) = 1 / fan_in;
    * ``"standard_normal"``: N(0, 1), with no regard for the fans;
    * ``"constant"``: every weight 1 / fan_in: sensible scale, perfect symmetry;
    * ``"zeros"``: every weight 0, to show the symmetry problem.

    The formulas live in :mod:`nnlab.init`.
    """
    _check_choice("init", init, INITS)
    if init == "default":
        return model
    fill = {
        "xavier": initializers.xavier_normal_,
        "he": initializers.he_normal_,
        "lecun": initializers.lecun_normal_,
        "standard_normal": nn.init.normal_,
        "constant": lambda w: nn.init.constant_(w, 1.0 / initializers.fans(w)[0]),
        "zeros": nn.init.zeros_,
    }[init]
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d)):
            fill(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return model


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of scalar parameters (only those with ``requires_grad`` if ``trainable_only``).

    Shared parameters are counted once, as ``model.parameters()`` yields them once.
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
