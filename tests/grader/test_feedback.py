"""Feedback: hidden tests' code never shown, one trusted message per failed test, nothing the student printed."""
from __future__ import annotations

import nbformat
from nbformat.v4 import new_code_cell, new_notebook, new_output

from coursegrader import contracts, feedback


def test_feedback_redacts_lines_of_hidden_tests():
    secrets = feedback._hidden_lines([nbformat.v4.new_code_cell("x = 1\n### BEGIN HIDDEN TESTS\nrng = torch.Generator().manual_seed(1121)\n")],
                                     feedback.HIDDEN_MARKER)
    text = feedback.redact("fans failed\nleak: rng = torch.Generator().manual_seed(1121)", secrets)
    assert "manual_seed(1121)" not in text and text.startswith("fans failed")


def test_hidden_tests_become_a_note_and_failures_carry_the_checks_message():
    hidden = new_code_cell("assert fans(w) == (3, 8)\n### BEGIN HIDDEN TESTS\nassert fans(torch.empty(4, 5)) == (5, 4)\n",
                           metadata={"nbgrader": {"grade": True, "grade_id": "fans_hidden", "points": 2}})
    hidden.outputs = [new_output("error", ename="AssertionError", evalue="assert fans(torch.empty(4, 5)) == (5, 4)", traceback=[])]
    visible = new_code_cell("assert fans(w) == (3, 8)", metadata={"nbgrader": {"grade": True, "grade_id": "fans_visible", "points": 1}})
    visible.outputs = [new_output("error", ename="AssertionError", evalue="fans returned (1, 1)", traceback=[])]
    student = new_code_cell("print('my own experiment')")
    student.outputs = [new_output("stream", name="stdout", text="my own experiment\n")]
    notebook = new_notebook(cells=[student, visible, hidden])
    contracts.Verdict(failed={"fans_visible": "fans(torch.empty(8, 3)) returned (1, 1); expected (3, 8)"}).store(notebook.metadata)
    notebook, _ = feedback.HideHiddenTests().preprocess(notebook, {})
    assert student.outputs == []
    assert visible.outputs[0]["ename"] == contracts.CHECK_FAILED and "expected (3, 8)" in visible.outputs[0]["evalue"]
    assert hidden.source == "# Hidden tests (2 points): their code is not shown."
    assert "(5, 4)" not in hidden.outputs[0]["evalue"]  # the notebook's message quoted a hidden line
