"""The fresh run seen from the grader: which cells it runs, and that no run outlives its submission."""
from __future__ import annotations

import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from coursegrader import contracts
from coursegrader.check.fresh_run import FreshRun, notebook_cells


def test_the_run_executes_locked_setup_and_task_cells_in_order_and_nothing_else():
    notebook = new_notebook(cells=[
        new_markdown_cell("# title"),
        new_code_cell("import torch", metadata={"nbgrader": {"locked": True, "grade_id": "imports"}}),
        new_code_cell("print('experiment')"),  # the student's own cell: not part of any task
        new_code_cell("def f(x):\n    return x", metadata={"nbgrader": {"solution": True, "grade_id": "f"}}),
        new_code_cell("assert f(1) == 1", metadata={"nbgrader": {"grade": True, "grade_id": "f_visible", "points": 1}}),
    ])
    cells, tasks = notebook_cells(notebook)
    assert [c["name"] for c in cells] == ["imports", "f"]
    assert tasks == {"f": "def f(x):\n    return x"}


@pytest.mark.slow
def test_a_fresh_run_nobody_finished_is_stopped_by_the_next():
    # The notebook's kernel died before the check was judged: its fresh run must not keep
    # running (or keep its sandbox) while the next submission is graded.
    cells = [{"name": "setup", "source": "import time\ntime.sleep(300)"}]
    first = FreshRun(contracts.FreshRunRequest("initialization", cells, {}, 600), wall=900)
    second = FreshRun(contracts.FreshRunRequest("initialization", [], {}, 60), wall=120)
    try:
        assert first.process.poll() is not None and not first.private.exists()
        assert first not in FreshRun._unfinished and second in FreshRun._unfinished
    finally:
        second.stop()


@pytest.mark.slow
def test_a_run_past_its_wall_time_is_stopped_and_says_so():
    cells = [{"name": "setup", "source": "import time\ntime.sleep(300)"}]
    run = FreshRun(contracts.FreshRunRequest("initialization", cells, {}, 600), wall=5)
    try:
        assert run.finish()[1] == "the grader's own run of your code did not finish within 5 s"
        assert run.process.poll() is not None and run not in FreshRun._unfinished
    finally:
        run.stop()
    assert not run.private.exists()
