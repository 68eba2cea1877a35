"""The independent check of whole submissions: solutions pass, released notebooks fail every group."""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from coursegrader.check.fresh_run import FreshRun
from coursegrader.check.fresh_run import notebook_cells
from coursegrader.check.tasks import resolve, specification
from coursegrader.check.verdicts import start, verify

ROOT = Path(__file__).resolve().parents[3]
ASSIGNMENTS = sorted(p.name for p in (ROOT / "exercises" / "source").iterdir() if p.is_dir())


def test_every_assignment_has_a_check_for_every_task(course_notebook):
    for assignment in ASSIGNMENTS:
        tasks = specification(assignment)
        assert tasks is not None, assignment
        _, sources = notebook_cells(course_notebook("source", assignment))
        assert set(tasks) == set(sources), assignment


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solutions_pass_and_released_notebooks_fail_the_independent_check(released, assignment, course_notebook):
    tasks = specification(assignment)
    solved = verify(assignment, course_notebook("source", assignment), seed=20261122, cell_timeout=60)
    assert solved.problem == "" and solved.failures == {}
    blank_notebook = nbformat.read(released / assignment / f"{assignment}.ipynb", as_version=4)
    blank = verify(assignment, blank_notebook, seed=20261122, cell_timeout=60)
    # every group of every task fails: visible, hidden, and validation where the task has one
    groups = {name: list(task.probe(resolve(task.reference), 1)) for name, task in tasks.items()}
    assert set(blank.failures) == {(t, g) for t in tasks for g in groups[t]}


def test_a_cell_the_static_check_refuses_fails_both_groups_without_running(course_notebook):
    notebook = course_notebook("source", "cnn_sizing")
    cell = next(c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "conv_params")
    cell.source = "def conv_params(*args, **kwargs):\n    return eval('1')\n"
    pending = start("cnn_sizing", notebook, seed=3, cell_timeout=60)
    assert pending.static["conv_params"] == ["uses eval()"] and pending.static["receptive_field"] == []
    verdicts = pending.finish()
    assert set(verdicts.failures) == {("conv_params", "visible"), ("conv_params", "hidden")}
    assert "uses eval(), which the grader does not accept" in verdicts.failures["conv_params", "visible"]
    assert pending.run not in FreshRun._unfinished  # the run is cleaned up once judged


def test_an_assignment_without_probes_is_not_checked():
    from nbformat.v4 import new_notebook

    pending = start("no_such_assignment", new_notebook(), seed=1)
    assert pending.run is None and pending.finish().failures == {}
