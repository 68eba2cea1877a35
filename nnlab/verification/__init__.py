"""Pass or fail decided where the student's code cannot reach.

The tests of an exercise notebook run in the same kernel as the student's code, so a
submission can patch ``torch``, the test helpers or builtins, or return objects that lie
about equality, and make its own tests pass. This package adds an independent check whose
verdict a submission cannot forge:

1. **Static check** (in the grader's process, on the submitted source): a task's cell may not
   use what would let it reach the grader or hide a call, i.e. ``exec``/``eval``, dunder
   attributes, ``importlib``/``inspect``/``gc``/``ctypes``, ``setattr`` or ``getattr`` with a
   computed name, ``sys.modules``...; nor name, import or subclass the functions the task
   re-implements (the ``nnlab`` reference, the PyTorch built-in).
2. **A fresh run** (:mod:`nnlab.verification.runner`, in the sandbox): a new Python process
   executes the notebook's import cells and the submission's task cells, with the functions
   each task re-implements replaced by tripwires *before* any student code runs (so a
   reference captured at import time is a tripwire too); then each task's *probe* calls the
   student's function or class on fresh inputs derived from a seed the submission cannot see
   beforehand, with every other task bound to its reference (each task graded on its own).
   The probe's observations (tensors, numbers, strings: nothing else survives) are written
   with ``torch.save``.
3. **A clean comparison** (in the grader's process): the observations are read with
   ``torch.load(weights_only=True)`` (an object of the student's own class cannot come back),
   the same probe runs with the reference implementation here, and the two are compared.

A test cell scores only if it passed in the notebook *and* its group of the independent
check (``<task>_visible`` / ``<task>_hidden``) agrees: see :class:`VerifyOutside`.
"""
from __future__ import annotations

import ast
import atexit
import hashlib
import importlib
import json
import math
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

#: Student code is compiled with file names starting with this: tripwires recognize its frames.
STUDENT_FILE = "<submission "
#: The ``__name__`` of the namespace the student's cells run in (``__module__`` of their classes).
STUDENT_MODULE = "submission"
RAISED = "!raised"
GROUPS = ("visible", "hidden")


class Mismatch(AssertionError):
    """The independent check disagrees with the submission; the message is for the student."""


@dataclass(frozen=True)
class Task:
    """How one task is checked outside the notebook.

    ``probe(impl, seed)`` builds fresh inputs from ``seed``, calls ``impl`` (the student's
    function or class, or the reference) and returns ``{"visible": cases, "hidden": cases}``,
    each a list of ``{"call": description, "result": observation}``. ``forbidden`` names what
    the task must not call: modules (every public function and class in them) or single
    functions and classes, as dotted paths.
    """

    probe: Callable[[object, int], dict]
    reference: str
    forbidden: tuple[str, ...] = ()
    rtol: float = 1e-6
    atol: float = 1e-8
    #: ``check(actual, expected, call, task)`` for one case, where :func:`compare` does not fit
    #: (random results: a statistical check of the student's values against the reference's setting)
    check: Callable | None = None


def attempt(function: Callable, *args, **kwargs) -> object:
    """``function(*args, **kwargs)``, or ``{"!raised": <exception class name>}``."""
    try:
        return function(*args, **kwargs)
    except Exception as error:  # noqa: BLE001 - the exception is the observation
        return {RAISED: type(error).__name__}


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
        module = importlib.import_module(f"nnlab.verification.{assignment}")
    except ModuleNotFoundError:
        return None
    return module.TASKS


def seed_for(secret: str, assignment: str) -> int:
    """The probes' seed: fixed for a course and assignment (grading is repeatable), unknown to
    students (the secret lives in the course folder, hidden from the sandbox)."""
    return int(hashlib.sha256(f"{secret}:{assignment}".encode()).hexdigest()[:8], 16)


def course_secret(path: Path) -> str:
    """The course's probe secret, created on first use."""
    if not path.exists():
        path.write_text(secrets.token_hex(16) + "\n")
    return path.read_text().strip()


# --------------------------------------------------------------------------- comparison


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

    from nnlab import grading

    if isinstance(expected, dict) and set(expected) == {RAISED}:
        if not (isinstance(actual, dict) and set(actual) == {RAISED}):
            raise Mismatch(f"{call} returned {_describe(actual)}; expected it to raise {expected[RAISED]}")
        return
    if isinstance(actual, dict) and set(actual) == {RAISED}:
        raise Mismatch(f"{call} raised {actual[RAISED]}; expected {_describe(expected)}")
    if isinstance(expected, dict) and "sample" in expected and "std" in expected:
        if not isinstance(actual, dict) or "sample" not in actual:
            raise Mismatch(f"{call}: expected a filled tensor, got {_describe(actual)}")
        try:
            grading.assert_distribution(actual["sample"], expected["std"], call, kind=expected["kind"])
        except grading.GradingError as error:
            raise Mismatch(str(error)) from None
        rest = {k: v for k, v in expected.items() if k not in ("sample", "std", "kind")}
        for key, value in rest.items():
            compare(actual.get(key), value, f"{call} [{key}]", task)
        return
    if isinstance(expected, torch.Tensor):
        try:
            grading.assert_tensor_close(actual, expected, call, rtol=task.rtol, atol=task.atol)
        except grading.GradingError as error:
            raise Mismatch(str(error)) from None
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


# --------------------------------------------------------------------------- static check

BANNED_CALLS = {
    "exec", "eval", "compile", "__import__", "globals", "locals", "vars", "setattr", "delattr", "breakpoint",
    "attrgetter", "methodcaller",
}
BANNED_MODULES = {
    "importlib", "imp", "runpy", "gc", "inspect", "ctypes", "cffi", "builtins", "marshal", "pickle", "dill",
    "code", "codeop", "dis", "sysconfig", "nnlab.verification", "nnlab.grading", "nnlab.sandbox", "nnlab.course",
}
BANNED_SYS = {"modules", "_getframe", "setprofile", "settrace", "meta_path", "path_hooks", "path_importer_cache",
              "addaudithook", "_current_frames"}
ALLOWED_DUNDERS = {"__init__", "__name__", "__qualname__", "__doc__", "__class__", "__len__"}


def _dotted(node: ast.AST, aliases: dict[str, str]) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    base = aliases.get(node.id)
    if base is None:
        return None
    return ".".join([base, *reversed(parts)])


def _aliases(trees: list[ast.AST]) -> dict[str, str]:
    """Names bound by imports (and plain ``name = module.attr`` assignments) to dotted paths."""
    aliases: dict[str, str] = {}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        aliases[alias.asname] = alias.name
                    else:
                        aliases[alias.name.split(".")[0]] = alias.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    if alias.name != "*":
                        aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    for _ in range(3):  # assignments of imported names, possibly chained
        for tree in trees:
            for node in ast.walk(tree):
                if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                    path = _dotted(node.value, aliases)
                    if path is not None:
                        aliases.setdefault(node.targets[0].id, path)
    return aliases


def _is_forbidden(path: str, forbidden: tuple[str, ...]) -> str | None:
    for entry in forbidden:
        if path == entry or path.startswith(entry + "."):
            try:
                target = resolve(entry)
            except (ImportError, AttributeError):
                continue
            if isinstance(target, type(os)):  # a module: only its public callables are forbidden
                rest = path[len(entry) + 1:].split(".")[0] if path != entry else ""
                member = getattr(target, rest, None) if rest else None
                if rest and not rest.startswith("_") and callable(member) and getattr(member, "__module__", None) == target.__name__:
                    return f"{entry}.{rest}"
                continue
            return entry
    return None


def static_findings(source: str, context: list[str], forbidden: tuple[str, ...]) -> list[str]:
    """What the static check refuses in one task cell's ``source``, as sentences.

    ``context`` holds the other code of the notebook (its imports define aliases).
    """
    try:
        tree = ast.parse(_plain_python(source))
    except SyntaxError as error:
        return [f"the cell is not valid Python ({error.msg}, line {error.lineno})"]
    trees = [tree]
    for other in context:
        try:
            trees.append(ast.parse(_plain_python(other)))
        except SyntaxError:
            pass
    aliases = _aliases(trees)
    found: list[str] = []

    def add(message: str) -> None:
        if message not in found:
            found.append(message)

    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in BANNED_CALLS:
            add(f"uses {node.id}()")
        elif isinstance(node, ast.Name) and node.id.startswith("__") and node.id.endswith("__") and node.id not in (
                "__name__", "__file__"):
            add(f"uses {node.id}")
        elif isinstance(node, ast.Attribute) and node.attr.startswith("__") and node.attr.endswith("__") and (
                node.attr not in ALLOWED_DUNDERS):
            add(f"uses the attribute {node.attr}")
        elif isinstance(node, ast.Attribute) and node.attr in BANNED_CALLS:
            add(f"uses {node.attr}()")
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for name in names:
                if any(name == m or name.startswith(m + ".") for m in BANNED_MODULES):
                    add(f"imports {name}")
            if isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names):
                add(f"imports * from {node.module}")
            if isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    hit = _is_forbidden(f"{node.module}.{alias.name}", forbidden)
                    if hit:
                        add(f"imports {hit}, which this task asks you to write yourself")
        if isinstance(node, ast.Attribute):
            path = _dotted(node, aliases)
            if path == "sys" or (path or "").startswith("sys."):
                if path.split(".")[1] in BANNED_SYS:
                    add(f"uses {path}")
        if isinstance(node, (ast.Attribute, ast.Name)):
            path = _dotted(node, aliases)
            hit = path and _is_forbidden(path, forbidden)
            if hit:
                add(f"uses {hit}, which this task asks you to write yourself")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr":
            if len(node.args) < 2 or not (isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)):
                add("uses getattr() with a computed name")
            else:
                base = _dotted(node.args[0], aliases)
                hit = base and _is_forbidden(f"{base}.{node.args[1].value}", forbidden)
                if hit:
                    add(f"uses {hit}, which this task asks you to write yourself")
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            for target in targets:
                while isinstance(target, ast.Subscript):
                    target = target.value
                if isinstance(target, ast.Attribute):
                    path = _dotted(target.value, aliases)
                    if path is not None:
                        add(f"assigns to {path}.{target.attr}: a submission may not change the libraries")
    return found


def _plain_python(source: str) -> str:
    """The cell as Python, with IPython's magics and shell escapes translated."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:  # pragma: no cover - IPython comes with the notebook tools
        return source
    return TransformerManager().transform_cell(source)


# --------------------------------------------------------------------------- the fresh run


@dataclass
class Verdicts:
    """Outcome of the independent check of one submission: ``failures[(task, group)]`` is the
    message for each group that failed; ``problem`` says why the whole run failed, if it did."""

    failures: dict[tuple[str, str], str] = field(default_factory=dict)
    problem: str = ""
    seconds: float = 0.0


def notebook_cells(notebook) -> tuple[list[dict], dict[str, str]]:
    """The cells the fresh run executes, in order (the notebook's locked import cells and the
    task cells), and the source of each task cell by task name."""
    cells: list[dict] = []
    tasks: dict[str, str] = {}
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or meta.get("grade"):
            continue
        if meta.get("solution"):
            cells.append({"name": meta.get("grade_id", "cell"), "source": cell.source})
            tasks[meta.get("grade_id", "cell")] = cell.source
        elif meta.get("locked"):
            cells.append({"name": meta.get("grade_id", "setup"), "source": cell.source})
    return cells, tasks


_REFERENCE_CACHE: dict[tuple[str, int], dict[str, dict]] = {}


def reference_observations(assignment: str, seed: int) -> dict[str, dict]:
    """Each task's probe run with the reference implementation, here (cached)."""
    key = (assignment, seed)
    if key not in _REFERENCE_CACHE:
        tasks = specification(assignment) or {}
        _REFERENCE_CACHE[key] = {name: task.probe(resolve(task.reference), seed) for name, task in tasks.items()}
    return _REFERENCE_CACHE[key]


class FreshRun:
    """:mod:`nnlab.verification.runner` running on one request (sandboxed unless opted out).

    Started as soon as the submitted cells are known, so that it runs while nbgrader executes
    the notebook; :meth:`finish` waits for it. A run nobody finished (the notebook's kernel
    died first) is stopped when the next one starts or when the grader exits.
    """

    _unfinished: set["FreshRun"] = set()

    def __init__(self, request: dict, wall: float):
        from nnlab import sandbox

        for stale in list(FreshRun._unfinished):
            stale.stop()
        self.wall = wall
        self.started = time.perf_counter()
        self.private = Path(tempfile.mkdtemp(prefix="nnlab-verify-"))
        (self.private / "work").mkdir()
        self.out = self.private / "work" / "observations"
        self.out.mkdir()
        (self.private / "request.json").write_text(json.dumps(request))
        argv = [sys.executable, "-m", "nnlab.verification.runner", str(self.private / "request.json"), str(self.out)]
        self.cgroup = None
        env = dict(os.environ)
        if sandbox.enabled():
            limits = sandbox.Limits.from_environment()
            self.cgroup = sandbox._process_cgroup(limits.processes)
            argv = sandbox.command(argv, self.private, limits, self.cgroup)
        else:
            env.update(HOME=str(self.private / "work"), TMPDIR=str(self.private / "work"), NNLAB_PROGRESS="0")
        self.process = subprocess.Popen(argv, cwd=self.private / "work", env=env, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        FreshRun._unfinished.add(self)

    def finish(self) -> str:
        """Wait for the run (at most ``wall`` seconds since it started); returns a problem ('' if none)."""
        problem = ""
        try:
            self.process.wait(timeout=max(0.0, self.wall - (time.perf_counter() - self.started)))
        except subprocess.TimeoutExpired:
            problem = f"the grader's own run of your code did not finish within {self.wall:.0f} s"
        finally:
            self.stop(remove=False)
        if not problem and self.process.returncode != 0 and not (self.out / "done").exists():
            problem = f"the grader's own run of your code stopped (exit status {self.process.returncode})"
        return problem

    def stop(self, remove: bool = True) -> None:
        from nnlab import sandbox

        FreshRun._unfinished.discard(self)
        sandbox.kill_group(self.process)
        if self.cgroup is not None:
            sandbox.kill_cgroup(self.cgroup)
            self.cgroup = None
        if remove:
            shutil.rmtree(self.private, ignore_errors=True)


@atexit.register
def _stop_unfinished_runs() -> None:
    for run in list(FreshRun._unfinished):
        run.stop()


@dataclass
class PendingCheck:
    """An independent check whose fresh run was started (:func:`start`); :meth:`finish` judges it."""

    assignment: str
    seed: int
    cells: list[dict]  # what the fresh run executes
    sources: dict[str, str]
    static: dict[str, list[str]]
    run: FreshRun | None
    started: float

    def finish(self) -> Verdicts:
        import torch

        verdicts = Verdicts()
        tasks = specification(self.assignment)
        if not tasks or self.run is None:
            return verdicts
        problem = self.run.finish()
        expected = reference_observations(self.assignment, self.seed)
        try:
            for name, task in tasks.items():
                for group in GROUPS:
                    if group not in expected[name]:
                        continue
                    message = ""
                    if name not in self.sources:
                        message = f"the notebook has no cell for {name}"
                    elif self.static[name]:
                        message = f"the cell of {name} " + "; ".join(self.static[name]) + ", which the grader does not accept"
                    elif problem:
                        message = problem
                    else:
                        message = _group_message(self.run.out, name, group, expected[name][group], task, torch)
                    if message:
                        verdicts.failures[(name, group)] = message
        finally:
            shutil.rmtree(self.run.private, ignore_errors=True)
        verdicts.problem = problem
        verdicts.seconds = time.perf_counter() - self.started
        return verdicts


def start(assignment: str, notebook, seed: int, cell_timeout: float = 120.0) -> PendingCheck:
    """Start the independent check of one submitted notebook: the static check now, the fresh
    run in the background (it needs only the submitted cells, not the notebook's outputs)."""
    started = time.perf_counter()
    tasks = specification(assignment) or {}
    cells, sources = notebook_cells(notebook)
    context = [c["source"] for c in cells]
    static = {name: static_findings(sources[name], context, task.forbidden) if name in sources else []
              for name, task in tasks.items()}
    run = None
    if tasks:
        request = {"assignment": assignment, "cells": cells, "seed": seed, "cell_timeout": cell_timeout}
        run = FreshRun(request, wall=cell_timeout * 2 + 60)
    return PendingCheck(assignment, seed, cells, sources, static, run, started)


def verify(assignment: str, notebook, seed: int, cell_timeout: float = 120.0) -> Verdicts:
    """The independent check of one submitted notebook (see the module docstring)."""
    return start(assignment, notebook, seed, cell_timeout).finish()


def _group_message(out: Path, name: str, group: str, expected: list, task: Task, torch) -> str:
    error = out / f"{name}.error"
    if error.exists():
        return error.read_text()[:500]
    path = out / f"{name}.pt"
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
