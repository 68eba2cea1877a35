"""The gradebook: where it is, what it holds per test cell, and its export to ``grades.csv``."""
from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path

from coursegrader import contracts
from coursegrader.course_config import run_nbgrader


def gradebook_url(course: Path) -> str:
    """The gradebook: ``$NNLAB_GRADEBOOK_URL`` (e.g. PostgreSQL), else SQLite in the course.

    SQLite waits up to 5 minutes for a lock, so that parallel graders take turns writing
    instead of failing with "database is locked".
    """
    return contracts.GRADEBOOK_URL.get() or f"sqlite:///{course / 'gradebook.db'}?timeout=300"


def open_gradebook(course: Path):
    """nbgrader's ``Gradebook`` of ``course`` (created if missing)."""
    from nbgrader.api import Gradebook

    # A new gradebook is created by running `alembic`, which lives next to this Python.
    scripts = str(Path(sys.executable).parent)
    if scripts not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = scripts + os.pathsep + os.environ.get("PATH", "")
    return Gradebook(gradebook_url(course))


def is_registered(course: Path, assignment: str) -> bool:
    """Whether the gradebook knows ``assignment``."""
    from nbgrader.api import MissingEntry

    try:
        with open_gradebook(course) as gradebook:
            gradebook.find_assignment(assignment)
    except MissingEntry:
        return False
    return True


def register_students(course: Path, students: Iterable[str]) -> list[str]:
    """Add to the gradebook the students it does not know yet; returns those added.

    nbgrader's autograde registers the student it grades by looking them up and adding them
    when missing. Two workers grading two assignments of the same new student at once can
    both miss and both add, and the second add fails on the unique key (seen on PostgreSQL,
    where graders really do write in parallel). Registering every student once, before the
    workers start, leaves the workers only lookups.
    """
    from nbgrader.api import MissingEntry

    added = []
    with open_gradebook(course) as gradebook:
        for student in sorted(set(students)):
            try:
                gradebook.find_student(student)
            except MissingEntry:
                gradebook.add_student(student)
                added.append(student)
    return added


def cell_scores(course: Path, assignment: str) -> dict[str, dict[str, float]]:
    """Autograded points of every test cell, per student: ``{student: {grade_id: points}}``."""
    from nbgrader.api import MissingEntry

    result: dict[str, dict[str, float]] = {}
    with open_gradebook(course) as gradebook:
        try:
            found = gradebook.find_assignment(assignment)
        except MissingEntry:
            return result
        for submission in found.submissions:
            cells = result.setdefault(submission.student.id, {})
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    if grade.cell.cell_type == "code":  # manually graded answers are the instructor's
                        cells[grade.name] = float(grade.auto_score or 0.0)
    return result


def max_cell_scores(course: Path, assignment: str) -> dict[str, float]:
    """The points of every autograded test cell of ``assignment``."""
    from nbgrader.api import MissingEntry

    with open_gradebook(course) as gradebook:
        try:
            found = gradebook.find_assignment(assignment)
        except MissingEntry:
            return {}
        return {
            cell.name: float(cell.max_score)
            for notebook in found.notebooks for cell in notebook.grade_cells if cell.cell_type == "code"
        }


def export_grades(course: Path) -> Path:
    """``grades.csv``: nbgrader's export of the gradebook."""
    target = course / "grades.csv"
    done = run_nbgrader(course, "export", "--to", str(target))
    if done.returncode != 0:
        raise RuntimeError(f"nbgrader export failed:\n{done.stdout}\n{done.stderr}")
    return target
