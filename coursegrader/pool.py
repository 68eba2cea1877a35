"""The worker pool: ``jobs`` workers (:mod:`coursegrader.worker`) grade a class, one submission each at a time.

Each worker is an nbgrader loaded once; a worker takes the next submission as soon as it is
free. A submission that takes longer than its timeout is stopped with its worker, one that
nbgrader could not grade (its kernel died) gets a clear line; either way its worker is
replaced, so one submission never costs another its grade.
"""
from __future__ import annotations

import json
import select
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from coursegrader import contracts
from coursegrader.contracts import Outcome, WorkerAnswer, WorkerRequest
from coursegrader.course_config import environment


class WorkerProcess:
    """One :mod:`coursegrader.worker` process, seen from the pool."""

    def __init__(self, course: Path, jobs: int):
        self.log = tempfile.TemporaryFile()  # what nbgrader prints; its tail explains a crash
        self.process = subprocess.Popen(
            [sys.executable, "-m", "coursegrader.worker", str(course)], cwd=course, env=environment(course, jobs),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True,
        )

    def grade(self, student: str, assignment: str, timeout: float) -> WorkerAnswer | None:
        """The worker's answer (``died`` if it exited), or None after ``timeout`` seconds."""
        try:
            self.process.stdin.write(WorkerRequest(student, assignment).to_line())
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            return WorkerAnswer(died=True)
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not ready:
            return None
        return WorkerAnswer.from_line(self.process.stdout.readline())

    def log_tail(self) -> str:
        self.log.seek(0)
        return self.log.read()[-6000:].decode(errors="replace")

    def finish(self) -> None:
        """End of input: let the worker finish and exit (at most a minute), then clean up."""
        self.process.stdin.close()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pass
        self.stop()

    def stop(self) -> None:
        # Its sandboxed kernels die with it (bubblewrap's --die-with-parent).
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except OSError:
                pass
        self.log.close()


def crash_reason(log: str) -> str:
    """One line for the report: why nbgrader could not grade a submission."""
    reason = "the kernel died" if "DeadKernelError" in log or "Kernel died" in log else "nbgrader failed"
    lines = [line for line in log.splitlines() if "Error" in line or "error" in line]
    return f"{reason}: {lines[-1].strip() if lines else ''}"[:300]


def _read_graded(notebook: Path) -> dict:
    try:
        return json.loads(notebook.read_text())
    except (OSError, ValueError):
        return {}


def overruled(notebook: Path) -> str:
    """The test cells the independent check overruled (passed in the notebook, failed outside), for the report."""
    cells = contracts.Verdict.read(_read_graded(notebook).get("metadata", {})).overruled
    return "; ".join(f"{c['cell']}: {c['message']}" for c in cells)[:600]


def count_timeouts(notebook: Path) -> int:
    """Cells of an autograded notebook that were interrupted after the cell timeout."""
    return sum(
        1 for cell in _read_graded(notebook).get("cells", []) for output in cell.get("outputs", [])
        if output.get("output_type") == "error" and output.get("ename") == "CellTimeoutError"
    )


def _print(outcome: Outcome) -> None:
    note = f" ({outcome.detail})" if outcome.detail else (
        " (independent check overruled: " + outcome.overruled[:120] + ")" if outcome.overruled else "")
    print(f"{outcome.status:>9}  {outcome.student}/{outcome.assignment}  {outcome.seconds:.1f} s{note}", flush=True)


def grade_with(worker: WorkerProcess, course: Path, student: str, assignment: str, timeout: float) -> Outcome:
    """Autograde one submission (and write its feedback) on ``worker``. Whoever owns the worker
    stops it unless the outcome is "graded": after a timeout or a crash nothing may carry over."""
    start = time.perf_counter()
    answer = worker.grade(student, assignment, timeout)
    seconds = time.perf_counter() - start
    graded = course / "autograded" / student / assignment / f"{assignment}.ipynb"
    if answer is None:
        return Outcome(student, assignment, "timed out", seconds,
                       f"grading took longer than {timeout:.0f} s and was stopped")
    if answer.success and graded.is_file():
        if not answer.feedback:
            print(f"warning: no feedback for {student}/{assignment}:\n{answer.log[-2000:]}", file=sys.stderr)
        return Outcome(student, assignment, "graded", seconds, timed_out_cells=count_timeouts(graded),
                       overruled=overruled(graded))
    return Outcome(student, assignment, "crashed", seconds, crash_reason(answer.log + "\n" + worker.log_tail()))


def autograde_all(course: Path, pairs: Sequence[tuple[str, str]], timeout: float, jobs: int) -> list[Outcome]:
    """Autograde ``(student, assignment)`` submissions and write their feedback, ``jobs`` at once."""
    if not pairs:
        return []
    queue = list(pairs)
    lock = threading.Lock()
    outcomes: dict[tuple[str, str], Outcome] = {}

    def serve() -> None:
        worker: WorkerProcess | None = None
        try:
            while True:
                with lock:
                    if not queue:
                        return
                    student, assignment = queue.pop(0)
                worker = worker or WorkerProcess(course, jobs)
                outcome = grade_with(worker, course, student, assignment, timeout)
                if outcome.status != "graded":
                    worker.stop()  # a fresh worker for the next submission: nothing carries over
                    worker = None
                with lock:
                    outcomes[student, assignment] = outcome
                    _print(outcome)
        finally:
            if worker is not None:
                worker.finish()

    workers = min(jobs, len(queue))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for done in [pool.submit(serve) for _ in range(workers)]:
            done.result()
    return [outcomes[pair] for pair in pairs]


def autograde_one(course: Path, student: str, assignment: str, timeout: float, jobs: int = 1) -> Outcome:
    """Autograde one submission (and write its feedback) as ``grade`` does."""
    return autograde_all(course, [(student, assignment)], timeout, jobs)[0]
