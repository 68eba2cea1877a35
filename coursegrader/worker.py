"""A grading worker: one nbgrader, loaded once, that autogrades submissions one at a time.

``python -m coursegrader.worker COURSE`` reads one request per line on stdin (a
:class:`~coursegrader.contracts.WorkerRequest`), autogrades that submission (nbgrader's
``autograde``, with the course's configuration: sandboxed kernel, independent check), then
generates its feedback, and answers one line on stdout (a
:class:`~coursegrader.contracts.WorkerAnswer`). The pool (:mod:`coursegrader.pool`) is the
other end.

Why a worker: starting nbgrader with the course's configuration costs about 4 s (nbgrader,
torch for the independent check). ``make grade`` pays it once per worker instead of once per
assignment and per batch, and hands out submissions one at a time, so a worker that drew
quick submissions takes the next one instead of waiting for the other's slow ones. Student
code never runs in this process: it runs in the sandboxed kernel and the check's fresh run.
"""
from __future__ import annotations

import ctypes
import os
import signal
import sys
import time
from pathlib import Path

from coursegrader.contracts import WorkerAnswer, WorkerRequest

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """A grader killed midway takes its workers with it (their kernels follow: --die-with-parent)."""
    parent = os.getppid()
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m coursegrader.worker COURSE", file=sys.stderr)
        return 2
    _die_with_parent()
    course = Path(argv[0]).resolve()
    # Answers go to the original stdout; whatever nbgrader or a library prints goes to stderr.
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    os.chdir(course)

    from nbgrader.apps.api import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    from coursegrader.course_config import load

    config = load(course)
    api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
    for line in sys.stdin:
        request = WorkerRequest.from_line(line)
        start = time.perf_counter()
        graded = api.autograde(request.assignment, request.student, force=True, create=True)
        answer = WorkerAnswer(success=bool(graded["success"]), log=(graded.get("log", "") + graded.get("error", ""))[-6000:])
        if graded["success"]:
            feedback = api.generate_feedback(request.assignment, request.student, force=True)
            answer.feedback = bool(feedback["success"])
            if not feedback["success"]:
                answer.log += "\nfeedback: " + (feedback.get("log", "") + feedback.get("error", ""))[-3000:]
        answer.seconds = time.perf_counter() - start
        answers.write(answer.to_line())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
