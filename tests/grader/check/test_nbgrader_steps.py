"""The check's two nbgrader steps: started before the notebook runs, judged on the cells that are scored."""
from __future__ import annotations

import pytest

from coursegrader import contracts
from coursegrader.check.nbgrader_steps import PENDING, StartCheck, VerifyOutside
from coursegrader.check.verdicts import PendingCheck

pytestmark = pytest.mark.initialization


@pytest.mark.slow
def test_check_started_before_the_notebook_runs_judges_the_cells_that_are_scored(tmp_path, course_notebook):
    notebook = course_notebook("source", "initialization")
    resources = {"nbgrader": {"assignment": "initialization"}}
    secret = str(tmp_path / "secret")
    StartCheck(secret_file=secret).preprocess(notebook, resources)
    assert isinstance(resources[PENDING], PendingCheck)
    # A step between the two changed a task cell: the check judges the cell that is scored.
    cell = next(c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "fans")
    cell.source = "def fans(weight):\n    return (1, 1)\n"
    notebook, resources = VerifyOutside(secret_file=secret).preprocess(notebook, resources)
    assert PENDING not in resources
    verdict = contracts.Verdict.read(notebook.metadata)
    # (1, 1) for every weight: wrong fans, and no ValueError for a 1-D tensor
    assert set(verdict.failed) == {"fans_visible", "fans_hidden", "fans_validation"}
    # Every test cell of fans passed in the notebook (it never ran here): the check overrules them.
    assert {o["cell"] for o in verdict.overruled} == {"fans_visible", "fans_hidden", "fans_validation"}
    visible = next(c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "fans_visible")
    assert visible.outputs[-1]["ename"] == contracts.CHECK_FAILED
    assert (tmp_path / "secret").read_text().strip()  # the secret was created on first use


@pytest.mark.slow
def test_a_test_cell_that_failed_in_the_notebook_keeps_its_own_message(tmp_path, course_notebook):
    from nbformat.v4 import new_output

    notebook = course_notebook("source", "initialization")
    cell = next(c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "fans")
    cell.source = "def fans(weight):\n    return (1, 1)\n"
    visible = next(c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "fans_visible")
    visible.outputs = [new_output("error", ename="GradingError", evalue="fans returned (1, 1)", traceback=[])]
    notebook, _ = VerifyOutside(secret_file=str(tmp_path / "secret")).preprocess(
        notebook, {"nbgrader": {"assignment": "initialization"}})
    assert [o["ename"] for o in visible.outputs] == ["GradingError"]
    assert [o["cell"] for o in contracts.Verdict.read(notebook.metadata).overruled] == ["fans_hidden", "fans_validation"]


def _test_cell(grade_id: str, outputs: list, points: float = 2.0):
    from nbformat.v4 import new_code_cell

    cell = new_code_cell("assert True", metadata={"nbgrader": {"grade": True, "grade_id": grade_id, "points": points}})
    cell.outputs = outputs
    return cell


def test_a_failed_check_scores_zero_whatever_the_cell_showed():
    from nbformat.v4 import new_output

    from coursegrader.check.nbgrader_steps import verified_score

    says_ok = [new_output("execute_result", data={"text/plain": "'ok'"}, execution_count=1)]
    resources = {"nbgrader": {"assignment": "initialization"},
                 contracts.VERDICT_RESOURCE: contracts.Verdict(failed={"fans_hidden": "wrong"})}
    assert verified_score(_test_cell("fans_hidden", says_ok), resources) == 0.0  # nbgrader alone: 2 points
    assert verified_score(_test_cell("fans_visible", says_ok), resources) == 2.0  # its group passed
    # a number larger than the cell's points is clamped; an output nbgrader cannot read scores 0
    big = [new_output("execute_result", data={"text/plain": "1000"}, execution_count=1)]
    assert verified_score(_test_cell("fans_visible", big), resources) <= 2.0
    unreadable = [new_output("execute_result", data={"text/html": "<b>ok</b>"}, execution_count=1)]
    assert verified_score(_test_cell("fans_visible", unreadable), resources) == 0.0
    # a checked assignment without a verdict: nothing is vouched for
    assert verified_score(_test_cell("fans_visible", []), {"nbgrader": {"assignment": "initialization"}}) == 0.0
    # an assignment the grader has no check for keeps nbgrader's score
    assert verified_score(_test_cell("x_visible", []), {"nbgrader": {"assignment": "no_such"}}) == 2.0
