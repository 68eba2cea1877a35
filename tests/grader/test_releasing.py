"""Releasing assignments and finding submissions: what is graded, what is refused and why, what is never written."""
from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest

from coursegrader.batch import run_steps
from coursegrader.course_config import run_nbgrader
from coursegrader.gradebook import is_registered
from coursegrader.releasing import assignments, exchange_root, prepare_lab, release, released_and_current, submissions

ROOT = Path(__file__).resolve().parents[2]
COURSE = ROOT / "exercises"
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


@pytest.mark.slow
def test_releasing_in_one_process_gives_what_nbgrader_commands_give(tmp_path):
    # the oracle: nbgrader's own command, one per assignment, on a second copy of the course
    names = ["clipping", "cnn_sizing"]
    copies = {}
    for how in ("batch", "commands"):
        course = tmp_path / how
        for name in names:
            shutil.copytree(COURSE / "source" / name, course / "source" / name)
        shutil.copy(COURSE / "nbgrader_config.py", course)
        copies[how] = course
    assert release(copies["batch"]) == names
    for name in names:
        done = run_nbgrader(copies["commands"], "generate_assignment", name, "--force")
        assert done.returncode == 0, done.stderr
    for name in names:
        ours = nbformat.read(copies["batch"] / "release" / name / f"{name}.ipynb", as_version=4)
        theirs = nbformat.read(copies["commands"] / "release" / name / f"{name}.ipynb", as_version=4)
        assert [(c.cell_type, c.source, c.metadata) for c in ours.cells] == \
               [(c.cell_type, c.source, c.metadata) for c in theirs.cells], name
        assert is_registered(copies["batch"], name)


def test_an_assignment_nbgrader_cannot_release_is_named_in_the_error(tmp_path):
    shutil.copytree(COURSE / "source" / "clipping", tmp_path / "source" / "clipping")
    (tmp_path / "source" / "broken").mkdir()
    (tmp_path / "source" / "broken" / "broken.ipynb").write_text("this is not a notebook")
    shutil.copy(COURSE / "nbgrader_config.py", tmp_path)
    with pytest.raises(RuntimeError, match="nbgrader generate_assignment broken failed"):
        release(tmp_path)
    assert (tmp_path / "release" / "clipping" / "clipping.ipynb").is_file()  # the others are still released
    with pytest.raises(ValueError, match="unknown step 'autograde'"):
        run_steps(tmp_path, "autograde", ["clipping"])
