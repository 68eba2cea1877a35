"""Releasing assignments and finding submissions: what is graded, what is refused and why, what is never written."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from coursegrader.releasing import assignments, exchange_root, prepare_lab, released_and_current, submissions

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
    for _ in range(2):  # running it again changes nothing the student made
        prepare_lab(course, workspace)
    outbound = course / "exchange" / "nnlab-training-by-experiment" / "outbound"
    assert sorted(p.name for p in outbound.iterdir()) == ASSIGNMENTS
    assert work.read_text() == "the student's own work"
    config = (workspace / "nbgrader_config.py").read_text()
    assert "nnlab-training-by-experiment" in config and str(course / "exchange") in config
    assert all(released_and_current(course, name) for name in ASSIGNMENTS)
