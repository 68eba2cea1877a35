"""The fresh run of the independent check, inside the sandbox (started by :mod:`coursegrader.check.fresh_run`).

    python -m coursegrader.check.runner RESULTS_FD   < request.json

(or :func:`run`, in a process forked by :mod:`coursegrader.check.zygote` for each submission).

Reads its :class:`~coursegrader.contracts.FreshRunRequest` from standard input (then closed:
the student's code cannot read it again), replaces everything the tasks must not call by
tripwires, executes the notebook's import cells and the submission's task cells in a new
interpreter, then runs each task's probe with the student's function or class and sends one
frame per task through the pipe ``RESULTS_FD`` (:func:`coursegrader.contracts.frame`):
the observations, or what went wrong. Nothing the student's code prints is kept.

While a task is probed, the tasks it builds on (``Task.lends``) are the references; every
other name keeps the student's own version. A tripwire refuses any call made while student
code is on the stack, however it got there (through ``map``, a decorator, a captured default),
except from inside a lent reference.
"""
from __future__ import annotations

import io
import os
import signal
import sys
import types

from nnlab import grading

from coursegrader import contracts
from coursegrader.check.static import plain_python
from coursegrader.check.tasks import resolve, specification

# Bound before any student code runs: the runner does not depend on names it could rebind.
_open, _isinstance, _type, _write, _getframe = open, isinstance, type, os.write, sys._getframe
DelegationError = grading.DelegationError
#: Code objects of the references lent to the task being probed: their own calls are not the student's.
_LENT_CODE: set = set()


class Overtime(BaseException):
    """A cell or probe ran past its time (a BaseException: a bare `except Exception` does not catch it)."""


def _student_on_stack(frame) -> bool:
    """Whether student code is anywhere below ``frame`` on the stack (before a lent reference)."""
    while frame is not None:
        code = frame.f_code
        if code in _LENT_CODE:
            return False
        if code.co_filename.startswith(contracts.STUDENT_FILE):
            return True
        frame = frame.f_back
    return False


def _called_by_student(frame, args) -> bool:
    return _student_on_stack(frame)


def _called_by_student_or_on_student_object(frame, args) -> bool:
    """For methods of forbidden classes: also refuse when ``self`` is of a class the student wrote."""
    return _student_on_stack(frame) or bool(args and _type(args[0]).__module__ == contracts.STUDENT_MODULE)


def _tripwire(original, dotted: str, method: bool = False):
    # The task is not known yet (tripwires go in before any cell runs): the probe names it.
    refuses = _called_by_student_or_on_student_object if method else _called_by_student
    return grading.tripwire(original, dotted, "your code", refuses=refuses)


def _code_of(obj) -> set:
    """Every code object of a function or class (methods, nested functions, comprehensions)."""
    functions = [v for v in vars(obj).values() if _isinstance(v, (types.FunctionType, staticmethod, classmethod, property))] \
        if _isinstance(obj, type) else [obj]
    codes: set = set()
    for function in functions:
        for part in ((function.fget, function.fset) if _isinstance(function, property) else (function,)):
            part = getattr(part, "__func__", part)
            if _isinstance(part, types.FunctionType):
                codes |= set(grading._code_objects(part.__code__))
    return codes


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


def _send(descriptor: int, kind: int, task: str, payload: bytes) -> None:
    data = memoryview(contracts.frame(kind, task, payload))
    while data:
        data = data[_write(descriptor, data):]


def _read_request(descriptor: int = 0) -> contracts.FreshRunRequest:
    """The request, read to its end from ``descriptor``, which then reads nothing more."""
    chunks = []
    while chunk := os.read(descriptor, 1 << 20):
        chunks.append(chunk)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, descriptor)  # the request is gone before any student code runs
    os.close(devnull)
    return contracts.FreshRunRequest.from_json(b"".join(chunks).decode())


def main(argv: list[str]) -> int:
    run(_read_request(), int(argv[0]))
    return 0


def run(request: contracts.FreshRunRequest, results: int) -> None:
    """Execute the request's cells and probe its tasks; frames go to the descriptor ``results``."""
    _quiet()
    os.environ.setdefault("MPLBACKEND", "agg")
    import torch

    torch.set_num_threads(1)
    save = torch.save
    # the tasks the request has keys for (every task of the assignment, when the grader asks)
    tasks = {name: task for name, task in (specification(request.assignment) or {}).items() if name in request.keys}
    lent = {other for task in tasks.values() for other in task.lends}
    references = {name: resolve(tasks[name].reference) for name in lent}
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
            namespace.update(students)
            _LENT_CODE.clear()
            for other in task.lends:
                namespace[other] = references[other]
                _LENT_CODE.update(_code_of(references[other]))
            try:
                _alarm(timeout)
                observations = task.probe(impl, request.keys[name])
                signal.setitimer(signal.ITIMER_REAL, 0)
                buffer = io.BytesIO()
                save(observations, buffer)
                _send(results, contracts.OBSERVATIONS, name, buffer.getvalue())
            except Overtime:
                message = f"{name} ran longer than {timeout:.0f} s on the grader's inputs"
            except DelegationError as error:
                message = f"{name}: {error}"
            except BaseException as error:  # noqa: BLE001 - any failure is this task's alone
                message = f"{name} failed on the grader's inputs: {_type(error).__name__}: {str(error)[:200]}"
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
                _LENT_CODE.clear()
        if message:
            _send(results, contracts.ERROR, name, message.encode()[:contracts.MAX_ERROR_BYTES])
    _send(results, contracts.DONE, "", b"")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
