"""nbgrader's autograde steps as the course runs them: sandboxed kernel, up to the last test, the check around it."""
from __future__ import annotations

import pytest
from nbformat.v4 import new_code_cell, new_notebook
from nbgrader.preprocessors import Execute, SaveAutoGrades

from coursegrader.autograde import (NOT_RUN, SandboxExecute, autograde_preprocessors, runs_in_sandbox, scored_cells_only,
                                    scores_by_verdict)
from coursegrader.check.nbgrader_steps import SaveVerifiedGrades, StartCheck, VerifyOutside


def _graded_notebook():
    return new_notebook(cells=[
        new_code_cell("x = 20", metadata={"nbgrader": {"locked": True, "grade_id": "setup"}}),
        new_code_cell("assert x == 20", metadata={"nbgrader": {"grade": True, "grade_id": "x_visible", "points": 1}}),
        new_code_cell("print('the closing experiment ran')"),
    ])


@pytest.mark.slow
def test_autograde_runs_up_to_the_last_test_and_says_what_it_did_not_run():
    notebook, _ = scored_cells_only(Execute)(timeout=60).preprocess(_graded_notebook(), {})
    assert notebook.cells[1].execution_count is not None and not notebook.cells[1].outputs  # the test ran and passed
    assert [o.get("text") for o in notebook.cells[2].outputs] == [NOT_RUN]
    everything, _ = Execute(timeout=60).preprocess(_graded_notebook(), {})
    assert "the closing experiment ran" in everything.cells[2].outputs[0]["text"]


def test_every_cell_is_run_when_the_instructor_asks(monkeypatch):
    monkeypatch.delenv("NNLAB_GRADE_ALL_CELLS", raising=False)
    assert Execute not in autograde_preprocessors(sandboxed=False)
    assert Execute in autograde_preprocessors(sandboxed=False, all_cells=True)
    monkeypatch.setenv("NNLAB_GRADE_ALL_CELLS", "1")
    assert Execute in autograde_preprocessors(sandboxed=False)


def test_the_check_starts_right_before_the_notebook_and_is_judged_before_scores_are_saved():
    steps = autograde_preprocessors(sandboxed=True)
    execute = next(index for index, step in enumerate(steps) if issubclass(step, Execute))
    assert steps.index(StartCheck) == execute - 1  # runs while the notebook runs
    assert execute < steps.index(VerifyOutside) < steps.index(SaveVerifiedGrades)
    assert SaveAutoGrades not in steps  # nbgrader's own scoring by outputs is replaced
    assert scores_by_verdict(steps)
    assert not scores_by_verdict([step for step in steps if step is not VerifyOutside])
    assert not scores_by_verdict([SaveAutoGrades if step is SaveVerifiedGrades else step for step in steps])


def test_the_sandbox_is_recognized_by_class_not_by_name(monkeypatch):
    monkeypatch.delenv("NNLAB_SANDBOX", raising=False)
    assert runs_in_sandbox(autograde_preprocessors())
    assert runs_in_sandbox(autograde_preprocessors(all_cells=True))
    assert not runs_in_sandbox(autograde_preprocessors(sandboxed=False))
    impostor = type("SandboxExecute", (Execute,), {})  # the right name is not enough
    assert not runs_in_sandbox([impostor]) and runs_in_sandbox([SandboxExecute])
    monkeypatch.setenv("NNLAB_SANDBOX", "off")
    assert not runs_in_sandbox(autograde_preprocessors())


def _message(kind: str, content: dict) -> dict:
    return {"msg_type": kind, "header": {"msg_type": kind}, "parent_header": {"msg_id": "m"}, "content": content,
            "metadata": {}}


def test_a_cells_output_is_capped_as_it_arrives_but_errors_are_always_kept():
    from coursegrader import contracts

    execute = SandboxExecute(timeout=60)
    execute.reset_execution_trackers()
    execute.clear_before_next_output = False  # (set per cell by nbclient when it executes one)
    execute._output_bytes = {}
    cell = new_code_cell("flood()")
    big = {"data": {"text/plain": "x" * (contracts.MAX_CELL_OUTPUT_BYTES // 2 + 1)}, "metadata": {}}
    for _ in range(5):
        execute.process_message(_message("display_data", big), cell, 0)
    execute.process_message(_message("stream", {"name": "stdout", "text": "more\n"}), cell, 0)
    kinds = [o["output_type"] for o in cell.outputs]
    assert kinds == ["display_data", "stream"]  # one display fits; the rest is dropped, with one note
    assert "kept only the first" in cell.outputs[1]["text"]
    error = {"ename": "AssertionError", "evalue": "y" * 10**6, "traceback": ["line " * 1000] * 500}
    execute.process_message(_message("error", error), cell, 0)
    kept = cell.outputs[-1]
    assert kept["output_type"] == "error" and len(kept["evalue"]) <= 2000 and len(kept["traceback"]) <= 51
    other = new_code_cell("print('fine')")  # each cell has its own budget
    execute.process_message(_message("stream", {"name": "stdout", "text": "fine\n"}), other, 1)
    assert other.outputs[0]["text"] == "fine\n"
