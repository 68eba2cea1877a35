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
        new_code_cell("def g(x):\n    return x", metadata={"nbgrader": {"solution": True, "grade_id": "challenge_g"}}),
    ])
    cells, tasks = notebook_cells(notebook)
    assert [c["name"] for c in cells] == ["imports", "f"]
    assert tasks == {"f": "def f(x):\n    return x"}


def _sleeping_run(wall: float) -> FreshRun:
    cells = [{"name": "setup", "source": "import time\ntime.sleep(300)"}]
    return FreshRun(contracts.FreshRunRequest("initialization", cells, ["fans"], 600), wall=wall)


@pytest.mark.slow
@pytest.mark.parametrize("sandboxed", ["on", "off"])
def test_a_fresh_run_nobody_finished_is_stopped_by_the_next(sandboxed, monkeypatch):
    # The notebook's kernel died before the check was judged: its fresh run must not keep
    # running (or keep its sandbox) while the next submission is graded.
    monkeypatch.setenv("NNLAB_SANDBOX", sandboxed)
    first = _sleeping_run(wall=900)
    second = FreshRun(contracts.FreshRunRequest("initialization", [], ["fans"], 60), wall=120)
    try:
        assert first not in FreshRun._unfinished and second in FreshRun._unfinished
        if first.process is not None:  # a process of its own: gone, with its folder
            assert first.process.poll() is not None and not first.private.exists()
        results, problem = second.finish()
        assert problem == "" and results.done  # the second ran to its end: the first's sleeper was killed
    finally:
        second.stop()


@pytest.mark.slow
@pytest.mark.parametrize("sandboxed", ["on", "off"])
def test_a_run_past_its_wall_time_is_stopped_and_says_so(sandboxed, monkeypatch):
    monkeypatch.setenv("NNLAB_SANDBOX", sandboxed)
    run = _sleeping_run(wall=5)
    try:
        assert run.finish()[1] == "the grader's own run of your code did not finish within 5 s"
        assert run not in FreshRun._unfinished
        if run.process is not None:
            assert run.process.poll() is not None
    finally:
        run.stop()
    assert run.private is None or not run.private.exists()
