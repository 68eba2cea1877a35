"""The instructor's cycle: release the assignments, grade a class, report on it.

    python -m coursegrader release [--course exercises]
    python -m coursegrader grade   [--course exercises] [--jobs N | --scheduler tcp://HOST:8786] [--timeout SECONDS]
    python -m coursegrader lab     [--course exercises] [--workspace student]
    python -m coursegrader collect [--course exercises]
    python -m coursegrader hand-out [--course exercises]
    python -m coursegrader return-feedback [--course exercises]

``release`` generates ``release/<assignment>/`` from ``source/`` for every assignment (and
registers it in the gradebook). ``grade`` autogrades every submission found at
``submitted/<student>/<assignment>/<assignment>.ipynb`` (new students are added to the
gradebook), writes feedback, exports ``grades.csv`` and writes a report
(``report/index.html``) with the score distribution of each assignment, the failure rate of
each test, and every submission that timed out, crashed or was overruled. ``lab`` releases
the assignments to a local exchange and prepares a student workspace for JupyterLab;
``collect`` brings what students submitted there into ``submitted/`` (``grade`` collects
first too), never replacing a submission placed there by hand. ``hand-out`` releases the
assignments to the exchange (``NNLAB_EXCHANGE``: the one a JupyterHub class shares) and
``return-feedback`` puts the feedback of every submission that came through it back there,
where each student fetches only their own.

Student code runs in a sandbox (:mod:`coursegrader.sandbox`). ``--jobs`` workers grade at
once (:mod:`coursegrader.pool`); a submission whose kernel died or that ran out of time
costs only that student's grade. Grading writes to ``submitted/`` only what it collects from
the exchange: a new submission, or a student's newer one in place of their older one (which
stays in the exchange). Grading is repeatable:
running it again regrades everything and gives the same grades. Every environment variable
that changes what grading does is listed in :mod:`coursegrader.contracts`.
"""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from coursegrader import contracts
from coursegrader.contracts import Outcome
from coursegrader.sandbox import SandboxUnavailable
from coursegrader.course_config import ConfigurationError, check_isolation
from coursegrader.distributed import ClusterError, autograde_on_cluster
from coursegrader.gradebook import export_grades, gradebook_url, register_students
from coursegrader.pool import autograde_all
from coursegrader.releasing import collect, hand_out, prepare_lab, release, return_feedback, submissions
from coursegrader.report import write_report


def default_course() -> Path:
    """The course of this repository: ``exercises/`` next to the package."""
    return Path(__file__).resolve().parents[1] / "exercises"


def _is_course_root(folder: Path) -> bool:
    # a student's workspace has an nbgrader_config.py too, but no source/
    return (folder / "nbgrader_config.py").is_file() and (folder / "source").is_dir()


def course_here() -> Path:
    """The course a command works on unless ``--course`` names one: the current folder when it
    is a course root (an instructor's copy), else the instructor's course on JupyterHub
    (``NNLAB_HUB_COURSE``, set in their server), else this repository's."""
    here = Path.cwd()
    if _is_course_root(here):
        return here
    on_the_hub = os.environ.get(contracts.HUB_COURSE.name, "").strip()
    if on_the_hub and _is_course_root(Path(os.path.expanduser(on_the_hub))):
        return Path(os.path.expanduser(on_the_hub))
    return default_course()


def grade(course: Path, timeout: float = 1800.0, jobs: int = 1, scheduler: str | None = None) -> list[Outcome]:
    """Autograde every submission, generate feedback, export grades, write the report.

    ``jobs`` workers grade at once (see :func:`coursegrader.pool.autograde_all`); they take
    turns writing to the gradebook (SQLite's lock, or PostgreSQL's transactions). With
    ``scheduler`` (a Dask scheduler's address), the workers of that cluster grade instead
    (:mod:`coursegrader.distributed`), into a PostgreSQL gradebook they all reach.
    """
    if not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a positive int, got {jobs!r}")
    url = gradebook_url(course)
    if scheduler and not url.startswith("postgresql"):
        raise ConfigurationError(
            "grading on a cluster needs a gradebook every grading machine can write to: set "
            f"NNLAB_GRADEBOOK_URL=postgresql://... (the gradebook is now {url})")
    check_isolation(course)
    from nnlab.data import prepare_cache

    prepare_cache()  # sandboxed notebooks read the datasets from here instead of each regenerating them
    names = release(course, only_if_stale=True)
    for student, assignment, what in collect(course):
        print(f"{what}: {student}/{assignment}")
    pairs, outcomes = submissions(course, names)
    register_students(course, [student for student, _ in pairs])  # before the workers race to add them
    if scheduler:
        graded = autograde_on_cluster(course, pairs, timeout, scheduler, url)
    else:
        graded = autograde_all(course, pairs, timeout, jobs)
    outcomes = list(outcomes) + graded
    export_grades(course)
    report = write_report(course, names, outcomes)
    print(f"grades: {course / 'grades.csv'}\nreport: {report}")
    return outcomes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m coursegrader", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["release", "grade", "lab", "collect", "hand-out", "return-feedback"])
    parser.add_argument("--course", type=Path, default=course_here(),
                        help="the nbgrader course root (default: the current folder if it is one, else exercises/)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds allowed to grade one submission")
    parser.add_argument("--jobs", type=int, default=1, help="submissions graded at once")
    parser.add_argument("--scheduler", default=None,
                        help="grade on a Dask cluster: its scheduler's address, e.g. tcp://host:8786 "
                             "(needs a PostgreSQL gradebook, NNLAB_GRADEBOOK_URL)")
    parser.add_argument("--workspace", type=Path, default=default_course().parent / "student",
                        help="the student workspace prepared by 'lab'")
    args = parser.parse_args(argv)
    course = args.course.resolve()
    if not (course / "nbgrader_config.py").is_file():
        parser.error(f"{course} has no nbgrader_config.py: pass the course root with --course")
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    try:
        if args.command == "release":
            release(course)
        elif args.command == "lab":
            prepare_lab(course, args.workspace.resolve())
        elif args.command == "hand-out":
            print(f"handed out to the exchange {hand_out(course)}")
        elif args.command == "return-feedback":
            returned = return_feedback(course)
            for student, assignment in returned:
                print(f"feedback returned: {student}/{assignment}")
            if not returned:
                print("no feedback to return: grade first (feedback returns only to submissions that came through the exchange)")
        elif args.command == "collect":
            for student, assignment, what in collect(course):
                print(f"{what}: {student}/{assignment}")
        else:
            grade(course, args.timeout, args.jobs, args.scheduler)
    except (ConfigurationError, SandboxUnavailable, ClusterError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0
