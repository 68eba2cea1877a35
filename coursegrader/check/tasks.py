"""What a task's check is: its probe, its reference, what it must not call.

Each assignment has a module in :mod:`coursegrader.check.probes` whose ``TASKS`` maps every
task of the exercise contract to a :class:`Task`.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from coursegrader.contracts import RAISED


@dataclass(frozen=True)
class Task:
    """How one task is checked outside the notebook.

    ``probe(impl, seed)`` builds fresh inputs from ``seed``, calls ``impl`` (the reference, or
    the student's function or class as a :class:`~coursegrader.check.remote.RemoteObject` that
    calls into the fresh run) and returns ``{"visible": cases, "hidden": cases}``
    (and ``"validation": cases`` for a task that must refuse bad arguments), each a list of
    ``{"call": description, "result": observation}``. ``forbidden`` names what
    the task must not call: modules (every public function and class in them) or single
    functions and classes, as dotted paths.
    """

    probe: Callable[[object, int], dict]
    reference: str
    forbidden: tuple[str, ...] = ()
    rtol: float = 1e-6
    atol: float = 1e-8
    #: ``check(actual, expected, call, task)`` for one case, where :func:`~coursegrader.check.compare.compare`
    #: does not fit (random results: a statistical check of the student's values against the reference's setting)
    check: Callable | None = None
    #: The other tasks this one is meant to build on (as the notebook says): while it is checked
    #: they are the references, so that it is graded on its own. Every other task keeps the
    #: student's own version: a task cannot borrow a reference it was not lent.
    lends: tuple[str, ...] = ()


def attempt(function: Callable, *args, **kwargs) -> object:
    """``function(*args, **kwargs)``, or ``{"!raised": <exception class name>}``.

    Only ``Exception``s are observations: a tripwire's ``DelegationError`` (a
    ``BaseException``) ends the task's probe instead.
    """
    try:
        return function(*args, **kwargs)
    except Exception as error:  # noqa: BLE001 - the exception is the observation
        # the nearest built-in class: a subclass of ValueError counts as a ValueError, as in the notebook's tests
        builtin = next(cls for cls in type(error).__mro__ if cls.__module__ == "builtins")
        return {RAISED: builtin.__name__}


def resolve(dotted: str) -> object:
    """The object at a dotted path (``torch.nn.init.xavier_uniform_``)."""
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for name in parts[split:]:
            obj = getattr(obj, name)
        return obj
    raise ImportError(f"cannot resolve {dotted}")


def specification(assignment: str) -> dict[str, Task] | None:
    """The tasks of ``assignment`` checked outside the notebook (None: no specification)."""
    try:
        module = importlib.import_module(f"coursegrader.check.probes.{assignment}")
    except ModuleNotFoundError:
        return None
    return module.TASKS


def seed_for(secret: str, assignment: str, student: str, notebook: str) -> int:
    """The probes' seed for one submission: keyed by the course's secret, the student and the
    notebook, so that grading is repeatable, no two submissions share hidden inputs, and
    students cannot know theirs (the secret lives in the course folder, hidden from the
    sandbox). 64 bits, less a margin so that a probe may add a small salt to it."""
    fields = json.dumps([secret, assignment, student, notebook])  # unambiguous, whatever the names hold
    digest = hashlib.sha256(fields.encode()).digest()
    return int.from_bytes(digest[:8], "big") % (2**64 - 2**16)


def probe_key(seed: int, task: str) -> int:
    """The key one task's probe draws its inputs from, derived one-way from the submission's seed.

    The probes draw their inputs from these keys in the grader's process; the student's
    process gets neither the keys nor the seed, only the arguments of each call as it is made.
    Below 2**63 less a margin, so that a probe may add a small salt to it.
    """
    digest = hashlib.sha256(json.dumps([int(seed), task]).encode()).digest()
    return int.from_bytes(digest[:8], "big") % (2**63 - 2**16)


def course_secret(path: Path) -> str:
    """The course's probe secret, created on first use."""
    if not path.exists():
        path.write_text(secrets.token_hex(16) + "\n")
    return path.read_text().strip()
