"""The clean comparison, in the grader's process: the student's observations against the reference's.

The probes record the student's observations here, calling into the fresh run; they are
stored and read back with ``torch.load(weights_only=True)`` (plain tensors, numbers and strings:
an object of the student's own class is only its description). The same probes run here with
the reference implementations, and the two are compared, each case with its task's
tolerances (or its task's own ``check``).
"""
from __future__ import annotations

import io
import math
import re

from nnlab import grading
from nnlab.grading import GradingError as Mismatch  # the notebooks' checks and this comparison fail alike

from coursegrader import contracts
from coursegrader.check.tasks import Task, resolve, specification

RAISED = contracts.RAISED

__all__ = ["Mismatch", "compare", "compare_group", "group_message", "kind_of_mistake", "reference_observations",
           "validate_observations"]


def _describe(value: object) -> str:
    import torch

    if isinstance(value, dict) and set(value) == {RAISED}:
        return f"raised {value[RAISED]}"
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def compare(actual: object, expected: object, call: str, task: Task) -> None:
    """Raise :class:`Mismatch` unless ``actual`` (from the student) matches ``expected`` (from
    the reference, computed here). Types are strict: an int is not a float, a tuple not a list."""
    import torch

    if isinstance(expected, dict) and set(expected) == {RAISED}:
        if not (isinstance(actual, dict) and set(actual) == {RAISED}):
            raise Mismatch(f"{call} returned {_describe(actual)}; expected it to raise {expected[RAISED]}")
        if actual[RAISED] != expected[RAISED]:  # a stub's NotImplementedError is not the ValueError asked for
            raise Mismatch(f"{call} raised {actual[RAISED]}; expected it to raise {expected[RAISED]}")
        return
    if isinstance(actual, dict) and set(actual) == {RAISED}:
        raise Mismatch(f"{call} raised {actual[RAISED]}; expected {_describe(expected)}")
    if isinstance(expected, dict) and "sample" in expected and "std" in expected:
        if not isinstance(actual, dict) or "sample" not in actual:
            raise Mismatch(f"{call}: expected a filled tensor, got {_describe(actual)}")
        grading.assert_distribution(actual["sample"], expected["std"], call, kind=expected["kind"])
        rest = {k: v for k, v in expected.items() if k not in ("sample", "std", "kind")}
        for key, value in rest.items():
            compare(actual.get(key), value, f"{call} [{key}]", task)
        return
    if isinstance(expected, torch.Tensor):
        grading.assert_tensor_close(actual, expected, call, rtol=task.rtol, atol=task.atol)
        if isinstance(actual, torch.Tensor) and actual.dtype != expected.dtype:
            raise Mismatch(f"{call} returned a {actual.dtype} tensor; expected {expected.dtype}")
        return
    if type(expected) is float and type(actual) in (int, float):
        if not math.isclose(actual, expected, rel_tol=max(task.rtol, 1e-12), abs_tol=task.atol):
            raise Mismatch(f"{call} returned {actual!r}; expected {expected!r}")
        return
    if type(actual) is not type(expected):
        raise Mismatch(f"{call} returned {_describe(actual)} of type {type(actual).__name__}; "
                       f"expected {_describe(expected)} of type {type(expected).__name__}")
    if isinstance(expected, dict):
        if list(actual) != list(expected):
            raise Mismatch(f"{call} returned the keys {list(actual)}; expected {list(expected)}")
        for key in expected:
            compare(actual[key], expected[key], f"{call}[{key!r}]", task)
    elif isinstance(expected, (list, tuple)):
        if len(actual) != len(expected):
            raise Mismatch(f"{call} returned {len(actual)} items; expected {len(expected)}")
        for index, (a, e) in enumerate(zip(actual, expected)):
            compare(a, e, f"{call}[{index}]", task)
    elif actual != expected:
        raise Mismatch(f"{call} returned {_describe(actual)}; expected {_describe(expected)}")


def compare_group(actual: object, expected: list[dict], task: Task) -> None:
    """Compare the cases of one group (student's, then the reference's)."""
    if not isinstance(actual, list) or len(actual) != len(expected):
        raise Mismatch("the check's cases did not all run with your code")
    for mine, theirs in zip(actual, expected):
        if not isinstance(mine, dict) or "result" not in mine:
            raise Mismatch(f"{theirs['call']}: no result came back")
        (task.check or compare)(mine["result"], theirs["result"], theirs["call"], task)


def reference_observations(assignment: str, keys: dict[str, int]) -> dict[str, dict]:
    """Each task's probe run with the reference implementation, here, on the task's probe key
    (the same inputs as the fresh run's)."""
    tasks = specification(assignment) or {}
    return {name: task.probe(resolve(task.reference), keys[name]) for name, task in tasks.items() if name in keys}


def validate_observations(value: object, depth: int = 0) -> None:
    """Raise :class:`Mismatch` unless ``value`` is plain values nested at most 20 deep, with every
    tensor small enough and stored in full: checked before any arithmetic, so that a crafted
    result (a stride-0 expansion to billions of elements) cannot exhaust the grader's memory."""
    import torch

    if depth > 20:
        raise Mismatch("the results are nested too deeply")
    if isinstance(value, torch.Tensor):
        if value.numel() > contracts.MAX_TENSOR_ELEMENTS:
            raise Mismatch(f"a result holds {value.numel()} elements, more than the grader compares")
        if value.numel() and value.untyped_storage().nbytes() < value.numel() * value.element_size():
            raise Mismatch("a result is a tensor not stored in full (an expanded view), which the grader does not accept")
    elif isinstance(value, dict):
        for key, item in value.items():
            validate_observations(key, depth + 1)
            validate_observations(item, depth + 1)
    elif isinstance(value, (list, tuple)):
        for item in value:
            validate_observations(item, depth + 1)


def group_message(results, name: str, group: str, expected: list, task: Task) -> tuple[str, bool]:
    """Why group ``group`` of task ``name`` failed, from what the fresh run sent back
    (:class:`~coursegrader.check.fresh_run.Results`; '' if it passed), and whether the message
    came from comparing results (it may then quote the group's inputs)."""
    import torch

    if name in results.errors:
        return results.errors[name], False
    data = results.observations.get(name)
    if data is None:
        return f"{name} did not run in the grader's own run of your code", False
    try:
        observed = torch.load(io.BytesIO(data), weights_only=True)
    except Exception as error:  # noqa: BLE001 - anything but plain values is refused
        return (f"{name} returned something other than plain tensors, numbers and strings "
                f"({type(error).__name__}), which the grader does not accept"), False
    if not isinstance(observed, dict) or group not in observed:
        return "the check's cases did not all run with your code", False
    try:
        validate_observations(observed[group])
        compare_group(observed[group], expected, task)
    except Mismatch as mismatch:
        return str(mismatch), True
    except Exception as error:  # noqa: BLE001 - a result of an unexpected shape fails this group, not the grader
        return f"{name}'s results could not be compared with the reference's ({type(error).__name__}: {error})"[:500], False
    return "", False


#: What a comparison's message says, by the words it uses; the first that matches names the mistake.
_KINDS = [
    (r" raised (\w+); expected it to raise (\w+)", "it raised {0} where invalid input must raise {1}"),
    (r"expected it to raise (\w+)", "it returned a result where invalid input must raise {0}"),
    (r" raised (\w+); expected", "it raised {0} on valid input"),
    (r"returned shape", "the result has the wrong shape"),
    (r"tensor; expected torch\.", "the result has the wrong dtype"),
    (r"NaN or infinite", "the result holds NaN or infinite values"),
    (r"differs from the expected result", "a value differs from the expected one by more than the tolerance"),
    (r"standard deviation|have mean|distributed|outside \(", "the values do not follow the expected distribution"),
    (r"of type", "the result has the wrong type"),
    (r"the keys", "the result has the wrong keys"),
    (r"items; expected", "the result has the wrong number of items"),
    (r"zeroed", "the wrong fraction of elements is zeroed"),
    (r"generators seeded alike", "the result does not follow the given generator"),
]


def kind_of_mistake(message: str) -> str:
    """What kind of mistake a comparison's ``message`` reports, without its inputs or values."""
    for pattern, kind in _KINDS:
        found = re.search(pattern, message)
        if found:
            return kind.format(*found.groups())
    return "the result differs from the expected one"
