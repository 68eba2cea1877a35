"""The clean comparison, in the grader's process: the student's observations against the reference's.

The observations of the fresh run are read with ``torch.load(weights_only=True)`` (plain
tensors, numbers and strings: an object of the student's own class cannot come back); the
same probes run here with the reference implementations, and the two are compared, each
case with its task's tolerances (or its task's own ``check``).
"""
from __future__ import annotations

import math
from pathlib import Path

from nnlab import grading
from nnlab.grading import GradingError as Mismatch  # the notebooks' checks and this comparison fail alike

from coursegrader import contracts
from coursegrader.check.tasks import Task, resolve, specification

RAISED = contracts.RAISED

__all__ = ["Mismatch", "compare", "compare_group", "group_message", "reference_observations"]


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


_REFERENCE_CACHE: dict[tuple[str, int], dict[str, dict]] = {}


def reference_observations(assignment: str, seed: int) -> dict[str, dict]:
    """Each task's probe run with the reference implementation, here (cached)."""
    key = (assignment, seed)
    if key not in _REFERENCE_CACHE:
        tasks = specification(assignment) or {}
        _REFERENCE_CACHE[key] = {name: task.probe(resolve(task.reference), seed) for name, task in tasks.items()}
    return _REFERENCE_CACHE[key]


def group_message(out: Path, name: str, group: str, expected: list, task: Task) -> str:
    """Why group ``group`` of task ``name`` failed in the fresh run whose output folder is ``out`` ('' if it passed)."""
    import torch

    error = out / contracts.error_file(name)
    if error.exists():
        return error.read_text()[:500]
    path = out / contracts.observations_file(name)
    if not path.exists():
        return f"{name} did not run in the grader's own run of your code"
    try:
        observed = torch.load(path, weights_only=True)
    except Exception as error:  # noqa: BLE001 - anything but plain values is refused
        return (f"{name} returned something other than plain tensors, numbers and strings "
                f"({type(error).__name__}), which the grader does not accept")
    if not isinstance(observed, dict) or group not in observed:
        return "the check's cases did not all run with your code"
    try:
        compare_group(observed[group], expected, task)
    except Mismatch as mismatch:
        return str(mismatch)
    except Exception as error:  # noqa: BLE001 - a result of an unexpected shape fails this group, not the grader
        return f"{name}'s results could not be compared with the reference's ({type(error).__name__}: {error})"[:500]
    return ""
