"""The course's configuration, loaded as nbgrader loads it and checked by the classes it names."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from coursegrader.course_config import ConfigurationError, check_isolation, course_id, environment, hidden_from_students, load

ROOT = Path(__file__).resolve().parents[2]
needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")


def test_the_course_id_comes_from_the_loaded_configuration(tmp_path):
    assert course_id(ROOT / "exercises") == "nnlab-training-by-experiment"
    # written in any way Python allows, not only the way a regular expression expects
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\nname = 'my' + '-course'\nc.CourseDirectory.course_id = name\n")
    assert course_id(tmp_path) == "my-course"
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\n")
    with pytest.raises(ConfigurationError, match="sets no CourseDirectory.course_id"):
        course_id(tmp_path)


def test_a_broken_or_missing_configuration_is_named(tmp_path):
    with pytest.raises(ConfigurationError, match="does not exist"):
        load(tmp_path)
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\nc.Oops = undefined_name\n")
    with pytest.raises(ConfigurationError, match="could not be loaded: NameError"):
        load(tmp_path)


@needs_bwrap
def test_grading_refuses_to_run_without_isolation_unless_told(tmp_path, monkeypatch):
    course = tmp_path / "course"
    course.mkdir()
    (course / "nbgrader_config.py").write_text("c = get_config()\nc.CourseDirectory.course_id = 'x'\n")
    monkeypatch.delenv("NNLAB_SANDBOX", raising=False)
    with pytest.raises(ConfigurationError, match="does not run kernels in the sandbox"):
        check_isolation(course)
    # a step merely named like the sandbox's is not the sandbox
    (course / "nbgrader_config.py").write_text(
        "from nbgrader.preprocessors import Execute\nc = get_config()\n"
        "c.Autograde.autograde_preprocessors = [type('SandboxExecute', (Execute,), {})]\n")
    with pytest.raises(ConfigurationError, match="does not run kernels in the sandbox"):
        check_isolation(course)
    # sandboxed, but scored by the notebook's outputs alone
    (course / "nbgrader_config.py").write_text(
        "from coursegrader.autograde import SandboxExecute\nfrom nbgrader.preprocessors import SaveAutoGrades\n"
        "c = get_config()\nc.Autograde.autograde_preprocessors = [SandboxExecute, SaveAutoGrades]\n")
    with pytest.raises(ConfigurationError, match="does not let the independent check decide the scores"):
        check_isolation(course)
    shutil.copy(ROOT / "exercises" / "nbgrader_config.py", course)
    check_isolation(course)  # the course's own configuration: every kernel sandboxed, every score checked
    monkeypatch.setenv("NNLAB_SANDBOX", "off")
    (course / "nbgrader_config.py").write_text("c = get_config()\n")
    check_isolation(course)  # the explicit opt-out


def test_the_course_and_the_repository_history_are_hidden_from_students(tmp_path):
    (tmp_path / ".git").mkdir()
    course = tmp_path / "exercises"
    course.mkdir()
    assert hidden_from_students(course) == [course.resolve(), (tmp_path / ".git").resolve()]
    env = environment(course, jobs=2)
    assert env["NNLAB_SANDBOX_HIDE"].split(":") == [str(course.resolve()), str((tmp_path / ".git").resolve())]
    assert env["NNLAB_PROGRESS"] == "0" and env["OMP_NUM_THREADS"]
