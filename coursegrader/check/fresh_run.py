"""The fresh run, seen from the grader: a new sandboxed process runs the submitted cells and the probes.

The process itself is :mod:`coursegrader.check.runner`; this module starts it on a
:class:`~coursegrader.contracts.FreshRunRequest` (written to its standard input), reads what it
sends back through a pipe (:class:`Results`: bounded frames, nothing after the last), waits for
it, and cleans up after it. Nothing the run leaves in its folder is ever read.
"""
from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from coursegrader import contracts, sandbox


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


@dataclass
class Results:
    """What a fresh run sent back: each task's observations (``torch.save`` bytes, unread) or
    error text; ``refused`` says, by task, why a frame was not accepted, ``problem`` why the
    reading stopped early; ``done`` whether the run said it reached its end."""

    observations: dict[str, bytes] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)
    problem: str = ""
    done: bool = False


def _read_exactly(stream, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _skip(stream, size: int) -> bool:
    """Read and drop ``size`` bytes (in bounded chunks); False at the end of the stream."""
    while size > 0:
        chunk = stream.read(min(size, 1 << 20))
        if not chunk:
            return False
        size -= len(chunk)
    return True


def read_results(stream, tasks: set[str]) -> Results:
    """Read frames from ``stream`` until the run's DONE frame, the end of the stream, or a frame
    the grader does not accept; each frame is checked against its limit before it is read."""
    results = Results()
    limits = {contracts.OBSERVATIONS: contracts.MAX_OBSERVATION_BYTES, contracts.ERROR: contracts.MAX_ERROR_BYTES}
    while True:
        header = _read_exactly(stream, contracts.FRAME_HEADER.size)
        if header is None:
            return results
        kind, name_length, length = contracts.FRAME_HEADER.unpack(header)
        if kind == contracts.DONE and name_length == 0 and length == 0:
            results.done = True
            return results
        if kind not in limits or name_length > contracts.MAX_TASK_NAME:
            results.problem = "the grader's own run of your code sent something that is not a result"
            return results
        name = (_read_exactly(stream, name_length) or b"").decode(errors="replace")
        if name not in tasks:
            results.problem = "the grader's own run of your code sent a result for no task of this assignment"
            return results
        if length > limits[kind]:
            results.refused[name] = (f"{name} sent {length} bytes of results, more than the "
                                     f"{limits[kind]} the grader reads")
            results.observations.pop(name, None)
            results.errors.pop(name, None)
            if not _skip(stream, length):
                return results
            continue
        payload = _read_exactly(stream, length)
        if payload is None:
            return results
        if name in results.observations or name in results.errors or name in results.refused:
            # Only the run's own frame may come back: a second one was written by the student's code.
            results.refused[name] = f"more than one result came back for {name}, which the grader does not accept"
            results.observations.pop(name, None)
            results.errors.pop(name, None)
        elif kind == contracts.OBSERVATIONS:
            results.observations[name] = payload
        else:
            results.errors[name] = payload.decode(errors="replace")[:500]


class Zygote:
    """The grader's side of :mod:`coursegrader.check.zygote`: one warm sandbox per grading
    process, started on first use, that forks a fresh run per submission (saving the start-up
    of Python and torch each time). A zygote that stops or stalls is stopped as a whole
    (its sandbox and cgroup) and the next run starts another."""

    _shared: "Zygote | None" = None
    READY_SECONDS = 120.0
    ANSWER_SECONDS = 30.0

    def __init__(self) -> None:
        self.private = Path(tempfile.mkdtemp(prefix="nnlab-zygote-"))
        (self.private / "work").mkdir()
        self.control, theirs = socket.socketpair()
        self._buffer = b""
        limits = sandbox.Limits.from_environment()
        self.cgroup = sandbox.process_cgroup(limits)
        argv = sandbox.command([sys.executable, "-m", "coursegrader.check.zygote", str(theirs.fileno())],
                               self.private, limits, self.cgroup)
        try:
            self.process = subprocess.Popen(argv, cwd=self.private / "work", stdin=subprocess.DEVNULL,
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                            start_new_session=True, pass_fds=(theirs.fileno(),))
        finally:
            theirs.close()
        self.ready = self._expect("ready", self.READY_SECONDS) is not None
        if not self.ready:
            self.stop()

    @classmethod
    def shared(cls) -> "Zygote | None":
        """This process's zygote, started (again) if there is none alive; None if it cannot start."""
        if cls._shared is not None and not cls._shared.alive():
            cls._shared.stop()
            cls._shared = None
        if cls._shared is None:
            zygote = cls()
            cls._shared = zygote if zygote.ready else None
        return cls._shared

    def alive(self) -> bool:
        return self.ready and self.process.poll() is None

    def _line(self, seconds: float) -> str | None:
        deadline = time.monotonic() + seconds
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                self.control.settimeout(left)
                chunk = self.control.recv(4096)
            except (TimeoutError, OSError):
                return None
            if not chunk:
                return None
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.decode(errors="replace")

    def _expect(self, word: str, seconds: float) -> str | None:
        """The next answer that starts with ``word`` (earlier ones are stale: an ``exited`` of a
        run already cleaned), or None after ``seconds`` or if the zygote is gone."""
        deadline = time.monotonic() + seconds
        while True:
            line = self._line(max(0.0, deadline - time.monotonic()))
            if line is None:
                return None
            if line.split()[:1] == [word]:
                return line

    def start(self, request: bytes, results: int) -> bool:
        """Fork a run of ``request`` whose frames go to the descriptor ``results``."""
        request_read, request_write = os.pipe()
        try:
            socket.send_fds(self.control, [b"run\n"], [request_read, results])
        except OSError:
            os.close(request_write)
            return False
        finally:
            os.close(request_read)

        def write() -> None:
            try:
                view = memoryview(request)
                while view:
                    view = view[os.write(request_write, view):]
            except OSError:
                pass
            finally:
                os.close(request_write)

        threading.Thread(target=write, daemon=True, name="fresh-run-request").start()
        return self._expect("started", self.ANSWER_SECONDS) is not None

    def wait(self, seconds: float) -> int | None:
        """The run's exit status, or None if it did not end within ``seconds`` (or the zygote stopped)."""
        line = self._expect("exited", seconds)
        return None if line is None else int(line.split()[1])

    def clean(self) -> None:
        """Kill whatever the last run left and empty its scratch space; a zygote that does not
        answer is stopped (the next run starts another)."""
        try:
            self.control.sendall(b"clean\n")
            answered = self._expect("clean", self.ANSWER_SECONDS) is not None
        except OSError:
            answered = False
        if not answered:
            self.stop()

    def stop(self) -> None:
        if Zygote._shared is self:
            Zygote._shared = None
        self.ready = False
        if getattr(self, "process", None) is not None:
            sandbox.kill_group(self.process)
        if self.cgroup is not None:
            sandbox.kill_cgroup(self.cgroup)
            self.cgroup = None
        self.control.close()
        shutil.rmtree(self.private, ignore_errors=True)


class FreshRun:
    """:mod:`coursegrader.check.runner` running on one request: forked by the warm
    :class:`Zygote` when sandboxed, else (``NNLAB_SANDBOX=off``, or no zygote could start)
    a process of its own.

    Started as soon as the submitted cells are known, so that it runs while nbgrader executes
    the notebook; :meth:`finish` waits for it and returns its :class:`Results`. A run nobody
    finished (the notebook's kernel died first) is stopped when the next one starts or when
    the grader exits.
    """

    _unfinished: set["FreshRun"] = set()

    def __init__(self, request: contracts.FreshRunRequest, wall: float):
        for stale in list(FreshRun._unfinished):
            stale.stop()
        self.wall = wall
        self.started = time.perf_counter()
        self.results = Results()
        self.process: subprocess.Popen | None = None
        self.private: Path | None = None
        self.cgroup = None
        self.zygote = Zygote.shared() if sandbox.enabled() else None
        read_end, write_end = os.pipe()
        try:
            if self.zygote is None or not self.zygote.start(request.to_json().encode(), write_end):
                if self.zygote is not None:
                    self.zygote.stop()
                    self.zygote = None
                self._own_process(request, write_end)
        finally:
            os.close(write_end)
        FreshRun._unfinished.add(self)
        self._reader = threading.Thread(target=self._read, args=(os.fdopen(read_end, "rb"), set(request.keys)),
                                        daemon=True, name="fresh-run-results")
        self._reader.start()

    def _own_process(self, request: contracts.FreshRunRequest, write_end: int) -> None:
        self.private = Path(tempfile.mkdtemp(prefix="nnlab-verify-"))
        (self.private / "work").mkdir()
        argv = [sys.executable, "-m", "coursegrader.check.runner", str(write_end)]
        env = dict(os.environ)
        if sandbox.enabled():
            limits = sandbox.Limits.from_environment()
            self.cgroup = sandbox.process_cgroup(limits)
            argv = sandbox.command(argv, self.private, limits, self.cgroup)
        else:
            env.update(HOME=str(self.private / "work"), TMPDIR=str(self.private / "work"))
            env[contracts.PROGRESS.name] = "0"
        self.process = subprocess.Popen(argv, cwd=self.private / "work", env=env, stdin=subprocess.PIPE,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        start_new_session=True, pass_fds=(write_end,))
        try:
            self.process.stdin.write(request.to_json().encode())
            self.process.stdin.close()
        except OSError:
            pass  # the run died at once: finish() says so

    def _read(self, stream, tasks: set[str]) -> None:
        with stream:
            try:
                self.results = read_results(stream, tasks)
                while stream.read(1 << 20):
                    pass  # whatever comes after (an atexit hook's writes) is drained unread: the run never blocks
            except (OSError, ValueError):
                pass

    def finish(self) -> tuple[Results, str]:
        """Wait for the run (at most ``wall`` seconds since it started); returns its results and
        a problem ('' if none)."""
        problem = ""
        left = max(0.0, self.wall - (time.perf_counter() - self.started))
        if self.zygote is not None:
            status = self.zygote.wait(left)
            if status is None and time.perf_counter() - self.started < self.wall:
                problem = "the grader's own run of your code stopped (its process was killed)"
            elif status is None:
                problem = f"the grader's own run of your code did not finish within {self.wall:.0f} s"
        else:
            try:
                self.process.wait(timeout=left)
            except subprocess.TimeoutExpired:
                problem = f"the grader's own run of your code did not finish within {self.wall:.0f} s"
            status = self.process.returncode
        self.stop(remove=False)
        self._reader.join(timeout=10)
        results = self.results
        if not problem and results.problem:
            problem = results.problem
        if not problem and not results.done:
            problem = f"the grader's own run of your code stopped (exit status {status})"
        return results, problem

    def stop(self, remove: bool = True) -> None:
        if self in FreshRun._unfinished:
            FreshRun._unfinished.discard(self)
            if self.zygote is not None:
                self.zygote.clean()
        if self.process is not None:
            sandbox.kill_group(self.process)
        if self.cgroup is not None:
            sandbox.kill_cgroup(self.cgroup)
            self.cgroup = None
        if remove and self.private is not None:
            shutil.rmtree(self.private, ignore_errors=True)


@atexit.register
def _stop_unfinished_runs() -> None:
    for run in list(FreshRun._unfinished):
        run.stop()
    if Zygote._shared is not None:
        Zygote._shared.stop()
