"""The notebooks the site offers for download (book/_ext/course_downloads.py)."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest

from coursegrader.releasing import release

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "_ext"))
import course_downloads  # noqa: E402


def _cells(notebook):
    return [(c.cell_type, c.source, c.metadata.get("nbgrader")) for c in notebook.cells]


@pytest.mark.slow
def test_the_students_version_is_what_nbgrader_releases(tmp_path):
    # the oracle: nbgrader's own generate_assignment, through the course's release command
    course = tmp_path / "course"
    shutil.copytree(ROOT / "exercises" / "source" / "clipping", course / "source" / "clipping")
    shutil.copy(ROOT / "exercises" / "nbgrader_config.py", course)
    release(course)
    released = nbformat.read(course / "release" / "clipping" / "clipping.ipynb", as_version=4)
    ours = course_downloads.student_version(ROOT / "exercises" / "source" / "clipping" / "clipping.ipynb", ROOT / "exercises")
    assert _cells(ours) == _cells(released)


def test_each_chapter_becomes_a_notebook_with_its_code_cells(tmp_path):
    (tmp_path / "book").mkdir()
    shutil.copy(ROOT / "_toc.yml", tmp_path)
    for chapter in (ROOT / "book").glob("*.md"):
        shutil.copy(chapter, tmp_path / "book")
    written = course_downloads.write_chapter_notebooks(tmp_path)
    chapters = [p for p in (ROOT / "book").glob("*.md") if p.read_text().startswith("---\njupytext:")]
    assert sorted(p.stem for p in written) == sorted(p.stem for p in chapters)
    for path in written:
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
        source = jupytext.read(ROOT / "book" / f"{path.stem}.md")
        assert [c.source for c in notebook.cells if c.cell_type == "code"] == [c.source for c in source.cells if c.cell_type == "code"]
        assert notebook.metadata["kernelspec"]["name"] == "python3"
