"""A warm fresh-run process, inside the sandbox: it forks one child per submission.

    python -m coursegrader.check.zygote CONTROL_FD

Starting a Python process and importing torch, nnlab and the probes costs more than the
fresh run of a light notebook itself. This process pays that once per grading worker: it
imports everything, says ``ready``, then for each ``run`` command forks a child that runs
:func:`coursegrader.check.runner.run` on the request. The grader (:class:`~coursegrader.check.fresh_run.Zygote`)
talks to it over a Unix socket:

* ``run`` arrives with two file descriptors: the request's pipe (read by the child only:
  the zygote never reads a request, so no submission's cells or keys ever lie in the
  memory the next child inherits) and the results pipe. Before forking, every process
  left in the sandbox but this one is killed and the scratch folder emptied: nothing of
  one submission survives into the next. Answer: ``started PID``, later ``exited STATUS``;
* ``clean``: the same cleaning, answered ``clean`` (the grader sends it when a run ends or
  overruns its time).

The zygote is not dumpable (``PR_SET_DUMPABLE``): a child cannot read or write its memory
through ``ptrace`` or ``/proc``. A child can still signal it (same user); the grader then
sees the zygote stop or stall, stops the whole sandbox and starts another.
"""
from __future__ import annotations

import importlib
import os
import pkgutil
import select
import shutil
import signal
import socket
import sys
import time
from pathlib import Path

PR_SET_DUMPABLE = 4


def _not_dumpable() -> None:
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _kill_everyone_else() -> None:
    """SIGKILL every process of the sandbox's PID namespace but its init (1) and this one."""
    me = os.getpid()
    for _ in range(50):
        others = [int(name) for name in os.listdir("/proc") if name.isdigit() and int(name) not in (1, me)]
        if not others:
            break
        for pid in others:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.005)  # let the kills land before reaping and looking again
        while True:  # reap this process's own children
            try:
                if os.waitpid(-1, os.WNOHANG) == (0, 0):
                    break
            except ChildProcessError:
                break


def _fresh_scratch(scratch: Path) -> None:
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()


def _child(control: socket.socket, request_fd: int, results_fd: int, scratch: Path) -> None:
    """In the forked child: a new session in a clean folder, then the run. Never returns."""
    status = 0
    try:
        control.close()
        os.setsid()
        os.chdir(scratch)
        for name in ("HOME", "TMPDIR", "MPLCONFIGDIR"):
            os.environ[name] = str(scratch)
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(scratch / ".torchinductor")
        os.environ["TRITON_CACHE_DIR"] = str(scratch / ".triton")
        os.environ["XDG_CACHE_HOME"] = str(scratch / ".cache")
        from coursegrader.check import runner

        request = runner._read_request(request_fd)
        os.close(request_fd)
        runner.run(request, results_fd)
    except BaseException:  # noqa: BLE001 - the grader sees no DONE frame and says the run stopped
        status = 1
    finally:
        os._exit(status)  # no atexit hook of the student's runs after the run


def _send(control: socket.socket, line: str) -> None:
    control.sendall(line.encode() + b"\n")


def main(argv: list[str]) -> int:
    control = socket.socket(fileno=int(argv[0]))
    scratch = Path.cwd() / "run"
    os.environ.setdefault("MPLBACKEND", "agg")
    import torch
    import torch._dynamo  # noqa: F401 - torch's optimizers load it on first use (about a second): once here, for every child

    import coursegrader.check.probes as probes
    from coursegrader.check import runner  # noqa: F401 - imported once here, inherited by every child

    torch.set_num_threads(1)
    for module in pkgutil.iter_modules(probes.__path__):
        importlib.import_module(f"{probes.__name__}.{module.name}")
    _not_dumpable()
    _send(control, "ready")
    child = None
    while True:
        readable, _, _ = select.select([control], [], [], 0.02)
        if child is not None:
            try:
                pid, status = os.waitpid(child, os.WNOHANG)
            except ChildProcessError:
                pid, status = child, 0
            if pid == child:
                _send(control, f"exited {os.waitstatus_to_exitcode(status)}")
                child = None
        if not readable:
            continue
        message, fds, _, _ = socket.recv_fds(control, 64, 2)
        if not message:
            break  # the grader is gone
        for command in message.decode(errors="replace").split():
            if command == "run" and len(fds) == 2:
                _kill_everyone_else()
                _fresh_scratch(scratch)
                request_fd, results_fd = fds
                fds = []
                child = os.fork()
                if child == 0:
                    _child(control, request_fd, results_fd, scratch)
                os.close(request_fd)
                os.close(results_fd)
                _send(control, f"started {child}")
            elif command == "clean":
                _kill_everyone_else()
                _fresh_scratch(scratch)
                child = None
                _send(control, "clean")
        for fd in fds:
            os.close(fd)
    _kill_everyone_else()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
