"""Grading spread over machines: Dask distributed carries each submission to a worker.

``python -m coursegrader grade --scheduler tcp://HOST:8786`` grades a class on the workers of
a Dask cluster instead of this machine's cores. The cluster is plain Dask: ``dask scheduler``
on one machine, ``dask worker tcp://HOST:8786 --nthreads 1`` on each grading machine (more
worker processes per machine with ``--nworkers N``). A grading machine needs the course's
Python environment (``make env sandbox-deps``: nnlab, coursegrader, nbgrader, bubblewrap) and
a connection to the gradebook, not the instructor's course folder: everything one submission
needs travels in its task (:class:`Submission`: the course's ``nbgrader_config.py``, the probe
secret, the submitted files, the assignment's non-notebook source files), and what grading
produces travels back in its result (:class:`Graded`: the autograded notebook and the
feedback), which the instructor's machine writes into the course folder.

The scores go straight into the gradebook from the worker, through nbgrader's own autograde,
so the gradebook must be one every machine reaches: PostgreSQL (``NNLAB_GRADEBOOK_URL``). A
worker grades with the same sandbox and independent check as local grading
(:func:`coursegrader.pool.grade_with`).

Faults: a worker that dies or disappears while grading loses only its attempt; the
scheduler gives the task to another worker (up to Dask's ``allowed-failures``, 3 by default;
a submission whose workers keep dying is then reported as crashed). Dask workers exit when
their scheduler goes away; run them under a supervisor that restarts them. nbgrader's autograde updates a submission's rows in
place, so a submission graded twice is in the gradebook once. If the scheduler itself goes
away, the instructor's side waits for it to come back and submits again what had not come
back. Every attempt is logged on the scheduler; the report names the submissions that took
more than one.
"""
from __future__ import annotations

import atexit
import os
import shutil
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath

from coursegrader.contracts import Outcome, workers_per_machine

#: The scheduler's event topic where every grading attempt is logged (the report's "retried").
ATTEMPTS = "coursegrader-attempt"
#: How long the instructor's side waits for a lost scheduler to come back before giving up.
RECONNECT_SECONDS = 120.0


class ClusterError(RuntimeError):
    """The class cannot be graded on the cluster (no shared gradebook, no scheduler)."""


@dataclass(frozen=True)
class Submission:
    """Everything a worker needs to grade one submission, sent through the scheduler."""

    student: str
    assignment: str
    config: str  # the course's nbgrader_config.py
    secret_path: str  # where the probe secret lives, relative to the course root
    secret: str
    files: dict[str, bytes]  # course-relative POSIX path -> content
    gradebook_url: str
    timeout: float
    run: str = ""  # which grading run sent it: the scheduler's attempt log outlives a run


@dataclass
class Graded:
    """What grading one submission produced, sent back to the instructor's machine."""

    outcome: Outcome
    host: str
    files: dict[str, bytes] = field(default_factory=dict)  # autograded/... and feedback/..., course-relative


def _safe_relative(path: str) -> PurePosixPath:
    relative = PurePosixPath(path)
    if relative.is_absolute() or ".." in relative.parts or not relative.parts:
        raise ValueError(f"refusing a path outside the course folder: {path!r}")
    return relative


def _read_tree(root: Path, folder: Path) -> dict[str, bytes]:
    if not folder.is_dir():
        return {}
    return {path.relative_to(root).as_posix(): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def bundle(course: Path, student: str, assignment: str, timeout: float, gradebook_url: str, run: str = "") -> Submission:
    """The task for one submission of ``course``: its files, the course's configuration and secret."""
    from coursegrader.check.tasks import course_secret
    from coursegrader.course_config import load

    secret_file = Path(load(course).IndependentCheck.secret_file)
    course_secret(secret_file)  # created now if grading never ran here, so that every worker gets the same
    secret = secret_file.read_text()
    files = _read_tree(course, course / "submitted" / student / assignment)
    source = course / "source" / assignment
    # autograde copies the assignment's non-notebook files (data, helpers) next to the submission
    files.update({path: content for path, content in _read_tree(course, source).items() if not path.endswith(".ipynb")})
    return Submission(student, assignment, (course / "nbgrader_config.py").read_text(),
                      secret_file.resolve().relative_to(course.resolve()).as_posix(), secret, files, gradebook_url,
                      timeout, run)


class ScratchCourse:
    """A course folder of this worker process, kept from one submission to the next with one
    nbgrader worker loaded in it (:class:`coursegrader.pool.WorkerProcess`): loading nbgrader
    and torch costs seconds, which a fresh course per submission would pay every time. It holds
    the course's configuration and probe secret; each submission's files are removed after it."""

    def __init__(self, submission: Submission) -> None:
        from coursegrader.pool import WorkerProcess

        self.key = (submission.config, submission.secret_path, submission.secret, submission.gradebook_url)
        self.root = Path(tempfile.mkdtemp(prefix="coursegrader-"))
        self.course = self.root / "course"
        self.course.mkdir()
        (self.course / "nbgrader_config.py").write_text(submission.config)
        secret = self.course / _safe_relative(submission.secret_path)
        secret.parent.mkdir(parents=True, exist_ok=True)
        secret.write_text(submission.secret)
        secret.chmod(0o600)
        # the gradebook every machine shares: the worker's nbgrader reads it from its environment
        os.environ["NNLAB_GRADEBOOK_URL"] = submission.gradebook_url
        # the machine's cores are shared with its other worker processes, as local JOBS share them
        self.jobs = workers_per_machine()
        self.worker: WorkerProcess | None = WorkerProcess(self.course, jobs=self.jobs)

    def grade(self, submission: Submission) -> Graded:
        from coursegrader.pool import WorkerProcess, grade_with

        written = []
        try:
            for relative, content in submission.files.items():
                path = self.course / _safe_relative(relative)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(content)
                written.append(path)
            self.worker = self.worker or WorkerProcess(self.course, jobs=self.jobs)
            outcome = grade_with(self.worker, self.course, submission.student, submission.assignment,
                                 submission.timeout)
            if outcome.status != "graded":
                self.worker.stop()  # a fresh nbgrader for the next submission: nothing carries over
                self.worker = None
            files = {}
            for kind in ("autograded", "feedback"):
                files.update(_read_tree(self.course, self.course / kind / submission.student / submission.assignment))
            return Graded(outcome, socket.gethostname(), files)
        finally:
            # nothing of this submission stays for the next one
            for path in written:
                path.unlink(missing_ok=True)
            for kind in ("submitted", "autograded", "feedback"):
                shutil.rmtree(self.course / kind / submission.student / submission.assignment, ignore_errors=True)

    def close(self) -> None:
        if self.worker is not None:
            self.worker.stop()
            self.worker = None
        shutil.rmtree(self.root, ignore_errors=True)


_scratch = threading.local()  # one scratch course per worker thread (a Dask worker runs --nthreads of them)


def grade_remotely(submission: Submission) -> Graded:
    """Grade one submission on this worker (the function the scheduler runs)."""
    from nnlab.data import prepare_cache

    try:
        from distributed import get_worker

        worker = get_worker()
        worker.log_event(ATTEMPTS, {"student": submission.student, "assignment": submission.assignment,
                                    "host": socket.gethostname(), "worker": worker.address, "run": submission.run})
    except ValueError:
        pass  # called outside a Dask worker (a local dry run): nothing to log
    prepare_cache()  # sandboxed notebooks read the datasets from this machine's cache
    scratch: ScratchCourse | None = getattr(_scratch, "course", None)
    if scratch is not None and scratch.key != (submission.config, submission.secret_path, submission.secret,
                                               submission.gradebook_url):
        scratch.close()  # another course, or the same one with a new configuration: start afresh
        scratch = None
    if scratch is None:
        scratch = _scratch.course = ScratchCourse(submission)
        atexit.register(scratch.close)
    return scratch.grade(submission)


def write_back(course: Path, graded: Graded) -> None:
    """Put a worker's autograded notebook and feedback into the course folder, replacing an
    earlier grading's (as local grading does) and touching nothing else."""
    outcome = graded.outcome
    allowed = {kind: PurePosixPath(kind, outcome.student, outcome.assignment) for kind in ("autograded", "feedback")}
    by_kind: dict[str, dict[PurePosixPath, bytes]] = {kind: {} for kind in allowed}
    for path, content in graded.files.items():
        relative = _safe_relative(path)
        kind = relative.parts[0]
        if kind not in allowed or relative.parts[:3] != allowed[kind].parts:
            raise ValueError(f"a worker sent {path!r}, outside {allowed['autograded']} and {allowed['feedback']}")
        by_kind[kind][relative] = content
    for kind, files in by_kind.items():
        if not files:
            continue
        target = course / allowed[kind]
        staging = target.with_name(f".{target.name}.incoming")
        shutil.rmtree(staging, ignore_errors=True)
        for relative, content in files.items():
            path = staging / relative.relative_to(allowed[kind])
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)


class AttemptLog:
    """Every grading attempt the workers logged on the scheduler, copied here once a second:
    a restarted scheduler starts with an empty log, so the attempts it held must be read before."""

    def __init__(self, client, run: str) -> None:
        self.client = client
        self.run = run
        self.seen: set[tuple[float, str, str, str]] = set()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            events = self.client.get_events(ATTEMPTS)
        except Exception:  # the scheduler is away: what it held was read a second ago
            return
        for stamp, event in events:
            if event.get("run") != self.run:
                continue  # an earlier grading run's attempts
            self.seen.add((stamp, event["student"], event["assignment"], event["worker"]))

    def _poll(self) -> None:
        while not self.stopped.wait(1.0):
            self._read()

    def stop(self) -> dict[tuple[str, str], list[str]]:
        """Stop polling; the workers of every attempt, by (student, assignment)."""
        self.stopped.set()
        self.thread.join()
        self._read()
        workers: dict[tuple[str, str], list[str]] = {}
        for _, student, assignment, worker in sorted(self.seen):
            workers.setdefault((student, assignment), []).append(worker)
        return workers


def autograde_on_cluster(course: Path, pairs: Sequence[tuple[str, str]], timeout: float, scheduler: str,
                         gradebook_url: str) -> list[Outcome]:
    """Autograde ``(student, assignment)`` submissions on the Dask cluster at ``scheduler``;
    write each result into ``course`` as it arrives. Returns the outcomes in ``pairs``' order."""
    from distributed import Client, as_completed
    from distributed.client import FutureCancelledError

    if not pairs:
        return []
    try:
        client = Client(scheduler, timeout="30s", set_as_default=False)
    except OSError as error:
        raise ClusterError(f"cannot reach the Dask scheduler at {scheduler}: {error}") from None
    outcomes: dict[tuple[str, str], Outcome] = {}
    resubmitted: set[tuple[str, str]] = set()
    started = {pair: time.perf_counter() for pair in pairs}

    def submit(pending: Sequence[tuple[str, str]]) -> dict:
        return {client.submit(grade_remotely, bundle(course, student, assignment, timeout, gradebook_url, run),
                              key=f"grade-{student}-{assignment}-{time.time_ns()}", pure=False): (student, assignment)
                for student, assignment in pending}

    run = uuid.uuid4().hex
    log = AttemptLog(client, run)
    try:
        futures = submit(pairs)
        while futures:
            lost = []
            for future in as_completed(list(futures), loop=client.loop):
                pair = futures.pop(future)
                try:
                    graded = future.result()
                except (FutureCancelledError, OSError):
                    lost.append(pair)  # the scheduler went away and took the task with it
                    continue
                except Exception as error:  # the task failed on every worker it was given to
                    outcomes[pair] = Outcome(*pair, "crashed", time.perf_counter() - started[pair],
                                             f"grading failed on the cluster: {type(error).__name__}: {error}"[:300])
                    continue
                write_back(course, graded)
                outcomes[pair] = graded.outcome
                print(f"{graded.outcome.status:>9}  {pair[0]}/{pair[1]}  on {graded.host}", flush=True)
            if lost:
                _wait_for_scheduler(client)
                resubmitted.update(lost)
                futures = submit(lost)
    finally:
        attempts = log.stop()
        client.close()
    result = []
    for pair in pairs:
        outcome = outcomes[pair]
        tries = attempts.get(pair, [])
        if len(tries) > 1 or pair in resubmitted:
            outcome = replace(outcome, retried=f"graded in {max(len(tries), 2)} attempts" + (
                " (the scheduler was restarted)" if pair in resubmitted else f" (workers: {', '.join(tries)})"))
        result.append(outcome)
    return result


def _wait_for_scheduler(client) -> None:
    deadline = time.monotonic() + RECONNECT_SECONDS
    while time.monotonic() < deadline:
        if client.status == "running":
            try:
                client.wait_for_workers(1, timeout=max(1.0, deadline - time.monotonic()))
                return
            except (TimeoutError, OSError):
                pass
        time.sleep(1.0)
    raise ClusterError(f"the Dask scheduler did not come back within {RECONNECT_SECONDS:.0f} s")
