"""The command line: its commands, and clear errors instead of tracebacks."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from coursegrader.cli import course_here, default_course, grade, main

ROOT = Path(__file__).resolve().parents[2]


def test_the_default_course_is_the_current_folder_when_it_is_one_else_the_hubs_else_the_repositorys(
        tmp_path, monkeypatch):
    monkeypatch.delenv("NNLAB_HUB_COURSE", raising=False)
    assert default_course() == ROOT / "exercises"
    here, on_the_hub = tmp_path / "here", tmp_path / "hub-course"
    here.mkdir()
    monkeypatch.chdir(here)
    assert course_here() == ROOT / "exercises"
    (here / "nbgrader_config.py").write_text("c = get_config()\n")  # a student's workspace: no source/
    assert course_here() == ROOT / "exercises"
    for course in (here, on_the_hub):  # an instructor's copy of the course
        (course / "source").mkdir(parents=True)
        (course / "nbgrader_config.py").write_text("c = get_config()\n")
    assert course_here() == here
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NNLAB_HUB_COURSE", str(on_the_hub))  # what the hub sets in an instructor's server
    assert course_here() == on_the_hub


def test_a_folder_without_configuration_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["grade", "--course", str(tmp_path)])
    assert stop.value.code == 2 and "has no nbgrader_config.py" in capsys.readouterr().err


def test_jobs_must_be_positive(tmp_path, capsys):
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\n")
    with pytest.raises(SystemExit):
        main(["grade", "--course", str(tmp_path), "--jobs", "0"])
    assert "--jobs must be at least 1" in capsys.readouterr().err
    with pytest.raises(ValueError, match="jobs must be a positive int"):
        grade(tmp_path, jobs=0)


def test_a_configuration_that_skips_the_sandbox_stops_grading_with_a_message(tmp_path, monkeypatch):
    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap is not installed")
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\nc.CourseDirectory.course_id = 'x'\n")
    monkeypatch.delenv("NNLAB_SANDBOX", raising=False)
    done = subprocess.run([sys.executable, "-m", "coursegrader", "grade", "--course", str(tmp_path)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and "does not run kernels in the sandbox" in done.stderr
    assert "Traceback" not in done.stderr

