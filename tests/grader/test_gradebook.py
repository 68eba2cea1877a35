"""The gradebook: where it lives, and what it reports before anything is graded."""
from __future__ import annotations

from coursegrader.gradebook import cell_scores, gradebook_url, is_registered, max_cell_scores


def test_the_gradebook_is_sqlite_in_the_course_unless_told(tmp_path, monkeypatch):
    monkeypatch.delenv("NNLAB_GRADEBOOK_URL", raising=False)
    assert gradebook_url(tmp_path) == f"sqlite:///{tmp_path / 'gradebook.db'}?timeout=300"
    monkeypatch.setenv("NNLAB_GRADEBOOK_URL", "postgresql://grader@db/course")
    assert gradebook_url(tmp_path) == "postgresql://grader@db/course"


def test_an_assignment_the_gradebook_does_not_know_has_no_scores(tmp_path, monkeypatch):
    monkeypatch.delenv("NNLAB_GRADEBOOK_URL", raising=False)
    assert not is_registered(tmp_path, "dropout")
    assert cell_scores(tmp_path, "dropout") == {} and max_cell_scores(tmp_path, "dropout") == {}


def test_registering_students_adds_the_missing_ones_once(tmp_path, monkeypatch):
    from coursegrader.gradebook import open_gradebook, register_students

    monkeypatch.delenv("NNLAB_GRADEBOOK_URL", raising=False)
    assert register_students(tmp_path, ["s002", "s001", "s002"]) == ["s001", "s002"]
    assert register_students(tmp_path, ["s001", "s003"]) == ["s003"]  # s001 is known already
    with open_gradebook(tmp_path) as gradebook:
        assert sorted(s.id for s in gradebook.students) == ["s001", "s002", "s003"]
