"""Several nbgrader steps in one process (coursegrader.batch): the same results as nbgrader's
own commands, one per assignment, and a failure that names its assignment."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from coursegrader.batch import run_steps
from coursegrader.course_config import run_nbgrader
from coursegrader.gradebook import is_registered
from coursegrader.releasing import release

ROOT = Path(__file__).resolve().parents[2]
COURSE = ROOT / "exercises"


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


def test_the_command_line_names_its_steps():
    done = subprocess.run([sys.executable, "-m", "coursegrader.batch", "autograde", "clipping"],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2 and "generate_assignment|release_assignment|collect" in done.stderr
