"""The fresh run of the independent check, inside the sandbox (started by :mod:`coursegrader.check.fresh_run`).

    python -m coursegrader.check.runner REQUEST.json OUT/

Executes the notebook's import cells and the submission's task cells in a new interpreter,
after replacing everything the tasks must not call by tripwires; then runs each task's probe
with the student's function or class (every other task bound to its reference) and writes
``OUT/<task>.pt`` (the observations) or ``OUT/<task>.error`` (what went wrong). Nothing the
student's code prints is kept.
"""
from __future__ import annotations

import os
import signal
import sys
import types

from nnlab import grading

from coursegrader import contracts
from coursegrader.check.static import plain_python
from coursegrader.check.tasks import resolve, specification

# Bound before any student code runs: the runner does not depend on names it could rebind.
_open, _isinstance, _type = open, isinstance, type
DelegationError = grading.DelegationError


class Overtime(BaseException):
    """A cell or probe ran past its time (a BaseException: a bare `except Exception` does not catch it)."""


def _called_by_student(frame, args) -> bool:
    return frame is not None and frame.f_code.co_filename.startswith(contracts.STUDENT_FILE)


def _called_by_student_or_on_student_object(frame, args) -> bool:
    """For methods of forbidden classes: also refuse when ``self`` is of a class the student wrote."""
    return _called_by_student(frame, args) or bool(args and _type(args[0]).__module__ == contracts.STUDENT_MODULE)


def _tripwire(original, dotted: str, method: bool = False):
    # The task is not known yet (tripwires go in before any cell runs): the probe names it.
    refuses = _called_by_student_or_on_student_object if method else _called_by_student
    return grading.tripwire(original, dotted, "your code", refuses=refuses)


def install_tripwires(forbidden: set[str]) -> list[type]:
    """Replace every forbidden function (everywhere a loaded module holds it) by a tripwire;
    the methods of forbidden classes trip for student callers and student subclasses.
    Returns the forbidden classes."""
    functions: dict[int, tuple[object, str]] = {}
    classes: list[type] = []
    for entry in sorted(forbidden):
        try:
            target = resolve(entry)
        except (ImportError, AttributeError):
            continue
        if _isinstance(target, types.ModuleType):
            members = [(f"{entry}.{n}", v) for n, v in vars(target).items()
                       if not n.startswith("_") and callable(v) and getattr(v, "__module__", None) == target.__name__]
        else:
            members = [(entry, target)]
        for dotted, value in members:
            if _isinstance(value, type):
                if value.__module__.startswith(("torch.", "nnlab.")) or value.__module__ == "torch":
                    classes.append(value)
            elif callable(value):
                functions.setdefault(id(value), (value, dotted))
    replacements = {key: _tripwire(value, dotted) for key, (value, dotted) in functions.items()}
    for module in list(sys.modules.values()):
        namespace = getattr(module, "__dict__", None)
        if not _isinstance(namespace, dict):
            continue
        for name, value in list(namespace.items()):
            if id(value) in replacements and functions[id(value)][0] is value:
                try:
                    setattr(module, name, replacements[id(value)])
                except (AttributeError, TypeError):
                    pass
    for cls in classes:
        for name, value in list(vars(cls).items()):
            if _isinstance(value, types.FunctionType):
                setattr(cls, name, _tripwire(value, f"{cls.__module__}.{cls.__qualname__}.{name}", method=True))
    return classes


def _alarm(seconds: float):
    def expire(signum, frame):
        raise Overtime()

    signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)


def _quiet() -> None:
    """What the student's code prints goes nowhere (a flood cannot fill a disk or a log)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    sys.stdout = sys.stderr = _open(os.devnull, "w")


def main(argv: list[str]) -> int:
    request_path, out = argv
    with _open(request_path) as handle:
        request = contracts.FreshRunRequest.from_json(handle.read())
    _quiet()
    os.environ.setdefault("MPLBACKEND", "agg")
    import torch

    torch.set_num_threads(1)
    save = torch.save
    tasks = specification(request.assignment) or {}
    references = {name: resolve(task.reference) for name, task in tasks.items()}
    forbidden = {entry for task in tasks.values() for entry in task.forbidden}
    forbidden_classes = install_tripwires(forbidden)
    namespace: dict = {"__name__": contracts.STUDENT_MODULE, "__builtins__": __builtins__}
    sys.modules[contracts.STUDENT_MODULE] = types.ModuleType(contracts.STUDENT_MODULE)
    timeout = request.cell_timeout
    cell_errors: dict[str, str] = {}
    for cell in request.cells:
        try:
            code = compile(plain_python(cell["source"]), f"{contracts.STUDENT_FILE}{cell['name']}>", "exec")
            _alarm(timeout)
            exec(code, namespace)  # noqa: S102 - the student's code, in the sandbox
        except Overtime:
            cell_errors[cell["name"]] = f"the cell {cell['name']} ran longer than {timeout:.0f} s"
        except BaseException as error:  # noqa: BLE001 - the rest of the notebook still runs
            cell_errors[cell["name"]] = f"the cell {cell['name']} raised {_type(error).__name__}"
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    students = {name: namespace.get(name) for name in tasks}
    for name, task in tasks.items():
        impl = students[name]
        message = ""
        if impl is None:
            message = f"{name} is not defined after running your cells"
            if name in cell_errors:
                message += f" ({cell_errors[name]})"
        elif _isinstance(impl, type) and any(issubclass(impl, cls) for cls in forbidden_classes):
            message = f"{name} inherits from a class this task asks you to write yourself"
        if not message:
            for other, reference in references.items():
                namespace[other] = reference if other != name else impl
            try:
                _alarm(timeout)
                observations = task.probe(impl, request.seed)
                signal.setitimer(signal.ITIMER_REAL, 0)
                save(observations, os.path.join(out, contracts.observations_file(name)))
            except Overtime:
                message = f"{name} ran longer than {timeout:.0f} s on the grader's inputs"
            except DelegationError as error:
                message = f"{name}: {error}"
            except BaseException as error:  # noqa: BLE001 - any failure is this task's alone
                message = f"{name} failed on the grader's inputs: {_type(error).__name__}: {str(error)[:200]}"
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        if message:
            with _open(os.path.join(out, contracts.error_file(name)), "w") as handle:
                handle.write(message)
    with _open(os.path.join(out, contracts.DONE_FILE), "w") as handle:
        handle.write("done")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
