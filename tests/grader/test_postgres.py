"""The gradebook on a real PostgreSQL server, started on loopback for these tests.

``NNLAB_GRADEBOOK_URL=postgresql://...`` moves the gradebook off the course folder's SQLite
file so that several graders (and the formgrader) can write at once. These tests start
Debian's PostgreSQL (``make postgres-deps`` installs it), write to it from several
processes at once through nbgrader's own gradebook API, and grade submissions with two
workers against it: every row must be there exactly once, with the grades SQLite gives.
"""
from __future__ import annotations

import multiprocessing
import shutil
from pathlib import Path

import pytest

from coursegrader.gradebook import open_gradebook, register_students
from postgres_server import postgres_server, server_binaries
from two_students import submit_solution_and_blank

pytestmark = pytest.mark.skipif(server_binaries() is None,
                                reason="PostgreSQL is not installed (make postgres-deps)")

GRADERS, STUDENTS_EACH = 6, 8


@pytest.fixture(scope="module")
def postgres_url():
    with postgres_server() as url:
        yield url


def _write_grades(grader: int, barrier) -> None:
    """One grader: register its students, submit both assignments, set every grade."""
    barrier.wait()  # every grader starts writing at the same moment
    with open_gradebook(Path(".")) as gradebook:  # NNLAB_GRADEBOOK_URL, inherited from the test
        # what every worker's nbgrader does for its student; all of them at once for "shared"
        gradebook.update_or_create_student("shared", first_name=f"grader {grader}")
        for k in range(STUDENTS_EACH):
            student = f"s{grader}-{k}"
            gradebook.update_or_create_student(student)
            for assignment in ("first", "second"):
                submission = gradebook.add_submission(assignment, student)
                for grade in submission.notebooks[0].grades:
                    grade.auto_score = float(grader + k) / 100
                gradebook.db.commit()


def _prepare() -> None:
    # what `coursegrader grade` does before its workers start: register every student it found
    register_students(Path("."), ["shared"] + [f"s{g}-{k}" for g in range(GRADERS) for k in range(STUDENTS_EACH)])
    with open_gradebook(Path(".")) as gradebook:
        for assignment in ("first", "second"):
            gradebook.add_assignment(assignment)
            gradebook.add_notebook("tasks", assignment)
            for cell in ("task_visible", "task_hidden"):
                gradebook.add_grade_cell(cell, "tasks", assignment, max_score=1.0, cell_type="code")


def test_graders_writing_at_once_lose_and_double_nothing(postgres_url, monkeypatch):
    monkeypatch.setenv("NNLAB_GRADEBOOK_URL", postgres_url)
    _prepare()
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(GRADERS)
    graders = [context.Process(target=_write_grades, args=(g, barrier)) for g in range(GRADERS)]
    for process in graders:
        process.start()
    for process in graders:
        process.join(timeout=120)
    assert [p.exitcode for p in graders] == [0] * GRADERS, "a grader failed while the others wrote"
    with open_gradebook(Path(".")) as gradebook:
        students = sorted(s.id for s in gradebook.students)
        assert students == sorted(["shared"] + [f"s{g}-{k}" for g in range(GRADERS) for k in range(STUDENTS_EACH)])
        for assignment in ("first", "second"):
            submissions = gradebook.find_assignment(assignment).submissions
            assert len(submissions) == GRADERS * STUDENTS_EACH  # one each: none lost, none doubled
            for submission in submissions:
                grader, k = map(int, submission.student.id[1:].split("-"))
                scores = [g.auto_score for g in submission.notebooks[0].grades]
                assert scores == [float(grader + k) / 100] * 2, submission.student.id


@pytest.mark.slow
def test_two_workers_grading_into_postgres_give_the_grades_sqlite_gives(postgres_url, released_course, tmp_path,
                                                                         monkeypatch):
    from coursegrader.cli import grade
    from coursegrader.gradebook import cell_scores

    # two assignments per student, so that both workers grade the same student at once
    assignments = ("initialization", "cnn_sizing")
    scores = {}
    for backend in ("sqlite", "postgres"):
        course = tmp_path / backend / "exercises"
        shutil.copytree(released_course, course)
        submit_solution_and_blank(course, assignments)
        if backend == "postgres":
            monkeypatch.setenv("NNLAB_GRADEBOOK_URL", postgres_url)  # grade() re-registers the assignments there
        else:
            monkeypatch.delenv("NNLAB_GRADEBOOK_URL", raising=False)
        outcomes = grade(course, jobs=2)
        assert [outcome.status for outcome in outcomes] == ["graded"] * 2 * len(assignments), outcomes
        scores[backend] = {assignment: cell_scores(course, assignment) for assignment in assignments}
        assert (course / "grades.csv").read_text().count("\n") >= 1 + 2 * len(assignments)
    assert scores["postgres"] == scores["sqlite"]
    for assignment in assignments:
        assert sum(scores["postgres"][assignment]["s001"].values()) > 0  # the solution scores
        assert sum(scores["postgres"][assignment]["s002"].values()) == 0  # the blank notebook does not
