"""The fresh run of the independent check, inside the sandbox (started by :mod:`coursegrader.check.fresh_run`).

    python -m coursegrader.check.runner SOCKET_FD   < request.json

(or :func:`run`, in a process forked by :mod:`coursegrader.check.zygote` for each submission).

Reads its :class:`~coursegrader.contracts.FreshRunRequest` from standard input (then closed:
the student's code cannot read it again): the cells and the names of the tasks, never a seed
or a probe key. It replaces everything the tasks must not call by tripwires, executes the
notebook's import cells and the submission's task cells in a new interpreter, says which tasks
are defined, then serves the grader's probes over the socket ``SOCKET_FD``
(:class:`Server`): the probes run in the grader's process and call the student's functions
here, one call at a time, with concrete arguments (:mod:`coursegrader.check.remote`). Nothing
the student's code prints is kept.

While a task is probed, the tasks it builds on (``Task.lends``) are the references; every
other name keeps the student's own version. A tripwire refuses any call made while student
code is on the stack, however it got there (through ``map``, a decorator, a captured default),
except from inside a lent reference; a refusal the student's code swallows still ends the task.
"""
from __future__ import annotations

import builtins
import itertools
import operator
import os
import signal
import socket
import sys
import types

from nnlab import grading

from coursegrader import contracts
from coursegrader.check import wire
from coursegrader.check.static import plain_python
from coursegrader.check.tasks import resolve, specification

# Bound before any student code runs: the runner does not depend on names it could rebind.
_open, _isinstance, _type, _write, _getframe = open, isinstance, type, os.write, sys._getframe
DelegationError = grading.DelegationError
#: Code objects of the references lent to the task being probed: their own calls are not the student's.
_LENT_CODE: set = set()
#: What the tripwires refused during the current request: a delegation the student's code
#: caught and swallowed still ends the task.
DELEGATIONS: list[str] = []
#: What the task being probed must not call (its entries of ``Task.forbidden``): tripwires are
#: installed once for every task of the assignment, and one task may need what another may not
#: call (autograd, say). ``None`` (while the cells run, between tasks): every tripwire refuses.
TASK_FORBIDDEN: list = [None]
torch_autograd_grad = grading.torch.autograd.grad  # bound before any student code runs


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


def _tripwire(original, dotted: str, entries: frozenset, method: bool = False):
    # The task is not known yet (tripwires go in before any cell runs): the probe names it.
    check = _called_by_student_or_on_student_object if method else _called_by_student

    def refuses(frame, args) -> bool:
        forbidden_now = TASK_FORBIDDEN[0]
        if forbidden_now is not None and not (entries & forbidden_now):
            return False  # forbidden to another task of the assignment, not to this one
        if check(frame, args):
            DELEGATIONS.append(grading.delegation_message("your code", dotted))
            return True
        return False

    return grading.tripwire(original, dotted, "your code", refuses=refuses)


def delegation_text() -> str:
    return DELEGATIONS[0] if DELEGATIONS else "your code called what this task asks you to write"


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
    entries_of: dict[int, set[str]] = {}  # the entries of `forbidden` that name each function or class
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
            entries_of.setdefault(id(value), set()).add(entry)
            if _isinstance(value, type):
                if (value.__module__.startswith(("torch.", "nnlab.")) or value.__module__ == "torch") and value not in classes:
                    classes.append(value)
            elif callable(value):
                functions.setdefault(id(value), (value, dotted))
    replacements = {key: _tripwire(value, dotted, frozenset(entries_of[key])) for key, (value, dotted) in functions.items()}
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
                setattr(cls, name, _tripwire(value, f"{cls.__module__}.{cls.__qualname__}.{name}", frozenset(entries_of[id(cls)]),
                                             method=True))
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
    try:
        run(_read_request(), int(argv[0]))
    finally:
        os._exit(0)  # no atexit hook of the student's runs after the run


class Server:
    """The fresh run's end of the wire (:mod:`coursegrader.check.wire`): it calls the student's
    objects as the grader's probes ask and answers with what happened.

    Everything the student's code hands back that is not plain data or a mirrored object stays
    here as a handle; a function of the grader's (a closure, a hook) is a stub that calls back.
    """

    def __init__(self, channel: wire.Channel, namespace: dict, students: dict, problems: dict[str, str],
                 lends: dict[str, dict], references: dict[str, object], forbidden: dict[str, set[str]] | None = None):
        self.channel = channel
        self.forbidden = forbidden or {}
        self.namespace = namespace
        self.students = students
        self.problems = problems
        self.lends = lends
        self.references = references
        self.task = ""
        self._reset()

    def _reset(self) -> None:
        self.mirror = wire.Mirror(trusted=False, peer=self)
        self.handles: dict[int, object] = {}
        self.handle_ids: dict[int, int] = {}
        self.stubs: dict[int, object] = {}
        self.stub_ids: dict[int, int] = {}

    # ---- the peer interface of the mirror
    def outside(self, value: object) -> tuple:
        key = self.stub_ids.get(id(value))
        if key is not None and self.stubs.get(key) is value:
            return ("c", key)
        handle = self.handle_ids.get(id(value))
        if handle is None or self.handles.get(handle) is not value:
            handle = len(self.handles) + 1
            self.handles[handle] = value
            self.handle_ids[id(value)] = handle
        cls = _type(value)
        mro = [f"{c.__module__}.{c.__qualname__}" for c in getattr(cls, "__mro__", ())]
        return ("h", handle, {"name": getattr(cls, "__qualname__", "object"), "mro": mro})

    def inside(self, value: tuple) -> object:
        if value[0] == "h" and value[1] in self.handles:
            return self.handles[value[1]]
        if value[0] == "c" and _type(value[1]) is int:
            stub = self.stubs.get(value[1])
            if stub is None:
                stub = self.stubs[value[1]] = self._stub(value[1])
                self.stub_ids[id(stub)] = value[1]
            return stub
        raise wire.WireError("a value of an unknown kind")

    def _stub(self, key: int):
        server = self

        def callback(*args, **kwargs):
            return server.call_back(callback, args, kwargs)

        return callback

    def call_back(self, stub, args, kwargs):
        """The student's code called a function of the grader's: ask for it, serve until it answers."""
        self.channel.send(("callback", self.mirror.encode((stub, args, kwargs)), self.mirror.outgoing(), wire.context()))
        return self.serve(waiting=True)

    # ---- the loop
    def _answer(self, action) -> None:
        del DELEGATIONS[:]
        try:
            result = action()
            if DELEGATIONS:
                raise DelegationError(DELEGATIONS[0])
            self.channel.send(("value", self.mirror.encode(result), self.mirror.outgoing(), wire.context()))
        except DelegationError as error:
            self.channel.send(("abort", f"{self.task}: {error}"))
        except wire.WireError as error:
            self.channel.send(("abort", f"{self.task}: the grader could not read the answer of your code ({error})"))
        except BaseException as error:  # noqa: BLE001 - what the student's code raised is the answer
            if DELEGATIONS:
                self.channel.send(("abort", f"{self.task}: {delegation_text()}"))
            else:
                self.channel.send(("raised", wire.builtin_name(error), self.mirror.outgoing(), wire.context()))

    def _begin(self, task: object) -> None:
        if _type(task) is not str or task not in self.students:
            self.channel.send(("error", "the grader asked for a task this assignment does not have"))
            return
        if self.problems.get(task):
            self.channel.send(("error", self.problems[task]))
            return
        self.task = task
        TASK_FORBIDDEN[0] = frozenset(self.forbidden[task]) if task in self.forbidden else None
        self.namespace.update(self.students)
        _LENT_CODE.clear()
        for other, reference in self.lends.get(task, {}).items():
            self.namespace[other] = reference
            _LENT_CODE.update(_code_of(reference))
        self._reset()
        impl = self.mirror.encode(self.students[task])
        self.channel.send(("ready", impl, self.mirror.outgoing(), wire.context()))

    def serve(self, waiting: bool = False):
        """Answer the grader's requests; with ``waiting``, return (or raise) its answer to a callback."""
        while True:
            message = self.channel.receive()
            kind = message[0] if _type(message) is tuple and message else None
            if kind == "bye" and not waiting:
                return None
            if kind == "begin" and not waiting and len(message) == 2:
                self._begin(message[1])
                continue
            if kind == "end" and not waiting:
                TASK_FORBIDDEN[0] = None
                self.namespace.update(self.students)
                _LENT_CODE.clear()
                self._reset()
                self.channel.send(("ended",))
                continue
            if _type(message) is not tuple or len(message) != 4:
                raise wire.WireError("a request that is not one")
            _, body, sync, ctx = message
            self.mirror.incoming(sync)
            wire.enter(ctx)
            request = self.mirror.decode(body)
            if kind == "reply" and waiting:
                return request
            if kind == "raise" and waiting:
                raise remote_exception(request)
            if kind == "call":
                target, args, kwargs = request
                self._answer(lambda: target(*args, **kwargs))
            elif kind == "getattr":
                target, name = request
                self._answer(lambda: getattr(target, name))
            elif kind == "setattr":
                target, name, value = request
                self._answer(lambda: setattr(target, name, value))
            elif kind == "op":
                target, op, args = request
                self._answer(lambda: _operation(target, op, args))
            elif kind == "grad":
                wire_id, input_ids, upstream = request
                output = self.mirror.get(wire_id)
                inputs = [self.mirror.get(i) for i in input_ids]
                self._answer(lambda: torch_autograd_grad(output, inputs, upstream, retain_graph=True, allow_unused=True))
            else:
                raise wire.WireError(f"a request of an unknown kind {kind!r:.40}")


def remote_exception(name: object) -> BaseException:
    cls = getattr(builtins, name, None) if _type(name) is str else None
    if not (_isinstance(cls, type) and issubclass(cls, Exception)):
        cls = RuntimeError
    try:
        return cls("raised by the grader's function")
    except Exception:  # noqa: BLE001
        return cls.__new__(cls)


def _operation(target, op: str, args: tuple):
    if op == "iter":
        items = list(itertools.islice(iter(target), wire.MAX_ITEMS + 1))
        if len(items) > wire.MAX_ITEMS:
            raise OverflowError("more items than the grader reads")
        return items
    if op == "len":
        return len(target)
    if op == "bool":
        return bool(target)
    if op == "float":
        return float(target)
    if op == "int":
        return int(target)
    if op == "index":
        return operator.index(target)
    if op == "getitem":
        return target[args[0]]
    if op == "contains":
        return args[0] in target
    raise TypeError(f"unsupported operation {op!r:.40}")


def run(request: contracts.FreshRunRequest, results: int) -> None:
    """Execute the request's cells, then answer the grader's probes over the socket ``results``."""
    _quiet()
    os.environ.setdefault("MPLBACKEND", "agg")
    import torch

    torch.set_num_threads(1)
    channel = wire.Channel(socket.socket(fileno=results))
    tasks = {name: task for name, task in (specification(request.assignment) or {}).items() if name in request.tasks}
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
    del DELEGATIONS[:]  # a tripwire a cell tripped at import time is not a task's probe
    students = {name: namespace.get(name) for name in tasks}
    problems: dict[str, str] = {}
    for name in tasks:
        impl = students[name]
        if impl is None:
            problems[name] = f"{name} is not defined after running your cells" + (
                f" ({cell_errors[name]})" if name in cell_errors else "")
        elif _isinstance(impl, type) and any(issubclass(impl, cls) for cls in forbidden_classes):
            problems[name] = f"{name} inherits from a class this task asks you to write yourself"
    server = Server(channel, namespace, students, problems, {name: {other: references[other] for other in task.lends}
                                                              for name, task in tasks.items()}, references,
                    {name: set(task.forbidden) for name, task in tasks.items()})
    channel.send(("hello", problems))
    server.serve()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
