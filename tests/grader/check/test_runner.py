"""The fresh run's process: tripwires that catch delegation, and what it writes for each task."""
from __future__ import annotations

import pytest
import torch

from coursegrader import contracts
from coursegrader.check import runner
from coursegrader.check.fresh_run import FreshRun, notebook_cells
from nnlab import grading


def _request(cells, seed=5, timeout=60.0):
    return contracts.FreshRunRequest(assignment="initialization", cells=cells, seed=seed, cell_timeout=timeout)


@pytest.mark.slow
def test_tripwires_catch_references_captured_before_the_tests_and_calls_through_builtins(course_notebook):
    # The fresh run on its own (the static check would refuse this cell first): a reference
    # captured when the cell runs, called through map(), trips all the same.
    cells, _ = notebook_cells(course_notebook("source", "initialization"))
    for cell in cells:
        if cell["name"] == "xavier_uniform_":
            cell["source"] = ("helpers = [torch.nn.init.xavier_uniform_]\n"
                              "def xavier_uniform_(weight, gain=1.0):\n"
                              "    return list(map(lambda f: f(weight, gain=gain), helpers))[0]\n")
    run = FreshRun(_request(cells), wall=120)
    try:
        assert run.finish() == ""
        message = (run.out / contracts.error_file("xavier_uniform_")).read_text()
        assert message.startswith("xavier_uniform_: your code called torch.nn.init.xavier_uniform_")
        assert grading.NO_CREDIT in message
        for other in ("fans", "he_normal_"):  # the other tasks ran normally
            assert (run.out / contracts.observations_file(other)).exists()
        assert (run.out / contracts.DONE_FILE).exists()
    finally:
        run.stop()


@pytest.mark.slow
def test_a_task_that_is_never_defined_says_which_cell_failed(course_notebook):
    cells, _ = notebook_cells(course_notebook("source", "initialization"))
    for cell in cells:
        if cell["name"] == "fans":
            cell["source"] = "raise RuntimeError('unfinished')\n"
    run = FreshRun(_request(cells), wall=120)
    try:
        assert run.finish() == ""
        assert (run.out / contracts.error_file("fans")).read_text() == (
            "fans is not defined after running your cells (the cell fans raised RuntimeError)")
    finally:
        run.stop()


def test_tripwires_refuse_student_callers_and_pass_everyone_else():
    student_code = compile("def call(f, x):\n    return f(x)\n", f"{contracts.STUDENT_FILE}fans>", "exec")
    namespace: dict = {}
    exec(student_code, namespace)
    guarded = runner._tripwire(torch.abs, "torch.abs")
    assert torch.equal(guarded(torch.tensor([-1.0])), torch.tensor([1.0]))  # a library call passes
    with pytest.raises(grading.DelegationError, match="your code called torch.abs"):
        namespace["call"](guarded, torch.tensor([-1.0]))


def test_delegation_is_not_an_exception_a_student_could_swallow():
    assert not issubclass(grading.DelegationError, Exception)
    assert runner.DelegationError is grading.DelegationError
