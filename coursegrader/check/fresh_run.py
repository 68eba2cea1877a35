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


class FreshRun:
    """:mod:`coursegrader.check.runner` running on one request (sandboxed unless opted out).

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
        self.private = Path(tempfile.mkdtemp(prefix="nnlab-verify-"))
        (self.private / "work").mkdir()
        self.results = Results()
        read_end, write_end = os.pipe()
        argv = [sys.executable, "-m", "coursegrader.check.runner", str(write_end)]
        self.cgroup = None
        env = dict(os.environ)
        if sandbox.enabled():
            limits = sandbox.Limits.from_environment()
            self.cgroup = sandbox.process_cgroup(limits)
            argv = sandbox.command(argv, self.private, limits, self.cgroup)
        else:
            env.update(HOME=str(self.private / "work"), TMPDIR=str(self.private / "work"))
            env[contracts.PROGRESS.name] = "0"
        try:
            self.process = subprocess.Popen(argv, cwd=self.private / "work", env=env, stdin=subprocess.PIPE,
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                            start_new_session=True, pass_fds=(write_end,))
        finally:
            os.close(write_end)
        FreshRun._unfinished.add(self)
        self._reader = threading.Thread(target=self._read, args=(os.fdopen(read_end, "rb"), set(request.keys)),
                                        daemon=True, name="fresh-run-results")
        self._reader.start()
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
        try:
            self.process.wait(timeout=max(0.0, self.wall - (time.perf_counter() - self.started)))
        except subprocess.TimeoutExpired:
            problem = f"the grader's own run of your code did not finish within {self.wall:.0f} s"
        finally:
            self.stop(remove=False)
        self._reader.join(timeout=10)
        results = self.results
        if not problem and results.problem:
            problem = results.problem
        if not problem and not results.done:
            problem = f"the grader's own run of your code stopped (exit status {self.process.returncode})"
        return results, problem

    def stop(self, remove: bool = True) -> None:
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
