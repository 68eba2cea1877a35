"""Releasing assignments and finding submissions: what is graded, what is refused and why, what is never written."""
from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest
from nbgrader.utils import get_username

from coursegrader.course_config import course_id, nbgrader_command
from coursegrader.releasing import assignments, collect, exchange_root, prepare_lab, released_and_current, return_feedback, \
    submissions

ROOT = Path(__file__).resolve().parents[2]
COURSE = ROOT / "exercises"
COURSE_ID = course_id(COURSE)
ASSIGNMENTS = sorted(p.name for p in (COURSE / "source").iterdir() if (p / f"{p.name}.ipynb").is_file())


def test_assignments_are_the_source_folders_with_their_notebook(tmp_path):
    assert assignments(COURSE) == ASSIGNMENTS
    (tmp_path / "source" / "empty").mkdir(parents=True)
    (tmp_path / "source" / "a").mkdir()
    (tmp_path / "source" / "a" / "a.ipynb").write_text("{}")
    assert assignments(tmp_path) == ["a"]
    with pytest.raises(FileNotFoundError, match="is .* an nbgrader course root"):
        assignments(tmp_path / "nowhere")


def test_submissions_that_cannot_be_graded_are_refused_with_a_reason(tmp_path):
    def submit(student, assignment, notebook=True):
        folder = tmp_path / "submitted" / student / assignment
        folder.mkdir(parents=True)
        if notebook:
            (folder / f"{assignment}.ipynb").write_text("{}")

    submit("s001", "dropout")
    submit("s002", "dropout", notebook=False)
    submit("s003", "no_such")
    submit("bad id!", "dropout")
    (tmp_path / "submitted" / "stray.txt").write_text("not a student")
    found, rejected = submissions(tmp_path, ["dropout"])
    assert found == [("s001", "dropout")]
    reasons = {(o.student, o.detail) for o in rejected}
    assert reasons == {("bad id!", "student id must use letters, digits, '.', '_' or '-' only"),
                       ("s002", "no dropout.ipynb in the submission"), ("s003", "no assignment called 'no_such'")}
    assert all(o.status == "rejected" for o in rejected)
    assert submissions(tmp_path / "empty", ["dropout"]) == ([], [])


def test_a_release_is_current_only_when_newer_than_its_source(tmp_path):
    (tmp_path / "source" / "a").mkdir(parents=True)
    (tmp_path / "source" / "a" / "a.ipynb").write_text("{}")
    assert not released_and_current(tmp_path, "a")  # never released


def test_the_exchange_is_in_the_course_unless_told(tmp_path, monkeypatch):
    monkeypatch.delenv("NNLAB_EXCHANGE", raising=False)
    assert exchange_root(tmp_path) == tmp_path / "exchange"
    monkeypatch.setenv("NNLAB_EXCHANGE", str(tmp_path / "elsewhere"))
    assert exchange_root(tmp_path) == tmp_path / "elsewhere"


@pytest.mark.slow
def test_lab_releases_to_a_local_exchange_and_keeps_student_work(tmp_path, monkeypatch):
    course = tmp_path / "course"
    shutil.copytree(COURSE / "source", course / "source")
    shutil.copy(COURSE / "nbgrader_config.py", course)
    workspace = tmp_path / "student"
    (workspace / "initialization").mkdir(parents=True)
    work = workspace / "initialization" / "initialization.ipynb"
    work.write_text("the student's own work")
    monkeypatch.delenv("NNLAB_EXCHANGE", raising=False)
    prepare_lab(course, workspace)
    released = {name: (course / "release" / name / f"{name}.ipynb").stat().st_mtime_ns for name in ASSIGNMENTS}
    prepare_lab(course, workspace)  # running it again changes nothing the student made, and releases nothing anew
    assert released == {name: (course / "release" / name / f"{name}.ipynb").stat().st_mtime_ns for name in ASSIGNMENTS}
    outbound = course / "exchange" / "nnlab-training-by-experiment" / "outbound"
    assert sorted(p.name for p in outbound.iterdir()) == ASSIGNMENTS
    assert work.read_text() == "the student's own work"
    config = (workspace / "nbgrader_config.py").read_text()
    assert "nnlab-training-by-experiment" in config and str(course / "exchange") in config
    assert all(released_and_current(course, name) for name in ASSIGNMENTS)


def _nbgrader_as_student(workspace: Path, exchange: Path, *args: str) -> None:
    # what JupyterLab's Assignment List does for a student: fetch and submit through the exchange
    done = subprocess.run([*nbgrader_command(), *args, "--course", COURSE_ID, f"--Exchange.root={exchange}"],
                          cwd=workspace, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def _one_submission_through_the_exchange(tmp_path, monkeypatch, released_course):
    """A copy of the course handed out to a local exchange, and clipping fetched and submitted
    through it; ``(course, exchange, workspace, student)``."""
    course = tmp_path / "exercises"
    shutil.copytree(released_course, course)
    exchange = tmp_path / "exchange"
    monkeypatch.setenv("NNLAB_EXCHANGE", str(exchange))
    workspace = tmp_path / "student"
    prepare_lab(course, workspace)
    student = get_username()  # the login nbgrader's local exchange knows a student by
    _nbgrader_as_student(workspace, exchange, "fetch_assignment", "clipping")
    _nbgrader_as_student(workspace, exchange, "submit", "clipping")
    return course, exchange, workspace, student


@pytest.mark.slow
def test_collect_brings_the_latest_submissions_and_keeps_those_placed_by_hand(tmp_path, monkeypatch, released_course):
    course, exchange, workspace, student = _one_submission_through_the_exchange(tmp_path, monkeypatch, released_course)
    notebook = workspace / "clipping" / "clipping.ipynb"
    assert collect(course) == [(student, "clipping", "collected")]
    first = (course / "submitted" / student / "clipping" / "timestamp.txt").read_text()
    assert collect(course) == []  # nothing new: nothing changes

    time.sleep(1.1)  # nbgrader's timestamps tell submissions apart
    notebook.write_text(notebook.read_text().replace("# YOUR CODE HERE", "# YOUR CODE HERE, second try", 1))
    _nbgrader_as_student(workspace, exchange, "submit", "clipping")
    assert collect(course) == [(student, "clipping", "collected a newer submission")]
    submitted = course / "submitted" / student / "clipping"
    assert "second try" in (submitted / "clipping.ipynb").read_text()
    assert (submitted / "timestamp.txt").read_text() != first
    assert len(list((exchange / COURSE_ID / "inbound").iterdir())) == 2  # the first one is still there

    # an instructor's own copy of a submission (no timestamp) is never replaced
    shutil.rmtree(submitted)
    submitted.mkdir()
    (submitted / "clipping.ipynb").write_text("the instructor's copy")
    assert collect(course) == [(student, "clipping", "kept: the submission placed in submitted/ by hand")]
    assert (submitted / "clipping.ipynb").read_text() == "the instructor's copy"


@pytest.mark.slow
def test_feedback_returns_to_the_submissions_that_came_through_the_exchange(tmp_path, monkeypatch, released_course):
    from coursegrader.cli import grade

    course, exchange, workspace, student = _one_submission_through_the_exchange(tmp_path, monkeypatch, released_course)
    # and one placed in submitted/ by hand: graded, but it has no exchange to return to
    by_hand = course / "submitted" / "s-by-hand" / "clipping"
    by_hand.mkdir(parents=True)
    shutil.copy(course / "release" / "clipping" / "clipping.ipynb", by_hand)
    assert return_feedback(course) == []  # nothing graded yet
    grade(course, timeout=600)
    assert (course / "feedback" / "s-by-hand" / "clipping" / "clipping.html").is_file()

    assert return_feedback(course) == [(student, "clipping")]
    _nbgrader_as_student(workspace, exchange, "fetch_feedback", "clipping")
    fetched = list((workspace / "clipping" / "feedback").rglob("clipping.html"))
    assert len(fetched) == 1
    assert fetched[0].read_bytes() == (course / "feedback" / student / "clipping" / "clipping.html").read_bytes()
    assert len(list((exchange / COURSE_ID / "feedback").iterdir())) == 1  # the one returned, filed by its hash


def test_collect_without_an_exchange_does_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("NNLAB_EXCHANGE", str(tmp_path / "no exchange"))
    shutil.copytree(COURSE / "source" / "clipping", tmp_path / "source" / "clipping")
    shutil.copy(COURSE / "nbgrader_config.py", tmp_path)
    assert collect(tmp_path) == []
    assert not (tmp_path / "submitted").exists()
