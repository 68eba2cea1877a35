"""The smallest class worth grading: for each assignment, s001 submits the solution and s002
the released notebook untouched (the first must score, the second must not)."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import nbformat


def submit_solution_and_blank(course: Path, assignments: Sequence[str]) -> None:
    """Put both students' submissions of ``assignments`` into ``course/submitted``."""
    for assignment in assignments:
        solution = nbformat.read(course / "source" / assignment / f"{assignment}.ipynb", as_version=4)
        blank = nbformat.read(course / "release" / assignment / f"{assignment}.ipynb", as_version=4)
        for student, notebook in (("s001", solution), ("s002", blank)):
            folder = course / "submitted" / student / assignment
            folder.mkdir(parents=True)
            nbformat.write(notebook, folder / f"{assignment}.ipynb")
