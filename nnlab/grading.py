"""Checks that the exercise notebooks' test cells share.

Each check raises :class:`GradingError` (an ``AssertionError``) with a message written for
the student: what was called, what came back, what was expected, and a hint. Values are
compared strictly: a tuple must be a real tuple of real ``int``s, a tensor a real
``torch.Tensor``, so an object that merely claims to be equal earns nothing.

The statistical checks (for random initializers) compare sample statistics with their
exact values, with a margin of many standard errors, so that a correct answer fails with
negligible probability and a wrong formula fails every time.
"""
from __future__ import annotations

import contextlib
import math
import sys
import types
from collections.abc import Callable, Iterable, Iterator

import torch

# Bound when this module is imported, before any student code runs: a tripwire does not
# depend on a name the code it watches could rebind.
_getframe = sys._getframe


class GradingError(AssertionError):
    """A failed check, with a message meant for the student."""


class DelegationError(BaseException):
    """The solution called the function it was asked to write.

    A ``BaseException``, not an ``Exception``: no ``except Exception`` (the student's, or a
    check's that records exceptions as results) swallows it, so delegation always ends the
    task's test.
    """


#: What delegating costs, in every message that says a task delegated.
NO_CREDIT = "This task earns no credit until it computes the result on its own."


def delegation_message(task: str, name: str, verb: str = "called") -> str:
    """The message of a :class:`DelegationError`: ``task`` ``verb`` ``name``, which it must not."""
    return f"{task} {verb} {name}, the function this task asks you to write yourself. {NO_CREDIT}"


def tripwire(original: Callable, name: str, task: str, refuses: Callable | None = None) -> Callable:
    """A stand-in for ``original`` that raises :class:`DelegationError` (``task`` called ``name``).

    With ``refuses(caller_frame, args)``, it refuses only when that returns true and calls
    ``original`` otherwise (the grader's tripwires refuse only calls made by student code).
    """

    def guarded(*args, **kwargs):
        if refuses is None or refuses(_getframe(1), args):
            raise DelegationError(delegation_message(task, name))
        return original(*args, **kwargs)

    guarded.__name__ = getattr(original, "__name__", "tripwire")
    return guarded


def _fail(message: str, hint: str = "") -> None:
    raise GradingError(message + (f"\nHint: {hint}" if hint else ""))


def assert_int(value: object, expected: int, call: str, hint: str = "") -> None:
    """``value`` is a plain ``int`` (not a float, bool or tensor) equal to ``expected``."""
    if type(value) is not int:
        _fail(f"{call} returned {value!r} of type {type(value).__name__}; expected the int {expected}", hint)
    if value != expected:
        _fail(f"{call} returned {value}; expected {expected}", hint)


def assert_int_tuple(value: object, expected: tuple[int, ...], call: str, hint: str = "") -> None:
    """``value`` is a plain ``tuple`` of plain ``int`` equal to ``expected``."""
    if type(value) is not tuple:
        _fail(f"{call} returned {value!r} of type {type(value).__name__}; expected the tuple {expected}", hint)
    if len(value) != len(expected) or any(type(v) is not int for v in value):
        _fail(f"{call} returned {value!r}; expected a tuple of {len(expected)} ints like {expected}", hint)
    if tuple(int(v) for v in value) != tuple(expected):
        _fail(f"{call} returned {value}; expected {expected}", hint)


def assert_raises(exception: type[BaseException], function: Callable, *args, call: str, hint: str = "", **kwargs) -> None:
    """Calling ``function(*args, **kwargs)`` raises ``exception`` (or a subclass)."""
    try:
        function(*args, **kwargs)
    except exception:
        return
    except NotImplementedError:
        raise
    except Exception as error:  # noqa: BLE001 - report whatever else came out
        _fail(f"{call} raised {type(error).__name__}: {error}; expected {exception.__name__}", hint)
    _fail(f"{call} returned normally; expected it to raise {exception.__name__}", hint)


def _as_real_tensor(value: object, call: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor) or type(value) not in (torch.Tensor, torch.nn.Parameter):
        _fail(f"{call} returned {type(value).__name__}; expected a torch.Tensor")
    return value.detach()


def assert_tensor_close(
    actual: object, expected: torch.Tensor, call: str, rtol: float = 1e-6, atol: float = 1e-8, hint: str = ""
) -> None:
    """``actual`` is a tensor of ``expected``'s shape whose values agree within tolerance.

    Values are compared in float64: ``|actual - expected| <= atol + rtol·|expected|``. Where
    ``expected`` holds NaN or an infinity, ``actual`` must hold the same there, and only there
    (a NaN compares false with everything, so it is matched by position, never by value).
    """
    tensor = _as_real_tensor(actual, call)
    if tuple(tensor.shape) != tuple(expected.shape):
        _fail(f"{call} returned shape {tuple(tensor.shape)}; expected {tuple(expected.shape)}", hint)
    a, e = tensor.double().cpu(), expected.detach().double().cpu()
    special = ~torch.isfinite(e)
    if not bool(torch.isfinite(a[~special]).all()):
        _fail(f"{call} returned NaN or infinite values", hint)
    if bool(special.any()):
        same = (torch.isnan(a) & torch.isnan(e)) | (a == e)
        if not bool(same[special].all()):
            index = int((special & ~same).flatten().nonzero()[0])
            position = tuple(int(i) for i in torch.unravel_index(torch.tensor(index), tuple(e.shape))) if e.dim() else ()
            _fail(f"{call} differs from the expected result at index {position}: got {a.flatten()[index].item():.6g}, "
                  f"expected {e.flatten()[index].item():.6g}", hint)
        a, e = a.masked_fill(special, 0.0), e.masked_fill(special, 0.0)  # matched above; positions kept
    error = (a - e).abs()
    allowed = atol + rtol * e.abs()
    if bool((error > allowed).any()):
        index = int((error - allowed).flatten().argmax())
        position = tuple(int(i) for i in torch.unravel_index(torch.tensor(index), tuple(e.shape))) if e.dim() else ()
        got, want = a.flatten()[index].item(), e.flatten()[index].item()
        relative = abs(got - want) / max(abs(got), abs(want), 1e-300)  # cs231n's relative error, symmetric in both
        _fail(
            f"{call} differs from the expected result at index {position}: got {got:.6g}, expected {want:.6g} "
            f"(relative error {relative:.2e}; allowed |got − expected| ≤ {atol:g} + {rtol:g}·|expected|, "
            f"{int((error > allowed).sum())} of {error.numel()} values outside it)",
            hint,
        )


def assert_in_place(returned: object, original: torch.Tensor, before: torch.Tensor, call: str) -> None:
    """An in-place function (name ending in ``_``) changed ``original`` and returned it."""
    if returned is not original:
        _fail(
            f"{call} returned a different object than the tensor it was given",
            "an in-place initializer fills the given tensor (e.g. with weight.normal_(...)) and returns that same tensor",
        )
    if torch.equal(original.detach(), before):
        _fail(f"{call} left the tensor unchanged", "fill the tensor in place, under torch.no_grad()")


def call_in_place_on_parameter(initializer: Callable, parameter: torch.nn.Parameter, call: str, **kwargs) -> object:
    """``initializer(parameter, **kwargs)`` on a parameter that requires gradients, as a model's
    weights do: torch refuses in-place changes to such a leaf unless they run under
    ``torch.no_grad()``, and this says so instead of torch's bare error. The parameter must
    still require gradients afterwards."""
    try:
        returned = initializer(parameter, **kwargs)
    except RuntimeError as error:
        if "leaf Variable that requires grad" in str(error):
            _fail(f"{call} on an nn.Parameter raised torch's error for in-place changes to a leaf that requires "
                  "gradients", "fill the weight inside `with torch.no_grad():`, as model weights are parameters")
        raise
    if not parameter.requires_grad:
        _fail(f"{call} turned off requires_grad of the parameter", "fill it under torch.no_grad() instead of detaching it")
    return returned


@contextlib.contextmanager
def recording_grad_mode(model: torch.nn.Module):
    """While active, every forward call of a child of ``model`` appends to the yielded list
    whether autograd was recording (``torch.is_grad_enabled()``) when it ran."""
    seen: list[bool] = []
    handles = [child.register_forward_hook(lambda module, inputs, output: seen.append(torch.is_grad_enabled()))
               for child in model.children()]
    try:
        yield seen
    finally:
        for handle in handles:
            handle.remove()


def _moments(sample: torch.Tensor) -> tuple[int, float, float, float]:
    x = sample.detach().double().flatten().cpu()
    n = x.numel()
    mean = float(x.mean())
    std = float(x.std(unbiased=True))
    centred = x - mean
    kurtosis = float((centred**4).mean() / (centred**2).mean() ** 2) - 3.0 if std > 0 else math.nan
    return n, mean, std, kurtosis


def assert_distribution(
    sample: object,
    std: float,
    call: str,
    kind: str = "normal",
    mean: float = 0.0,
    z: float = 6.0,
    formula: str = "",
) -> None:
    """``sample``'s values look drawn from a ``kind`` ("normal" or "uniform") distribution
    with the given mean and standard deviation.

    Mean and standard deviation must lie within ``z`` standard errors of their exact values;
    the excess kurtosis (0 for a normal, −1.2 for a uniform distribution) tells the two
    shapes apart. Use samples of at least 10 000 values.
    """
    tensor = _as_real_tensor(sample, call)
    n, sample_mean, sample_std, kurtosis = _moments(tensor)
    if n < 1000:
        raise ValueError(f"a distribution check needs at least 1000 values, got {n}")
    if not math.isfinite(sample_std):
        _fail(f"{call} produced NaN or infinite values")
    expected = f"σ = {formula} = {std:.4g}" if formula else f"σ = {std:.4g}"
    if abs(sample_mean - mean) > z * std / math.sqrt(n):
        _fail(f"{call}: the values have mean {sample_mean:.4g}; expected {mean:g} (with {expected})")
    # Standard error of the sample std: σ·sqrt((κ + 2) / (4n)) with κ the excess kurtosis.
    shape_kurtosis = 0.0 if kind == "normal" else -1.2
    se = std * math.sqrt((shape_kurtosis + 2.0) / (4.0 * n))
    if abs(sample_std - std) > z * se:
        _fail(
            f"{call}: the values have standard deviation {sample_std:.4g}; expected {expected} "
            f"(± {z * se:.2g})",
            "check the formula: variance or standard deviation? fan_in, fan_out or both? the gain?",
        )
    kurtosis_se = math.sqrt(24.0 / n)
    if abs(kurtosis - shape_kurtosis) > max(z * kurtosis_se, 0.3):
        other = "uniform" if kind == "normal" else "normal"
        _fail(f"{call}: the values look {other}ly distributed (excess kurtosis {kurtosis:.2f}); expected a {kind} distribution")
    if kind == "uniform":
        bound = std * math.sqrt(3.0)
        largest = float(tensor.abs().max())
        if largest > bound * (1 + 1e-6):
            _fail(f"{call}: a value {largest:.4g} lies outside (−a, a) with a = {bound:.4g}")


def _code_objects(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            yield from _code_objects(constant)


def _public_functions(module: types.ModuleType) -> dict[str, Callable]:
    return {
        name: value for name, value in vars(module).items()
        if callable(value) and not name.startswith("_") and not isinstance(value, type)
    }


def _inspected_functions(function: Callable, depth: int = 4) -> Iterator[Callable]:
    """``function`` and what it wraps: its ``__wrapped__`` chain and the functions its closure holds.

    A wrapper's own code says nothing about the code it runs: ``torch.optim.Optimizer`` replaces
    a subclass's ``step`` with a profiling wrapper that holds the student's ``step`` in its
    closure. Every function found is inspected, the wrapper included, so a decoy
    ``__wrapped__`` hides nothing.
    """
    seen: set[int] = set()
    pending = [(function, 0)]
    while pending:
        current, level = pending.pop()
        current = getattr(current, "__func__", current)  # a bound method: its function
        if id(current) in seen or level > depth:
            continue
        seen.add(id(current))
        yield current
        wrapped = getattr(current, "__wrapped__", None)
        if callable(wrapped):
            pending.append((wrapped, level + 1))
        for cell in getattr(current, "__closure__", None) or ():
            try:
                content = cell.cell_contents
            except ValueError:  # an empty cell
                continue
            if isinstance(content, (types.FunctionType, types.MethodType)):
                pending.append((content, level + 1))


def assert_no_delegation(function: Callable, forbidden: Iterable[Callable], task: str) -> None:
    """``function`` does not refer to any of the ``forbidden`` callables through a global name.

    This catches a reference captured before the tests run (``from torch.nn.init import
    xavier_uniform_ as helper``); :func:`forbid` catches calls made through a module. A
    wrapped function (a decorator, torch's hooks around an optimizer's ``step``) is inspected
    together with what it wraps.
    """
    banned = {id(f): f for f in forbidden}
    for inspected in _inspected_functions(function):
        code = getattr(inspected, "__code__", None)
        if code is None:
            continue
        scope = getattr(inspected, "__globals__", {})
        referenced = [scope.get(name) for part in _code_objects(code) for name in part.co_names]
        for cell in getattr(inspected, "__closure__", None) or ():  # names captured from an enclosing function
            try:
                referenced.append(cell.cell_contents)
            except ValueError:
                continue
        for value in (getattr(inspected, "__defaults__", None) or ()) + tuple((getattr(inspected, "__kwdefaults__", None) or {}).values()):
            referenced.append(value)  # a reference captured as a default argument
        for value in referenced:
            if value is not None and id(value) in banned:
                target = banned[id(value)]
                dotted = f"{getattr(target, '__module__', '')}.{getattr(target, '__name__', '?')}"
                raise DelegationError(delegation_message(task, dotted, verb="uses"))


@contextlib.contextmanager
def forbid(modules: Iterable[types.ModuleType], task: str, names: Iterable[str] | None = None):
    """While active, calling any public function of ``modules`` (or only ``names``) raises
    :class:`DelegationError` naming ``task``."""
    replaced: list[tuple[types.ModuleType, str, object]] = []
    try:
        for module in modules:
            for name, value in _public_functions(module).items():
                if names is not None and name not in names:
                    continue
                replaced.append((module, name, value))
                setattr(module, name, tripwire(value, f"{module.__name__}.{name}", task))
        yield
    finally:
        for module, name, value in replaced:
            setattr(module, name, value)


def forbidden_functions(modules: Iterable[types.ModuleType]) -> list[Callable]:
    """The public functions of ``modules``, for :func:`assert_no_delegation`."""
    return [f for module in modules for f in _public_functions(module).values()]


@contextlib.contextmanager
def substitute(namespace: dict, **replacements: object):
    """Temporarily bind names in ``namespace`` (a notebook's ``globals()``) to other objects.

    Grades each task on its own: while ``he_normal_`` is tested, ``fans`` is the reference,
    so a mistake in the student's ``fans`` costs the points of ``fans`` only.
    """
    missing = object()
    saved = {name: namespace.get(name, missing) for name in replacements}
    namespace.update(replacements)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is missing:
                namespace.pop(name, None)
            else:
                namespace[name] = value


# --------------------------------------------------------------------------- shared inputs
# The notebooks' tests and the grader's independent check build their cases here, so that
# both check a task on inputs made the same way.


def optimizer_run(make_optimizer: Callable, seed: int = 0, groups: list[dict] | None = None, steps: int = 50) -> dict:
    """Train a small float64 network with ``make_optimizer(params)`` for ``steps`` steps.

    The network (Linear 5→8, Tanh, Linear 8→3, cross-entropy on 32 random points) and the
    data come from ``seed``; one extra parameter never gets a gradient (an optimizer must
    skip it). ``groups`` (two dicts of settings) splits the parameters into two param groups:
    the first layer, and the second layer with the extra parameter. Returns
    ``{"parameters": final values, "losses": what each step(closure) returned}`` (floats;
    ``None`` stays ``None``; anything else becomes its ``repr``).
    """
    from torch import nn
    from torch.nn import functional as F

    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3)).double()
    unused = nn.Parameter(torch.ones(4, dtype=torch.float64))
    x, y = torch.randn(32, 5, dtype=torch.float64), torch.randint(0, 3, (32,))
    if groups is None:
        params: list = list(model.parameters()) + [unused]
    else:
        params = [dict(groups[0], params=list(model[0].parameters())),
                  dict(groups[1], params=list(model[2].parameters()) + [unused])]
    optimizer = make_optimizer(params)
    losses: list = []

    def closure():
        for p in model.parameters():
            p.grad = None
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        return loss

    for _ in range(steps):
        loss = optimizer.step(closure)
        if isinstance(loss, torch.Tensor):
            loss = float(loss.detach())
        elif loss is not None and not isinstance(loss, float):
            loss = repr(loss)
        losses.append(loss)
    parameters = [p.detach().clone() for p in model.parameters()] + [unused.detach().clone()]
    return {"parameters": parameters, "losses": losses}


def batchnorm_inputs(n: int, d: int, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
    """Float64 arguments for a batch-norm forward on ``n`` rows of ``d`` features, drawn from ``generator``:
    ``x`` (mean −1, std 3), ``gamma`` in [0.5, 1.5), ``beta``, ``running_mean``, ``running_var``
    in [0.5, 1.5), and an ``upstream`` gradient; ``x``, ``gamma`` and ``beta`` require gradients."""
    x = (torch.randn(n, d, generator=generator, dtype=torch.float64) * 3 - 1).requires_grad_(True)
    gamma = (torch.rand(d, generator=generator, dtype=torch.float64) + 0.5).requires_grad_(True)
    beta = torch.randn(d, generator=generator, dtype=torch.float64).requires_grad_(True)
    running_mean = torch.randn(d, generator=generator, dtype=torch.float64)
    running_var = torch.rand(d, generator=generator, dtype=torch.float64) + 0.5
    upstream = torch.randn(n, d, generator=generator, dtype=torch.float64)
    return x, gamma, beta, running_mean, running_var, upstream
