"""The fresh run, seen from the grader: a new sandboxed process runs the submitted cells, and the
probes, here, call the student's functions in it.

The process itself is :mod:`coursegrader.check.runner`; this module starts it on a
:class:`~coursegrader.contracts.FreshRunRequest` (written to its standard input: cells and task
names, no seed, no key), then, in a thread of the grader's, computes the references'
observations and drives each task's probe across the socket (:mod:`coursegrader.check.remote`).
The observations are made and stored here; nothing the run leaves in its folder is ever read.
A task that ends the run (a delegation, no answer in time, an answer the grader cannot read)
fails alone: the remaining tasks go on in a new run of the same cells.
"""
from __future__ import annotations

import atexit
import io
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from coursegrader import contracts, sandbox
from coursegrader.check import remote, wire
from coursegrader.check.compare import reference_observations
from coursegrader.check.tasks import specification


#: The grade ids of a notebook's optional, ungraded challenge cells.
CHALLENGE_PREFIX = "challenge_"


def notebook_cells(notebook) -> tuple[list[dict], dict[str, str]]:
    """The cells the fresh run executes, in order (the notebook's locked import cells and the
    task cells), and the source of each task cell by task name."""
    cells: list[dict] = []
    tasks: dict[str, str] = {}
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or meta.get("grade") or str(meta.get("grade_id", "")).startswith(CHALLENGE_PREFIX):
            continue  # test cells, and the optional challenge after the last test (never graded)
        if meta.get("solution"):
            cells.append({"name": meta.get("grade_id", "cell"), "source": cell.source})
            tasks[meta.get("grade_id", "cell")] = cell.source
        elif meta.get("locked"):
            cells.append({"name": meta.get("grade_id", "setup"), "source": cell.source})
    return cells, tasks


@dataclass
class Results:
    """What the check of one submission found: each task's observations (``torch.save`` bytes of
    what the probe recorded, read back with ``weights_only``) or why it has none; ``expected``
    the references' observations on the same keys; ``problem`` why the run as a whole failed;
    ``done`` whether every task was probed; ``runs`` how many fresh runs it took."""

    observations: dict[str, bytes] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    expected: dict[str, dict] = field(default_factory=dict)
    problem: str = ""
    done: bool = False
    runs: int = 0


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
        """Fork a run of ``request`` that talks to the grader over the socket ``results``."""
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
    """:mod:`coursegrader.check.runner` on one request, and the probes that call into it.

    The run is forked by the warm :class:`Zygote` when sandboxed, else (``NNLAB_SANDBOX=off``,
    or no zygote could start) a process of its own. Started as soon as the submitted cells are
    known, so that it runs while nbgrader executes the notebook; :meth:`finish` waits for the
    probes and returns the :class:`Results`. A run nobody finished (the notebook's kernel died
    first) is stopped when the next one starts or when the grader exits.
    """

    _unfinished: set["FreshRun"] = set()

    def __init__(self, request: contracts.FreshRunRequest, wall: float, keys: dict[str, int] | None = None):
        for stale in list(FreshRun._unfinished):
            stale.stop()
        self.request = request
        self.keys = dict(keys) if keys is not None else {name: 0 for name in request.tasks}
        self.wall = wall
        self.started = time.perf_counter()
        self.deadline = time.monotonic() + wall
        self.results = Results()
        self.process: subprocess.Popen | None = None
        self.private: Path | None = None
        self.cgroup = None
        self.zygote = None
        self._forked = False
        self.channel: wire.Channel | None = None
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        FreshRun._unfinished.add(self)
        self._driver = threading.Thread(target=self._drive, daemon=True, name="fresh-run-probes")
        self._driver.start()

    # ---- the process
    def _launch(self) -> wire.Channel | None:
        """Start a run of the request; the grader's end of its socket, or None if none started."""
        ours, theirs = socket.socketpair()
        with self._lock:
            if self._stopped.is_set():
                ours.close()
                theirs.close()
                return None
            try:
                _SPAWNER.submit(self._start, theirs.fileno()).result()
            finally:
                theirs.close()
            self.channel = wire.Channel(ours)
            self.results.runs += 1
            return self.channel

    def _start(self, fd: int) -> None:
        # in the spawner thread: the sandbox dies with the thread that started it
        # (PR_SET_PDEATHSIG), so a probe thread that ends must not be the one
        self.zygote = Zygote.shared() if sandbox.enabled() else None
        self._forked = self.zygote is not None and self.zygote.start(self.request.to_json().encode(), fd)
        if not self._forked:
            if self.zygote is not None:
                self.zygote.stop()
                self.zygote = None
            self._own_process(fd)

    def _own_process(self, fd: int) -> None:
        self.private = Path(tempfile.mkdtemp(prefix="nnlab-verify-"))
        (self.private / "work").mkdir()
        argv = [sys.executable, "-m", "coursegrader.check.runner", str(fd)]
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
                                        start_new_session=True, pass_fds=(fd,))
        try:
            self.process.stdin.write(self.request.to_json().encode())
            self.process.stdin.close()
        except OSError:
            pass  # the run died at once: the probes say so

    def _halt(self) -> None:
        """Stop the current run (its process, its sandbox), keeping nothing of it."""
        with self._lock:
            if self.channel is not None:
                self.channel.close()
                self.channel = None
            if self.zygote is not None and self._forked:
                self.zygote.clean()  # the zygote stays: the last run's (tests look at it)
            self._forked = False
            if self.process is not None:
                sandbox.kill_group(self.process)
                try:
                    self.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass
            if self.cgroup is not None:
                sandbox.kill_cgroup(self.cgroup)
                self.cgroup = None
            if self.private is not None:
                shutil.rmtree(self.private, ignore_errors=True)

    # ---- the probes
    def _hello(self, channel: wire.Channel) -> dict[str, str]:
        """Wait for the run to execute the cells; which tasks it cannot offer, and why."""
        message = channel.receive(self.deadline)
        if not (type(message) is tuple and len(message) == 2 and message[0] == "hello" and type(message[1]) is dict):
            raise wire.WireError("the run did not say which tasks it has")
        return {str(k)[:contracts.MAX_ERROR_BYTES]: str(v)[:500] for k, v in message[1].items() if v}

    def _probe(self, channel: wire.Channel, name: str, task) -> bool:
        """Probe one task; False if the run can serve no more tasks."""
        import torch

        timeout = self.request.cell_timeout
        deadline = min(time.monotonic() + timeout, self.deadline)
        try:
            session, impl = remote.begin(channel, name, deadline)
            observations = task.probe(impl, self.keys[name])
            buffer = io.BytesIO()
            torch.save(remote.materialize(observations), buffer)
            remote.end(channel, deadline)
            self.results.observations[name] = buffer.getvalue()
            return True
        except remote.TaskAborted as aborted:
            self.results.errors[name] = str(aborted)
        except wire.WireTimeout:
            self.results.errors[name] = (f"{name} ran longer than {timeout:.0f} s on the grader's inputs"
                                         if time.monotonic() < self.deadline - 1 else
                                         f"the grader's own run of your code did not finish within {self.wall:.0f} s")
        except wire.WireError as error:
            self.results.errors[name] = f"{name}: the grader's own run of your code stopped or answered what the grader cannot read ({error})"[:500]
        except BaseException as error:  # noqa: BLE001 - the probe failed on what the student's code returned
            self.results.errors[name] = f"{name} failed on the grader's inputs: {type(error).__name__}: {str(error)[:200]}"
            try:
                remote.end(channel, deadline)
                return True
            except BaseException:  # noqa: BLE001
                pass
        return False

    def _drive(self) -> None:
        results = self.results
        try:
            tasks = specification(self.request.assignment) or {}
            # the references first, while the run executes the cells (the same thread: the
            # probes share torch's global random state, and two at once would interleave it)
            results.expected = reference_observations(self.request.assignment, self.keys)
            pending = [name for name in tasks if name in self.keys and name in self.request.tasks]
            while pending and not self._stopped.is_set():
                channel = self._launch()
                if channel is None:
                    results.problem = results.problem or "the grader's own run of your code could not start"
                    return
                try:
                    problems = self._hello(channel)
                except wire.WireTimeout:
                    results.problem = f"the grader's own run of your code did not finish within {self.wall:.0f} s"
                    return
                except wire.WireError:
                    results.problem = "the grader's own run of your code stopped before it ran your cells to the end"
                    return
                healthy = True
                while pending and healthy and not self._stopped.is_set():
                    name = pending.pop(0)
                    if name in problems:
                        results.errors[name] = problems[name]
                        continue
                    healthy = self._probe(channel, name, tasks[name])
                if healthy:
                    try:
                        channel.send(("bye",))
                    except wire.WireError:
                        pass
                self._halt()
            results.done = not pending
        except BaseException as error:  # noqa: BLE001 - the check fails, the grader goes on
            results.problem = results.problem or f"the grader's check failed ({type(error).__name__}: {str(error)[:200]})"
        finally:
            self._halt()

    def finish(self) -> tuple[Results, str]:
        """Wait for the probes (at most ``wall`` seconds since the start); their results and a problem ('' if none)."""
        self._driver.join(timeout=max(0.0, self.deadline - time.monotonic()) + 30)
        if self._driver.is_alive():
            self.stop()
            self._driver.join(timeout=30)
            if not self.results.problem:
                self.results.problem = f"the grader's own run of your code did not finish within {self.wall:.0f} s"
        FreshRun._unfinished.discard(self)
        results = self.results
        problem = results.problem
        if not problem and not results.done:
            problem = "the grader's own run of your code stopped"
        return results, problem

    def stop(self, remove: bool = True) -> None:
        FreshRun._unfinished.discard(self)
        self._stopped.set()
        self._halt()


#: The one thread that starts sandboxes, alive as long as the grader.
_SPAWNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fresh-run-spawner")


@atexit.register
def _stop_unfinished_runs() -> None:
    for run in list(FreshRun._unfinished):
        run.stop()
    if Zygote._shared is not None:
        Zygote._shared.stop()
