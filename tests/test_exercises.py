"""The instructor's cycle, end to end, through the real nbgrader commands.

A temporary copy of the course is released; then a synthetic class is graded: the
instructor's solution (full marks), the released notebook as is (zero), planted wrong
answers (each loses exactly the points of its task), and submissions that loop forever,
kill their kernel, or print warnings and progress bars.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from coursegrader.cli import grade
from coursegrader.gradebook import cell_scores, max_cell_scores
from coursegrader.pool import autograde_one
from coursegrader.releasing import assignments

ROOT = Path(__file__).resolve().parents[1]
COURSE = ROOT / "exercises"

# The exercise contract: every task is a solution cell named after it.
CONTRACT = {
    "initialization": ["fans", "xavier_uniform_", "xavier_normal_", "he_normal_", "lecun_normal_"],
    "vanishing_gradients": ["sigmoid_derivative", "grad_norms", "activation_stds"],
    "batchnorm": ["batchnorm_forward", "BatchNorm1d"],
    "dropout": ["dropout", "Dropout"],
    "optimizers": ["SGD", "Adagrad", "RMSprop", "Adam"],
    "clipping": ["clip_by_value", "clip_by_norm", "clip_by_global_norm", "clip_grad_norm_"],
    "lr_schedules": ["step_decay", "exponential_decay", "inverse_time_decay", "warmup_cosine", "WarmupCosine"],
    "transfer_learning": ["freeze_", "count_trainable", "replace_head"],
    "cnn_sizing": ["conv_output_size", "conv_params", "separable_conv_params", "receptive_field"],
    "gradient_check": ["numerical_gradient", "relative_error", "check_gradient", "linear_backward", "softmax_cross_entropy"],
    "preprocessing": ["fit_standardizer", "standardize", "fit_minmax", "minmax_scale"],
    "early_stopping": ["EarlyStopping", "update_ema"],
}

# Planted wrong answers: (assignment, task, replacement source, tasks expected to lose all their points,
# tasks expected to lose only their hidden points[, single test cells expected to score zero]).
WRONG = {
    "fans_swapped": ("initialization", "fans", """
def fans(weight):
    receptive = math.prod(weight.shape[2:])
    return int(weight.shape[0] * receptive), int(weight.shape[1] * receptive)
""", ["fans"], []),
    "fans_no_kernel": ("initialization", "fans", """
def fans(weight):
    if weight.dim() < 2:
        raise ValueError("need 2 dims")
    return int(weight.shape[1]), int(weight.shape[0])
""", ["fans"], []),
    "fans_as_list": ("initialization", "fans", """
def fans(weight):
    if weight.dim() < 2:
        raise ValueError("need 2 dims")
    receptive = math.prod(weight.shape[2:])
    return [weight.shape[1] * receptive, weight.shape[0] * receptive]
""", ["fans"], []),
    "xavier_no_gain": ("initialization", "xavier_uniform_", """
def xavier_uniform_(weight, gain=1.0):
    fan_in, fan_out = fans(weight)
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    with torch.no_grad():
        return weight.uniform_(-bound, bound)
""", ["xavier_uniform_"], []),
    "xavier_variance_as_std": ("initialization", "xavier_normal_", """
def xavier_normal_(weight, gain=1.0):
    fan_in, fan_out = fans(weight)
    with torch.no_grad():
        return weight.normal_(0.0, gain * 2.0 / (fan_in + fan_out))
""", ["xavier_normal_"], []),
    "xavier_delegates": ("initialization", "xavier_uniform_", """
def xavier_uniform_(weight, gain=1.0):
    return torch.nn.init.xavier_uniform_(weight, gain=gain)
""", ["xavier_uniform_"], []),
    "he_ignores_mode": ("initialization", "he_normal_", """
def he_normal_(weight, mode="fan_in"):
    fan_in, _ = fans(weight)
    with torch.no_grad():
        return weight.normal_(0.0, math.sqrt(2.0 / fan_in))
""", ["he_normal_"], []),
    "he_captured_reference": ("initialization", "he_normal_", """
from torch.nn.init import kaiming_normal_ as _helper

def he_normal_(weight, mode="fan_in"):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(mode)
    return _helper(weight, mode=mode, nonlinearity="relu")
""", ["he_normal_"], []),
    "he_not_in_place": ("initialization", "he_normal_", """
def he_normal_(weight, mode="fan_in"):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(mode)
    fan_in, fan_out = fans(weight)
    fan = fan_in if mode == "fan_in" else fan_out
    return torch.randn(weight.shape) * math.sqrt(2.0 / fan)
""", ["he_normal_"], []),
    "lecun_twice": ("initialization", "lecun_normal_", """
def lecun_normal_(weight):
    fan_in, _ = fans(weight)
    with torch.no_grad():
        return weight.normal_(0.0, math.sqrt(2.0 / fan_in))
""", ["lecun_normal_"], []),
    "output_size_seed_formula": ("cnn_sizing", "conv_output_size", """
def conv_output_size(n, kernel_size, stride=1, padding=0, dilation=1):
    return (n - 2 + 2 * padding) // stride + 1
""", ["conv_output_size"], []),
    "output_size_float": ("cnn_sizing", "conv_output_size", """
def conv_output_size(n, kernel_size, stride=1, padding=0, dilation=1):
    if kernel_size < 1 or stride < 1:
        raise ValueError("bad")
    size = math.floor((n + 2 * padding - dilation * (kernel_size - 1) - 1) / stride) + 1.0
    if size < 1:
        raise ValueError("does not fit")
    return size
""", ["conv_output_size"], []),
    "params_ignore_groups": ("cnn_sizing", "conv_params", """
def conv_params(in_channels, out_channels, kernel_size, bias=True, groups=1):
    elements = kernel_size * kernel_size if isinstance(kernel_size, int) else math.prod(kernel_size)
    return out_channels * in_channels * elements + (out_channels if bias else 0)
""", ["conv_params"], []),
    "params_delegate": ("cnn_sizing", "conv_params", """
import nnlab.cnn_sizing

def conv_params(in_channels, out_channels, kernel_size, bias=True, groups=1):
    return nnlab.cnn_sizing.conv_params(in_channels, out_channels, kernel_size, bias, groups)
""", ["conv_params"], []),
    "separable_no_bias": ("cnn_sizing", "separable_conv_params", """
def separable_conv_params(in_channels, out_channels, kernel_size, bias=True):
    return conv_params(in_channels, in_channels, kernel_size, False, groups=in_channels) + in_channels * out_channels
""", ["separable_conv_params"], []),
    "sigmoid_derivative_overflows": ("vanishing_gradients", "sigmoid_derivative", """
def sigmoid_derivative(x):
    return torch.exp(-x) / (1 + torch.exp(-x)) ** 2
""", ["sigmoid_derivative"], []),
    "grad_norms_squared": ("vanishing_gradients", "grad_norms", """
def grad_norms(model):
    return {name: float((p.grad ** 2).sum()) for name, p in model.named_parameters() if p.grad is not None}
""", ["grad_norms"], []),
    "grad_norms_keeps_missing": ("vanishing_gradients", "grad_norms", """
def grad_norms(model):
    return {name: float(p.grad.norm()) if p.grad is not None else 0.0 for name, p in model.named_parameters()}
""", ["grad_norms"], []),
    "activation_stds_population": ("vanishing_gradients", "activation_stds", """
def activation_stds(model, x):
    stds = []
    with torch.no_grad():
        for child in model:
            x = child(x)
            stds.append(float(x.std(unbiased=False)))
    return stds
""", ["activation_stds"], []),
    "activation_stds_delegates": ("vanishing_gradients", "activation_stds", """
import nnlab.diagnostics

def activation_stds(model, x):
    return [stats.std for stats in nnlab.diagnostics.activation_stats(model, x)]
""", ["activation_stds"], []),
    "batchnorm_biased_running_var": ("batchnorm", "batchnorm_forward", """
def batchnorm_forward(x, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-5):
    if training:
        mean, var = x.mean(dim=0), x.var(dim=0, unbiased=False)
        with torch.no_grad():
            running_mean.mul_(1 - momentum).add_(momentum * mean)
            running_var.mul_(1 - momentum).add_(momentum * var)
    else:
        mean, var = running_mean, running_var
    return (x - mean) / torch.sqrt(var + eps) * gamma + beta
""", ["batchnorm_forward"], []),
    "batchnorm_unbiased_normalization": ("batchnorm", "batchnorm_forward", """
def batchnorm_forward(x, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-5):
    if training:
        mean, var = x.mean(dim=0), x.var(dim=0)
        with torch.no_grad():
            running_mean.mul_(1 - momentum).add_(momentum * mean)
            running_var.mul_(1 - momentum).add_(momentum * var)
    else:
        mean, var = running_mean, running_var
    return (x - mean) / torch.sqrt(var + eps) * gamma + beta
""", ["batchnorm_forward"], []),
    "batchnorm_delegates": ("batchnorm", "batchnorm_forward", """
def batchnorm_forward(x, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-5):
    return torch.nn.functional.batch_norm(x, running_mean, running_var, gamma, beta, training, momentum, eps)
""", ["batchnorm_forward"], []),
    "batchnorm_module_ignores_eval": ("batchnorm", "BatchNorm1d", """
class BatchNorm1d(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x):
        return batchnorm_forward(x, self.weight, self.bias, self.running_mean, self.running_var, True, self.momentum, self.eps)
""", ["BatchNorm1d"], []),
    "dropout_not_inverted": ("dropout", "dropout", """
def dropout(x, p, training, generator=None):
    if not 0.0 <= p <= 1.0:
        raise ValueError(p)
    if not training:
        return x
    return x * (torch.rand(x.shape, generator=generator) >= p)
""", ["dropout"], []),
    "dropout_ignores_generator": ("dropout", "dropout", """
def dropout(x, p, training, generator=None):
    if not 0.0 <= p <= 1.0:
        raise ValueError(p)
    if not training or p == 0:
        return x
    if p == 1:
        return torch.zeros_like(x)
    return x * (torch.rand(x.shape) >= p) / (1 - p)
""", ["dropout"], []),
    "dropout_keep_probability": ("dropout", "dropout", """
def dropout(x, p, training, generator=None):
    if not 0.0 <= p <= 1.0:
        raise ValueError(p)
    if not training or p == 0:
        return x
    if p == 1:
        return torch.zeros_like(x)
    return x * (torch.rand(x.shape, generator=generator) < p) / p
""", [], ["dropout"]),
    "dropout_module_always_on": ("dropout", "Dropout", """
class Dropout(nn.Module):
    def __init__(self, p=0.5):
        super().__init__()
        self.p = p

    def forward(self, x):
        return dropout(x, self.p, True)
""", ["Dropout"], []),
    "clip_norm_divides_by_norm_only": ("clipping", "clip_by_norm", """
def clip_by_norm(t, max_norm):
    norm = float(t.norm())
    return t / norm if norm > max_norm else t.clone()
""", ["clip_by_norm"], []),
    "global_norm_clips_each_tensor": ("clipping", "clip_by_global_norm", """
def clip_by_global_norm(tensors, max_norm):
    tensors = list(tensors)
    total = math.sqrt(sum(float(t.pow(2).sum()) for t in tensors))
    return [t * (max_norm / max(float(t.norm()), max_norm)) for t in tensors], total
""", ["clip_by_global_norm"], []),
    "global_norm_consumes_generator": ("clipping", "clip_by_global_norm", """
def clip_by_global_norm(tensors, max_norm):
    total = math.sqrt(sum(float(t.double().pow(2).sum()) for t in tensors))
    scale = max_norm / max(total, max_norm)
    return [t * scale for t in tensors], total
""", ["clip_by_global_norm"], []),
    "clip_grad_norm_reads_generator_twice": ("clipping", "clip_grad_norm_", """
def clip_grad_norm_(parameters, max_norm):
    total = math.sqrt(sum(float(p.grad.pow(2).sum()) for p in parameters if p.grad is not None))
    scale = max_norm / max(total, max_norm)
    for p in parameters:
        if p.grad is not None:
            p.grad.mul_(scale)
    return total
""", ["clip_grad_norm_"], []),
    "step_decay_float_division": ("lr_schedules", "step_decay", """
def step_decay(lr0, epoch, drop=0.5, every=10):
    return lr0 * drop ** (epoch / every)
""", ["step_decay"], []),
    "warmup_starts_at_zero": ("lr_schedules", "warmup_cosine", """
def warmup_cosine(step, total_steps, lr_max, warmup_steps=0, lr_min=0.0):
    if step < warmup_steps:
        return lr_max * step / warmup_steps
    q = min(max((step - warmup_steps) / max(1, total_steps - warmup_steps), 0.0), 1.0)
    return lr_min + 0.5 * (lr_max - lr_min) * (1 + math.cos(math.pi * q))
""", ["warmup_cosine"], []),
    "cosine_rises_again": ("lr_schedules", "warmup_cosine", """
def warmup_cosine(step, total_steps, lr_max, warmup_steps=0, lr_min=0.0):
    if step < warmup_steps:
        return lr_max * (step + 1) / warmup_steps
    q = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return lr_min + 0.5 * (lr_max - lr_min) * (1 + math.cos(math.pi * q))
""", ["warmup_cosine"], []),
    "scheduler_compounds_current_lr": ("lr_schedules", "WarmupCosine", """
class WarmupCosine(torch.optim.lr_scheduler.LRScheduler):
    def __init__(self, optimizer, total_steps, warmup_steps=0, lr_min=0.0):
        self.total_steps, self.warmup_steps, self.lr_min = total_steps, warmup_steps, lr_min
        super().__init__(optimizer)

    def get_lr(self):
        return [warmup_cosine(self.last_epoch, self.total_steps, group["lr"], self.warmup_steps, self.lr_min)
                for group in self.optimizer.param_groups]
""", ["WarmupCosine"], []),
    "freeze_medium_first_block": ("transfer_learning", "freeze_", """
def freeze_(model, regime):
    if regime not in ("small", "medium", "large"):
        raise ValueError(regime)
    for p in model.parameters():
        p.requires_grad_(regime == "large")
    for module in [model.head] + ([model.features[0]] if regime == "medium" else []):
        for p in module.parameters():
            p.requires_grad_(True)
    return model
""", ["freeze_"], []),
    "count_trainable_counts_tensors": ("transfer_learning", "count_trainable", """
def count_trainable(model):
    return len([p for p in model.parameters() if p.requires_grad])
""", ["count_trainable"], []),
    "replace_head_default_dtype": ("transfer_learning", "replace_head", """
def replace_head(model, num_classes):
    model.head = nn.Linear(model.head.in_features, num_classes)
    return model
""", ["replace_head"], []),
    "sgd_nesterov_ignored": ("optimizers", "SGD", """
class SGD(torch.optim.Optimizer):
    def __init__(self, params, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
        if lr < 0 or momentum < 0 or weight_decay < 0 or (nesterov and momentum <= 0):
            raise ValueError("invalid hyperparameter")
        super().__init__(params, dict(lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad.add(p, alpha=group["weight_decay"])
                if group["momentum"]:
                    state = self.state[p]
                    if "b" not in state:
                        state["b"] = g.clone()
                    else:
                        state["b"].mul_(group["momentum"]).add_(g)
                    g = state["b"]
                p.add_(g, alpha=-group["lr"])
        return loss
""", ["SGD"], []),
    "adagrad_inherits_torch": ("optimizers", "Adagrad", """
class Adagrad(torch.optim.Adagrad):
    def __init__(self, params, lr=1e-2, eps=1e-10):
        super().__init__(params, lr=lr, eps=eps)
""", ["Adagrad"], []),
    "rmsprop_eps_inside_sqrt": ("optimizers", "RMSprop", """
class RMSprop(torch.optim.Optimizer):
    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0):
        if lr < 0 or eps < 0 or weight_decay < 0 or not 0 <= alpha < 1:
            raise ValueError("invalid hyperparameter")
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad.add(p, alpha=group["weight_decay"])
                s = self.state[p].setdefault("s", torch.zeros_like(p))
                s.mul_(group["alpha"]).addcmul_(g, g, value=1 - group["alpha"])
                p.addcdiv_(g, (s + group["eps"]).sqrt(), value=-group["lr"])
        return loss
""", ["RMSprop"], []),
    "adam_without_bias_correction": ("optimizers", "Adam", """
class Adam(torch.optim.Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        if lr < 0 or eps < 0 or weight_decay < 0 or not all(0 <= b < 1 for b in betas):
            raise ValueError("invalid hyperparameter")
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad.add(p, alpha=group["weight_decay"])
                state = self.state[p]
                m = state.setdefault("m", torch.zeros_like(p)).mul_(beta1).add_(g, alpha=1 - beta1)
                v = state.setdefault("v", torch.zeros_like(p)).mul_(beta2).addcmul_(g, g, value=1 - beta2)
                p.addcdiv_(m, v.sqrt().add_(group["eps"]), value=-group["lr"])
        return loss
""", ["Adam"], []),
    "adam_ignores_group_settings": ("optimizers", "Adam", """
class Adam(torch.optim.Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        if lr < 0 or eps < 0 or weight_decay < 0 or not all(0 <= b < 1 for b in betas):
            raise ValueError("invalid hyperparameter")
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        lr, (beta1, beta2), eps, wd = (self.defaults[k] for k in ("lr", "betas", "eps", "weight_decay"))
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad.add(p, alpha=wd)
                state = self.state[p]
                t = state["t"] = state.get("t", 0) + 1
                m = state.setdefault("m", torch.zeros_like(p)).mul_(beta1).add_(g, alpha=1 - beta1)
                v = state.setdefault("v", torch.zeros_like(p)).mul_(beta2).addcmul_(g, g, value=1 - beta2)
                p.addcdiv_(m / (1 - beta1**t), (v / (1 - beta2**t)).sqrt().add_(eps), value=-lr)
        return loss
""", ["Adam"], []),
    "receptive_ignores_stride": ("cnn_sizing", "receptive_field", """
def receptive_field(layers):
    return 1 + sum(kernel - 1 for kernel, stride in layers)
""", ["receptive_field"], []),
    # Each misjudgement the core revision found, planted: each is now graded right.
    "xavier_forgets_no_grad": ("initialization", "xavier_uniform_", """
def xavier_uniform_(weight, gain=1.0):
    fan_in, fan_out = fans(weight)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return weight.uniform_(-bound, bound)
""", ["xavier_uniform_"], []),
    "activation_stds_records_a_graph": ("vanishing_gradients", "activation_stds", """
def activation_stds(model, x):
    stds = []
    for child in model:
        x = child(x)
        stds.append(float(x.std()))
    return stds
""", ["activation_stds"], []),
    "clip_grad_norm_rebinds_grad": ("clipping", "clip_grad_norm_", """
def clip_grad_norm_(parameters, max_norm):
    if isinstance(parameters, torch.Tensor):
        parameters = [parameters]
    parameters = [p for p in parameters if p.grad is not None]
    clipped, total = clip_by_global_norm([p.grad for p in parameters], max_norm)
    for p, new in zip(parameters, clipped):
        p.grad = new
    return total
""", ["clip_grad_norm_"], []),
    "dropout_float64_mask": ("dropout", "dropout", """
def dropout(x, p, training, generator=None):
    if not 0.0 <= p <= 1.0:
        raise ValueError(p)
    if not training or p == 0:
        return x
    if p == 1:
        return torch.zeros_like(x)
    keep = torch.rand(x.shape, generator=generator, dtype=torch.float64) >= p
    return x * keep.double() / (1 - p)
""", ["dropout"], []),
    "sgd_step_captures_functional_sgd": ("optimizers", "SGD", """
from torch.optim.sgd import sgd as _sgd

class SGD(torch.optim.Optimizer):
    def __init__(self, params, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
        if lr < 0 or momentum < 0 or weight_decay < 0 or (nesterov and momentum <= 0):
            raise ValueError("invalid hyperparameter")
        super().__init__(params, dict(lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            buffers = [self.state[p].get("momentum_buffer") for p in params]
            _sgd(params, [p.grad for p in params], buffers, weight_decay=group["weight_decay"], momentum=group["momentum"],
                 lr=group["lr"], dampening=0.0, nesterov=group["nesterov"], maximize=False)
            for p, b in zip(params, buffers):
                self.state[p]["momentum_buffer"] = b
        return loss
""", ["SGD"], []),
    # A perfect update rule that forgets to validate: it loses the visible test (which checks one
    # bad argument) and the validation cell, and keeps every hidden point of its update rule.
    "adagrad_without_validation": ("optimizers", "Adagrad", """
class Adagrad(torch.optim.Optimizer):
    def __init__(self, params, lr=1e-2, eps=1e-10):
        super().__init__(params, dict(lr=lr, eps=eps))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    s = self.state[p].setdefault("sum", torch.zeros_like(p)).addcmul_(p.grad, p.grad)
                    p.addcdiv_(p.grad, s.sqrt().add_(group["eps"]), value=-group["lr"])
        return loss
""", [], [], ["Adagrad_visible", "Adagrad_validation"]),
    "he_accepts_any_mode": ("initialization", "he_normal_", """
def he_normal_(weight, mode="fan_in"):
    fan_in, fan_out = fans(weight)
    fan = fan_out if mode == "fan_out" else fan_in
    with torch.no_grad():
        return weight.normal_(0.0, math.sqrt(2.0 / fan))
""", [], [], ["he_normal__visible", "he_normal__validation"]),
    # Correct answers that the statements allow: full marks.
    "rmsprop_validates_alpha_as_torch": ("optimizers", "RMSprop", """
class RMSprop(torch.optim.Optimizer):
    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0):
        if not 0.0 <= lr or not 0.0 <= eps or not 0.0 <= weight_decay or not 0.0 <= alpha:
            raise ValueError("invalid hyperparameter")
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad.add(p, alpha=group["weight_decay"])
                s = self.state[p].setdefault("s", torch.zeros_like(p))
                s.mul_(group["alpha"]).addcmul_(g, g, value=1 - group["alpha"])
                p.addcdiv_(g, s.sqrt().add_(group["eps"]), value=-group["lr"])
        return loss
""", [], []),
    "batchnorm_tracks_batches": ("batchnorm", "BatchNorm1d", """
class BatchNorm1d(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def forward(self, x):
        if self.training:
            self.num_batches_tracked += 1
        return batchnorm_forward(x, self.weight, self.bias, self.running_mean, self.running_var,
                                 self.training, self.momentum, self.eps)
""", [], []),
    # gradient_check
    "gradient_forward_difference": ("gradient_check", "numerical_gradient", """
def numerical_gradient(f, x, h=1e-5):
    if not h > 0:
        raise ValueError("h must be positive")
    gradient = torch.zeros_like(x)
    flat = x.detach().view(-1)
    base = float(f(x))
    with torch.no_grad():
        for i in range(flat.numel()):
            original = flat[i].item()
            flat[i] = original + h
            gradient.view(-1)[i] = (float(f(x)) - base) / h
            flat[i] = original
    return gradient
""", ["numerical_gradient"], []),
    "gradient_never_restores_x": ("gradient_check", "numerical_gradient", """
def numerical_gradient(f, x, h=1e-5):
    if not h > 0:
        raise ValueError("h must be positive")
    gradient = torch.zeros_like(x)
    flat = x.detach().view(-1)
    with torch.no_grad():
        for i in range(flat.numel()):
            flat[i] += h
            above = float(f(x))
            flat[i] -= 2 * h
            below = float(f(x))
            gradient.view(-1)[i] = (above - below) / (2 * h)
    return gradient
""", ["numerical_gradient"], []),
    "gradient_by_autograd": ("gradient_check", "numerical_gradient", """
def numerical_gradient(f, x, h=1e-5):
    if not h > 0:
        raise ValueError("h must be positive")
    point = x.detach().clone().requires_grad_(True)
    return torch.autograd.grad(f(point), point)[0]
""", ["numerical_gradient"], []),
    "relative_error_mean": ("gradient_check", "relative_error", """
def relative_error(a, b, eps=1e-8):
    a, b = a.double(), b.double()
    return float(((a - b).abs() / (a.abs() + b.abs()).clamp(min=eps)).mean())
""", ["relative_error"], []),
    "check_gradient_marks_callers_x": ("gradient_check", "check_gradient", """
def check_gradient(f, x, h=1e-5):
    x.requires_grad_(True)
    (analytic,) = torch.autograd.grad(f(x).sum(), x)
    return relative_error(analytic, numerical_gradient(f, x.detach().clone(), h))
""", ["check_gradient"], []),
    "linear_backward_dw_transposed": ("gradient_check", "linear_backward", """
def linear_backward(dout, x, w):
    return dout @ w, x.T @ dout, dout.sum(0)
""", ["linear_backward"], []),
    "softmax_gradient_without_mean": ("gradient_check", "softmax_cross_entropy", """
def softmax_cross_entropy(logits, targets):
    n = logits.shape[0]
    shifted = logits - logits.max(dim=1, keepdim=True).values
    log_probs = shifted - shifted.exp().sum(dim=1, keepdim=True).log()
    dlogits = log_probs.exp()
    dlogits[torch.arange(n), targets] -= 1
    return -log_probs[torch.arange(n), targets].mean(), dlogits
""", ["softmax_cross_entropy"], []),
    "softmax_loss_as_float": ("gradient_check", "softmax_cross_entropy", """
def softmax_cross_entropy(logits, targets):
    n = logits.shape[0]
    shifted = logits - logits.max(dim=1, keepdim=True).values
    log_probs = shifted - shifted.exp().sum(dim=1, keepdim=True).log()
    dlogits = log_probs.exp()
    dlogits[torch.arange(n), targets] -= 1
    return float(-log_probs[torch.arange(n), targets].mean()), dlogits / n
""", ["softmax_cross_entropy"], []),
    "softmax_overflows": ("gradient_check", "softmax_cross_entropy", """
def softmax_cross_entropy(logits, targets):
    n = logits.shape[0]
    probs = logits.exp() / logits.exp().sum(dim=1, keepdim=True)
    loss = -probs[torch.arange(n), targets].log().mean()
    dlogits = probs.clone()
    dlogits[torch.arange(n), targets] -= 1
    return loss, dlogits / n
""", ["softmax_cross_entropy"], []),
    # preprocessing
    "standardizer_sample_std": ("preprocessing", "fit_standardizer", """
def fit_standardizer(x_train):
    if x_train.dim() != 2:
        raise ValueError("x_train must be a matrix")
    std = x_train.std(dim=0)
    return x_train.mean(dim=0), torch.where(std > 0, std, torch.ones_like(std))
""", ["fit_standardizer"], []),
    "standardizer_divides_by_zero": ("preprocessing", "fit_standardizer", """
def fit_standardizer(x_train):
    if x_train.dim() != 2:
        raise ValueError("x_train must be a matrix")
    return x_train.mean(dim=0), x_train.std(dim=0, unbiased=False)
""", ["fit_standardizer"], []),
    "standardizer_per_sample": ("preprocessing", "fit_standardizer", """
def fit_standardizer(x_train):
    if x_train.dim() != 2:
        raise ValueError("x_train must be a matrix")
    std = x_train.std(dim=1, unbiased=False)
    return x_train.mean(dim=1), torch.where(std > 0, std, torch.ones_like(std))
""", ["fit_standardizer"], []),
    "standardizer_centres_in_place": ("preprocessing", "fit_standardizer", """
def fit_standardizer(x_train):
    if x_train.dim() != 2:
        raise ValueError("x_train must be a matrix")
    mean = x_train.mean(dim=0)
    x_train -= mean
    std = x_train.std(dim=0, unbiased=False)
    return mean, torch.where(std > 0, std, torch.ones_like(std))
""", ["fit_standardizer"], []),
    "fit_minmax_swapped": ("preprocessing", "fit_minmax", """
def fit_minmax(x_train):
    return x_train.max(dim=0).values, x_train.min(dim=0).values
""", ["fit_minmax"], []),
    "minmax_ignores_lo_hi": ("preprocessing", "minmax_scale", """
def minmax_scale(x, x_min, x_max, lo=-1.0, hi=1.0):
    if not lo < hi:
        raise ValueError("lo must be below hi")
    span = x_max - x_min
    constant = span == 0
    scaled = -1 + (x - x_min) * 2 / torch.where(constant, torch.ones_like(span), span)
    return torch.where(constant, torch.zeros_like(scaled), scaled)
""", ["minmax_scale"], []),
    "minmax_constant_nan": ("preprocessing", "minmax_scale", """
def minmax_scale(x, x_min, x_max, lo=-1.0, hi=1.0):
    if not lo < hi:
        raise ValueError("lo must be below hi")
    return lo + (x - x_min) * (hi - lo) / (x_max - x_min)
""", ["minmax_scale"], []),
    # early_stopping
    "stopping_keeps_a_reference": ("early_stopping", "EarlyStopping", """
class EarlyStopping:
    def __init__(self, patience=5, min_delta=0.0, mode="min"):
        if not isinstance(patience, int) or patience < 1 or mode not in ("min", "max"):
            raise ValueError("patience must be an int >= 1 and mode 'min' or 'max'")
        self.patience, self.min_delta, self.mode = patience, min_delta, mode
        self.best = math.inf if mode == "min" else -math.inf
        self.best_epoch, self.best_state, self.calls, self.bad_calls = -1, None, 0, 0

    def step(self, metric, model=None):
        better = metric < self.best - self.min_delta if self.mode == "min" else metric > self.best + self.min_delta
        if better:
            self.best, self.best_epoch = metric, self.calls
            self.bad_calls = 0
            if model is not None:
                self.best_state = model.state_dict()
        else:
            self.bad_calls += 1
        self.calls += 1
        return self.bad_calls >= self.patience

    def restore(self, model):
        model.load_state_dict(self.best_state)
""", ["EarlyStopping"], []),
    "stopping_never_resets_the_count": ("early_stopping", "EarlyStopping", """
class EarlyStopping:
    def __init__(self, patience=5, min_delta=0.0, mode="min"):
        if not isinstance(patience, int) or patience < 1 or mode not in ("min", "max"):
            raise ValueError("patience must be an int >= 1 and mode 'min' or 'max'")
        self.patience, self.min_delta, self.mode = patience, min_delta, mode
        self.best = math.inf if mode == "min" else -math.inf
        self.best_epoch, self.best_state, self.calls, self.bad_calls = -1, None, 0, 0

    def step(self, metric, model=None):
        better = metric < self.best - self.min_delta if self.mode == "min" else metric > self.best + self.min_delta
        if better:
            self.best, self.best_epoch = metric, self.calls
            pass  # the count of bad calls is never reset
            if model is not None:
                self.best_state = copy.deepcopy(model.state_dict())
        else:
            self.bad_calls += 1
        self.calls += 1
        return self.bad_calls >= self.patience

    def restore(self, model):
        model.load_state_dict(self.best_state)
""", [], ["EarlyStopping"]),
    "ema_weights_swapped": ("early_stopping", "update_ema", """
def update_ema(ema_model, model, decay):
    if not 0.0 <= decay <= 1.0:
        raise ValueError("decay must be in [0, 1]")
    with torch.no_grad():
        for averaged, current in zip(ema_model.parameters(), model.parameters()):
            averaged.copy_(decay * current + (1 - decay) * averaged)
        for averaged, current in zip(ema_model.buffers(), model.buffers()):
            averaged.copy_(current)
    return ema_model
""", ["update_ema"], []),
    "ema_forgets_the_buffers": ("early_stopping", "update_ema", """
def update_ema(ema_model, model, decay):
    if not 0.0 <= decay <= 1.0:
        raise ValueError("decay must be in [0, 1]")
    with torch.no_grad():
        for averaged, current in zip(ema_model.parameters(), model.parameters()):
            averaged.copy_(decay * averaged + (1 - decay) * current)
        pass
    return ema_model
""", ["update_ema"], []),
}

# Wrong answers whose validation is right: their task's validation cell keeps its point (a lost
# point traces to one behaviour), while the visible and hidden cells score zero.
KEEPS_VALIDATION = {
    "fans_no_kernel", "fans_as_list", "he_not_in_place", "output_size_float", "dropout_not_inverted", "dropout_ignores_generator",
    "dropout_float64_mask", "sgd_nesterov_ignored", "rmsprop_eps_inside_sqrt", "adam_without_bias_correction",
    "adam_ignores_group_settings", "freeze_medium_first_block", "gradient_forward_difference", "gradient_never_restores_x",
    "standardizer_sample_std", "standardizer_divides_by_zero", "standardizer_centres_in_place", "standardizer_per_sample", "minmax_ignores_lo_hi", "minmax_constant_nan",
    "stopping_keeps_a_reference", "ema_weights_swapped", "ema_forgets_the_buffers",
}

# Submissions that misbehave. Each replaces the first task's solution cell of its assignment.
LOOP_FOREVER = "while True:\n    pass"
KILL_KERNEL = "import os\nos._exit(1)"
NOISY_PREFIX = '''
import sys, warnings
from tqdm.auto import tqdm
warnings.warn("a warning from the student's own code")
for _ in tqdm(range(3), desc="progress from the student's own code"):
    pass
print("a line on stderr", file=sys.stderr)
'''


def _noise_target(lines: list[str], task: str) -> int:
    """The line of the function that a task's calls run: ``def task(``, a module's ``forward``,
    or the ``__init__`` of another class (an optimizer or a scheduler)."""
    if any(line.startswith((f"class {task}(", f"class {task}:")) for line in lines):
        for method in ("def forward(", "def __init__("):
            found = [i for i, line in enumerate(lines) if line.strip().startswith(method)]
            if found:
                return found[0]
    return next(i for i, line in enumerate(lines) if line.startswith(f"def {task}("))


def _read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def _solution_cell(notebook: nbformat.NotebookNode, grade_id: str) -> nbformat.NotebookNode:
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and meta.get("grade_id") == grade_id:
            return cell
    raise KeyError(grade_id)


def _submit(course: Path, student: str, assignment: str, notebook: nbformat.NotebookNode) -> None:
    folder = course / "submitted" / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, folder / f"{assignment}.ipynb")


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*")) if p.is_file()
    }


def _task_cells(maxima: dict[str, float], task: str) -> dict[str, float]:
    return {cell: points for cell, points in maxima.items()
            if cell in (f"{task}_visible", f"{task}_hidden", f"{task}_validation")}


# ---------------------------------------------------------------- fast checks on the sources


@pytest.mark.parametrize("assignment", sorted(CONTRACT))
def test_every_contract_task_has_a_solution_cell_then_visible_then_hidden_tests(assignment):
    notebook = _read(COURSE / "source" / assignment / f"{assignment}.ipynb")
    cells = notebook.cells
    for task in CONTRACT[assignment]:
        index = cells.index(_solution_cell(notebook, task))
        following = []
        for cell in cells[index + 1:]:
            meta = cell.metadata.get("nbgrader", {})
            if not (meta.get("grade") and cell.cell_type == "code"):
                break
            following.append(cell)
        assert following, f"{task}: no test cell follows its solution cell"
        hidden = ["### BEGIN HIDDEN TESTS" in cell.source for cell in following]
        assert any(hidden), f"{task}: no hidden tests"
        assert not hidden[0], f"{task}: visible tests must come before hidden ones"
        for cell in following:
            meta = cell.metadata["nbgrader"]
            assert meta["locked"] and meta["points"] > 0
            assert meta["grade_id"].startswith(task)
    ids = [c.metadata["nbgrader"]["grade_id"] for c in cells if "nbgrader" in c.metadata]
    assert len(ids) == len(set(ids)), "grade ids must be unique"
    assert any(c.cell_type == "markdown" and c.metadata.get("nbgrader", {}).get("grade") for c in cells), \
        "a manually graded hypothesis-and-verdict answer"


def test_source_notebooks_carry_no_outputs():
    for path in (COURSE / "source").glob("*/*.ipynb"):
        for cell in _read(path).cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, f"{path.name} holds outputs"


def test_contract_covers_every_source_assignment():
    assert set(assignments(COURSE)) == set(CONTRACT)


def test_source_notebooks_match_their_authoring_scripts():
    # Exercises are edited in exercises/authoring/<assignment>.py; a notebook edited by hand
    # (or a script changed without rebuilding) would silently diverge.
    import runpy

    build = runpy.run_path(str(COURSE / "authoring" / "build.py"))
    assert set(build["ASSIGNMENTS"]) == set(CONTRACT)
    for assignment in CONTRACT:
        committed = (COURSE / "source" / assignment / f"{assignment}.ipynb").read_text()
        assert build["build"](assignment) == committed, (
            f"{assignment}.ipynb differs from exercises/authoring/{assignment}.py: run `make notebooks`")


# ---------------------------------------------------------------- the full cycle (slow)


def _assignments_in_play(session) -> list[str]:
    """The assignments whose round trip the selected tests need: those of their markers
    (`pytest -m optimizers` grades one assignment), or all when a selected test is not about one."""
    wanted: set[str] = set()
    for item in session.items:
        if "graded_class" in getattr(item, "fixturenames", ()):
            marked = {mark.name for mark in item.iter_markers() if mark.name in CONTRACT}
            wanted |= marked or set(CONTRACT)
    return sorted(wanted or CONTRACT)


GRADING_JOBS = 1
# A looping cell is interrupted after this many seconds, and the looper of each assignment
# waits that long. Graded one at a time, the longest cell of a correct submission is its
# imports, under 2 s here: 20 s leaves ten times that for a slower machine.
ROUND_TRIP_CELL_TIMEOUT = 20
# How the grader survives a looping cell or a killed kernel does not depend on the assignment
# (the cell timeout and the crash report are the grader's, not the notebook's), so three
# assignments stand for all: the first graded, the one with the heaviest independent check,
# and one whose notebook loads pretrained weights. Each looper costs the whole cell timeout.
MISBEHAVING_IN = ("initialization", "optimizers", "transfer_learning")


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory, request, released_course):
    """A released course copy, a synthetic class, and the outcome of grading it."""
    in_play = _assignments_in_play(request.session)
    course = tmp_path_factory.mktemp("course") / "exercises"
    shutil.copytree(released_course, course)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NNLAB_CELL_TIMEOUT", str(ROUND_TRIP_CELL_TIMEOUT))
        patch.delenv("NNLAB_GRADEBOOK_URL", raising=False)
        for assignment in in_play:
            source = _read(course / "source" / assignment / f"{assignment}.ipynb")
            _submit(course, "instructor", assignment, source)
            _submit(course, "blank", assignment, _read(course / "release" / assignment / f"{assignment}.ipynb"))
            first = CONTRACT[assignment][0]
            for student, replace in [("looper", LOOP_FOREVER), ("killer", KILL_KERNEL)]:
                if assignment not in MISBEHAVING_IN:
                    continue
                notebook = _read(course / "source" / assignment / f"{assignment}.ipynb")
                _solution_cell(notebook, first).source = replace
                _submit(course, student, assignment, notebook)
            noisy = _read(course / "source" / assignment / f"{assignment}.ipynb")
            for task in CONTRACT[assignment]:
                cell = _solution_cell(noisy, task)
                # every call of the function warns, shows a progress bar and writes to stderr
                lines = [line for line in cell.source.splitlines() if "SOLUTION" not in line]
                header = _noise_target(lines, task)
                indent = " " * (len(lines[header]) - len(lines[header].lstrip()) + 4)
                after_docstring = header + 2 if '"""' in lines[header + 1] else header + 1
                noise = [indent + line for line in NOISY_PREFIX.strip().splitlines()]
                lines[after_docstring:after_docstring] = noise
                cell.source = "\n".join(lines)
            _submit(course, "noisy", assignment, noisy)
        for student, (assignment, task, source, *_rest) in WRONG.items():
            if assignment not in in_play:
                continue
            notebook = _read(course / "source" / assignment / f"{assignment}.ipynb")
            _solution_cell(notebook, task).source = source.strip()
            _submit(course, student, assignment, notebook)
        (course / "submitted" / "bad id!" / "initialization").mkdir(parents=True)
        before = {name: _digest(course / name) for name in ("source", "release", "submitted")}
        # one at a time: with two at once, one run saw nbgrader fail on the noisy lr_schedules
        # submission (not reproduced since); the grade_class benchmark's smoke test grades two at once
        outcomes = grade(course, timeout=600, jobs=GRADING_JOBS)
        after = {name: _digest(course / name) for name in ("source", "release", "submitted")}
    return course, outcomes, before, after


def _scores(course: Path, assignment: str) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    return cell_scores(course, assignment), max_cell_scores(course, assignment)


@pytest.mark.slow
@pytest.mark.parametrize("assignment", sorted(CONTRACT))
def test_instructor_solution_scores_full_marks_and_release_scores_zero(graded_class, assignment):
    course, outcomes, *_ = graded_class
    scores, maxima = _scores(course, assignment)
    assert sum(maxima.values()) > 0
    assert scores["instructor"] == maxima, "the instructor solution must pass every test"
    assert sum(scores["blank"].values()) == 0
    assert {(o.student, o.status) for o in outcomes if o.assignment == assignment} >= {("instructor", "graded"), ("blank", "graded")}


@pytest.mark.slow
@pytest.mark.parametrize("student", [pytest.param(s, marks=getattr(pytest.mark, WRONG[s][0])) for s in sorted(WRONG)])
def test_each_planted_mistake_loses_exactly_its_points(graded_class, student):
    course, *_ = graded_class
    assignment, task, _source, loses_all, loses_hidden, *loses_cells = WRONG[student]
    scores, maxima = _scores(course, assignment)
    got = scores[student]
    expected = dict(maxima)
    for lost in loses_all:
        expected.update({cell: 0.0 for cell in _task_cells(maxima, lost)})
        if student in KEEPS_VALIDATION:
            assert f"{lost}_validation" in maxima, f"{student}: {lost} has no validation cell"
            expected[f"{lost}_validation"] = maxima[f"{lost}_validation"]
    for cell in (loses_cells[0] if loses_cells else []):
        assert cell in maxima, cell
        expected[cell] = 0.0
    for lost in loses_hidden:
        expected[f"{lost}_hidden"] = 0.0
        assert got[f"{lost}_visible"] == maxima[f"{lost}_visible"], f"{student}: visible tests should still pass"
    assert got == expected, f"{student}: per-test scores differ from the expected ones"


@pytest.mark.slow
def test_failures_carry_messages_that_teach(graded_class):
    course, *_ = graded_class
    graded = json.loads((course / "autograded" / "fans_no_kernel" / "initialization" / "initialization.ipynb").read_text())
    errors = [o for cell in graded["cells"] for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    messages = "\n".join(o["evalue"] for o in errors)
    assert "fans(torch.empty(16, 8, 3, 5)) returned (8, 16); expected (120, 240)" in messages
    assert "multiply both fans by the kernel size 3·5 = 15" in messages
    delegated = json.loads((course / "autograded" / "xavier_delegates" / "initialization" / "initialization.ipynb").read_text())
    evalues = [o["evalue"] for c in delegated["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert any("torch.nn.init.xavier_uniform_" in v and "no credit" in v for v in evalues)


@pytest.mark.slow
def test_misbehaving_submissions_affect_only_themselves(graded_class):
    course, outcomes, *_ = graded_class
    status = {(o.student, o.assignment): o for o in outcomes}
    in_play = {assignment for (_, assignment) in status}
    assert set(MISBEHAVING_IN) <= set(CONTRACT)
    for assignment in CONTRACT:
        scores, maxima = _scores(course, assignment)
        # Warnings, progress bars and stderr in correct code keep full marks.
        assert scores["noisy"] == maxima, assignment
        assert scores["instructor"] == maxima  # graded after the misbehaving ones, unaffected
        if assignment not in MISBEHAVING_IN or assignment not in in_play:
            continue
        first = CONTRACT[assignment][0]
        # The looping cell is interrupted; its task scores 0 (the function is never defined),
        # every other task keeps its points.
        assert status["looper", assignment].status == "graded"
        assert status["looper", assignment].timed_out_cells >= 1
        for cell, points in maxima.items():
            expected = 0.0 if cell.startswith(first) else points
            assert scores["looper"][cell] == expected, (assignment, cell)
        # A killed kernel: nothing for that submission, a clear line in the report.
        assert status["killer", assignment].status == "crashed"
        assert sum(scores.get("killer", {}).values()) == 0
    assert status["bad id!", "initialization"].status == "rejected"


@pytest.mark.slow
def test_grading_leaves_inputs_untouched_and_writes_its_outputs(graded_class):
    course, outcomes, before, after = graded_class
    assert before == after, "source/, release/ and submitted/ must be byte-for-byte unchanged"
    rows = (course / "grades.csv").read_text().splitlines()
    assert rows[0].startswith("assignment,") and len(rows) > 2 * len(CONTRACT)
    report = (course / "report" / "index.html").read_text()
    assert "killer" in report and "crashed" in report and "timed out" in report
    assert report.count("<img") == len(CONTRACT)
    for assignment in CONTRACT:
        assert (course / "feedback" / "instructor" / assignment / f"{assignment}.html").is_file()
    recorded = json.loads((course / "report" / "outcomes.json").read_text())
    assert len(recorded) == len(outcomes)


@pytest.mark.slow
def test_released_notebooks_keep_the_prediction_cells_and_drop_rubrics(graded_class):
    course, *_ = graded_class
    for assignment in CONTRACT:
        source = (course / "source" / assignment / f"{assignment}.ipynb").read_text()
        released = _read(course / "release" / assignment / f"{assignment}.ipynb")
        text = "\n".join(cell.source for cell in released.cells)
        assert "Rubric for graders" in source and "Model answer" in source, assignment
        assert "Rubric for graders" not in text and "Model answer" not in text, f"{assignment}: a rubric reached the students"
        assert "**My prediction**" in text, f"{assignment}: no cell for the student's prediction"


@pytest.mark.slow
def test_regrading_gives_the_same_grades(graded_class):
    course, *_ = graded_class
    first = {a: cell_scores(course, a) for a in CONTRACT}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NNLAB_CELL_TIMEOUT", str(ROUND_TRIP_CELL_TIMEOUT))
        for student in ("instructor", "fans_swapped", "params_ignore_groups"):
            assignment = WRONG.get(student, ("initialization",))[0]
            outcome = autograde_one(course, student, assignment, timeout=600)
            assert outcome.status == "graded"
    again = {a: cell_scores(course, a) for a in CONTRACT}
    assert again == first


def _challenge_output(notebook: nbformat.NotebookNode, stub: bool) -> str:
    """Run the notebook's imports, its challenge and the challenge's check; what the check printed."""
    ids = {cell.metadata.get("nbgrader", {}).get("grade_id", ""): cell for cell in notebook.cells}
    challenge = next(name for name in ids if name.startswith("challenge_") and not name.endswith("_check"))
    source = ids[challenge].source
    if stub:  # what nbgrader leaves in the students' copy
        source = re.sub(r"( *)### BEGIN SOLUTION.*?### END SOLUTION",
                        lambda m: f"{m.group(1)}# YOUR CODE HERE\n{m.group(1)}raise NotImplementedError()", source, flags=re.S)
    # a challenge may build on the notebook's tasks (AdamW on the student's Adam): their solutions run first
    tasks = [cell.source for name, cell in ids.items() if name in CONTRACT[notebook.metadata["assignment"]]]
    namespace: dict = {}
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        for cell in (ids["imports"].source, *tasks, source, ids[f"{challenge}_check"].source):
            exec(compile(cell, challenge, "exec"), namespace)  # noqa: S102 - the course's own notebook
    return output.getvalue()


@pytest.mark.parametrize("assignment", list(CONTRACT))
def test_each_assignment_ends_with_an_optional_challenge_that_its_solution_passes(assignment):
    notebook = nbformat.read(COURSE / "source" / assignment / f"{assignment}.ipynb", as_version=4)
    notebook.metadata["assignment"] = assignment
    ids = [cell.metadata.get("nbgrader", {}).get("grade_id", "") for cell in notebook.cells]
    last_test = max(i for i, cell in enumerate(notebook.cells) if cell.metadata.get("nbgrader", {}).get("grade"))
    assert min(i for i, name in enumerate(ids) if name.startswith("challenge_")) > last_test  # never run by autograding
    assert _challenge_output(notebook, stub=False).strip().endswith("Challenge passed.")
    assert _challenge_output(notebook, stub=True).strip().endswith("Challenge not attempted yet.")
