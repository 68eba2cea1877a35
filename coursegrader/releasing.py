"""Releasing the assignments and finding the submissions to grade.

``source/<assignment>/<assignment>.ipynb`` is released to ``release/`` (nbgrader's
``generate_assignment``) and, for ``make lab``, to a local exchange; submissions are found at
``submitted/<student>/<assignment>/<assignment>.ipynb``. Neither ``source/`` nor
``submitted/`` is ever written.
"""
from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from pathlib import Path

from coursegrader import contracts
from coursegrader.contracts import Outcome
from coursegrader.batch import run_steps
from coursegrader.course_config import course_id, environment
from coursegrader.gradebook import is_registered

#: Student ids are also file names and nbgrader globs: keep them to safe characters.
STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def assignments(course: Path) -> list[str]:
    """Assignment ids: the folders of ``source/`` that hold ``<id>/<id>.ipynb``."""
    source = course / "source"
    if not source.is_dir():
        raise FileNotFoundError(f"{source} does not exist: is {course} an nbgrader course root?")
    return sorted(p.name for p in source.iterdir() if (p / f"{p.name}.ipynb").is_file())


def released_and_current(course: Path, name: str) -> bool:
    """``release/<name>`` is newer than everything in ``source/<name>``, and the gradebook knows it."""
    released = course / "release" / name / f"{name}.ipynb"
    if not released.is_file():
        return False
    newest_source = max(p.stat().st_mtime for p in (course / "source" / name).rglob("*") if p.is_file())
    if released.stat().st_mtime < newest_source:
        return False
    return is_registered(course, name)


def release(course: Path, only_if_stale: bool = False) -> list[str]:
    """Generate ``release/`` from ``source/`` for every assignment; returns their ids.

    ``only_if_stale`` skips assignments whose release is newer than their source.
    """
    names = assignments(course)
    stale = [name for name in names if not (only_if_stale and released_and_current(course, name))]
    run_steps(course, "generate_assignment", stale, env=environment(course))
    for name in stale:
        print(f"released {name} -> {course / 'release' / name}")
    return names


def submissions(course: Path, names: Sequence[str]) -> tuple[list[tuple[str, str]], list[Outcome]]:
    """``(student, assignment)`` pairs to grade, and the submissions that cannot be graded."""
    found: list[tuple[str, str]] = []
    rejected: list[Outcome] = []
    submitted = course / "submitted"
    if not submitted.is_dir():
        return found, rejected
    for student_dir in sorted(submitted.iterdir()):
        if not student_dir.is_dir():
            continue
        student = student_dir.name
        for assignment_dir in sorted(p for p in student_dir.iterdir() if p.is_dir()):
            assignment = assignment_dir.name
            if not STUDENT_ID.match(student):
                rejected.append(Outcome(student, assignment, "rejected", 0.0,
                                        "student id must use letters, digits, '.', '_' or '-' only"))
            elif assignment not in names:
                rejected.append(Outcome(student, assignment, "rejected", 0.0, f"no assignment called {assignment!r}"))
            elif not (assignment_dir / f"{assignment}.ipynb").is_file():
                rejected.append(Outcome(student, assignment, "rejected", 0.0, f"no {assignment}.ipynb in the submission"))
            else:
                found.append((student, assignment))
    return found, rejected


#: Where ``collect`` lets nbgrader copy the exchange's submissions before they join ``submitted/``.
COLLECTED = "collected"


def collect(course: Path) -> list[tuple[str, str, str]]:
    """Bring what students submitted through the local exchange into ``submitted/``.

    nbgrader collects the latest submission of each student into ``collected/`` (its record
    of the exchange); a submission then joins ``submitted/<student>/<assignment>/`` where
    there is none yet, or replaces one that came from the exchange and is older (the older
    one stays in the exchange). A submission placed in ``submitted/`` by hand (no
    ``timestamp.txt``) is never replaced. Returns ``(student, assignment, what happened)``
    for every submission that came in or was kept instead.
    """
    exchange = exchange_root(course)
    inbound = exchange / course_id(course) / "inbound"
    if not inbound.is_dir() or not any(inbound.iterdir()):
        return []
    names = assignments(course)
    run_steps(course, "collect", names, exchange=exchange, env=environment(course), into=COLLECTED)
    happened: list[tuple[str, str, str]] = []
    for folder in sorted((course / COLLECTED).glob("*/*")):
        student, assignment = folder.parent.name, folder.name
        if assignment not in names or not (folder / "timestamp.txt").is_file():
            continue
        target = course / "submitted" / student / assignment
        if not target.exists():
            shutil.copytree(folder, target)
            happened.append((student, assignment, "collected"))
        elif not (target / "timestamp.txt").is_file():
            happened.append((student, assignment, "kept: the submission placed in submitted/ by hand"))
        elif _timestamp(target) < _timestamp(folder):
            shutil.rmtree(target)
            shutil.copytree(folder, target)
            happened.append((student, assignment, "collected a newer submission"))
    return happened


def _timestamp(folder: Path):
    from nbgrader.utils import parse_utc

    return parse_utc((folder / "timestamp.txt").read_text().strip())


def exchange_root(course: Path) -> Path:
    """The local exchange through which students fetch and submit on this machine."""
    return Path(contracts.EXCHANGE.get() or course / "exchange")


def hand_out(course: Path) -> Path:
    """Release every assignment to the exchange, where students fetch it; returns the exchange.

    The assignments are generated from ``source/`` first where stale. Handing out again
    replaces what the exchange offers (students who fetched keep their copy).
    """
    names = release(course, only_if_stale=True)
    exchange = exchange_root(course)
    exchange.mkdir(parents=True, exist_ok=True)
    run_steps(course, "release_assignment", names, exchange=exchange, env=environment(course))
    return exchange


def return_feedback(course: Path) -> list[tuple[str, str]]:
    """Put the feedback of every submission that came through the exchange back into it.

    nbgrader files each feedback under a hash of the submission's own secret, which only the
    student who submitted it holds: each student fetches their own feedback and no one else's.
    Feedback of submissions placed in ``submitted/`` by hand has no such secret and stays in
    ``feedback/``. Returns the ``(student, assignment)`` pairs whose feedback was returned.
    """
    returned: list[tuple[str, str]] = []
    kept: dict[str, set[str]] = {}  # per assignment, the students whose feedback has nowhere to go
    for folder in sorted((course / "feedback").glob("*/*")):
        student, assignment = folder.parent.name, folder.name
        if not (folder / f"{assignment}.html").is_file():
            continue
        if (folder / "submission_secret.txt").is_file() and (folder / "timestamp.txt").is_file():
            returned.append((student, assignment))
        else:
            kept.setdefault(assignment, set()).add(student)
    # nbgrader returns every student's feedback of an assignment at once: those kept are left out
    # by name, and assignments that leave out the same students share one process
    groups: dict[frozenset[str], list[str]] = {}
    for assignment in sorted({assignment for _, assignment in returned}):
        groups.setdefault(frozenset(kept.get(assignment, ())), []).append(assignment)
    for excluded, names in groups.items():
        run_steps(course, "release_feedback", names, exchange=exchange_root(course), env=environment(course),
                  exclude_students=sorted(excluded))
    return returned


def prepare_lab(course: Path, workspace: Path) -> Path:
    """Release every assignment to the local exchange and prepare a student workspace.

    JupyterLab started in ``workspace`` lists the assignments in its Assignment List (the
    Nbgrader menu; Fetch copies one into the workspace, Submit hands it in) and validates
    notebooks with the Validate button of the notebook's toolbar. Work already in the
    workspace is never overwritten.
    """
    exchange = hand_out(course)
    workspace.mkdir(parents=True, exist_ok=True)
    config = workspace / "nbgrader_config.py"
    text = (
        "# Written by `make lab`: this workspace belongs to the local course below.\n"
        "c = get_config()  # noqa: F821\n"
        f"c.CourseDirectory.course_id = {course_id(course)!r}\n"
        f"c.Exchange.root = {str(exchange)!r}\n"
    )
    if not config.exists() or config.read_text() != text:
        config.write_text(text)
    return workspace
