"""nnlab: the lab bench of the course *Training neural networks by experiment*.

One module per concept:

* :mod:`nnlab.data`: MNIST-1D, digits, synthetic sets, splits and loaders;
* :mod:`nnlab.models`: MLP and CNN builders, parameter counting;
* :mod:`nnlab.train`: ``fit``, ``evaluate``, ``History``, callbacks;
* :mod:`nnlab.early_stopping`: ``EarlyStopping``;
* :mod:`nnlab.diagnostics`: activation statistics, gradient norms, update ratios;
* :mod:`nnlab.plots`: every figure of the course;
* :mod:`nnlab.device`, :mod:`nnlab.seed`: where code runs, and reproducibility.

The reference solutions of the exercises, each tested against torch: :mod:`nnlab.init`,
:mod:`nnlab.gradients`, :mod:`nnlab.normalization`, :mod:`nnlab.dropout`,
:mod:`nnlab.optim`, :mod:`nnlab.clipping`, :mod:`nnlab.schedules` (with the LR range test),
:mod:`nnlab.transfer` (with the shipped pretrained network) and :mod:`nnlab.cnn_sizing`;
and :mod:`nnlab.grading`, the checks the exercises' test cells call.

The instructor's grader is a separate package, ``coursegrader``, which uses nnlab; nothing
here imports it.

The names most chapters use are re-exported here.
"""
from nnlab.data import Splits, TensorLoader, load_digits, load_mnist1d, make_moons, make_spirals
from nnlab.device import default_device
from nnlab.diagnostics import Diagnostics, activation_stats, gradient_norms
from nnlab.early_stopping import EarlyStopping
from nnlab.models import cnn1d, cnn2d, count_parameters, mlp
from nnlab.seed import seed_everything, seed_offset
from nnlab.train import History, evaluate, fit, one_cycle

__version__ = "0.1.0"

__all__ = [
    "Diagnostics",
    "EarlyStopping",
    "History",
    "Splits",
    "TensorLoader",
    "activation_stats",
    "cnn1d",
    "cnn2d",
    "count_parameters",
    "default_device",
    "evaluate",
    "fit",
    "gradient_norms",
    "load_digits",
    "load_mnist1d",
    "make_moons",
    "make_spirals",
    "mlp",
    "one_cycle",
    "seed_everything",
    "seed_offset",
]
