"""The fresh run's process: what it answers for each task, and the tripwires that catch delegation."""
from __future__ import annotations

import io

import pytest
import torch

from coursegrader import contracts
from coursegrader.check import runner, wire
from coursegrader.check.fresh_run import FreshRun, notebook_cells
from coursegrader.check.tasks import probe_key, specification
from nnlab import grading


def _run(cells, seed=5, timeout=60.0, wall=120):
    keys = {name: probe_key(seed, name) for name in specification("initialization")}
    request = contracts.FreshRunRequest(assignment="initialization", cells=cells, tasks=list(keys), cell_timeout=timeout)
    return FreshRun(request, wall=wall, keys=keys)


def _forged_abort() -> bytes:
    """A well-formed message of the wire that would end the task 'fans' if the grader read it."""
    data = wire.dumps(("abort", "forged"))
    return wire.HEADER.pack(len(data)) + data


def _with_cell(notebook, name, source):
    cells, _ = notebook_cells(notebook)
    for cell in cells:
        if cell["name"] == name:
            cell["source"] = source
    return cells


@pytest.mark.slow
def test_tripwires_catch_delegation_however_it_is_called(course_notebook):
    # The fresh run on its own (the static check would refuse these cells first): a reference
    # captured as a default argument and called through torch's own decorator (the caller torch
    # sees is torch's code), and one called through map(), trip all the same.
    notebook = course_notebook("source", "initialization")
    cells = _with_cell(notebook, "xavier_uniform_", (
        "def xavier_uniform_(w, gain=1.0, _f=[torch.nn.init][0].xavier_uniform_):\n"
        "    return torch.no_grad()(_f)(w, gain=gain)\n"))
    for cell in cells:
        if cell["name"] == "xavier_normal_":
            cell["source"] = ("helpers = [torch.nn.init.xavier_normal_]\n"
                              "def xavier_normal_(weight, gain=1.0):\n"
                              "    return list(map(lambda f: f(weight, gain=gain), helpers))[0]\n")
    run = _run(cells)
    try:
        results, problem = run.finish()
        assert problem == "" and results.done
        for task in ("xavier_uniform_", "xavier_normal_"):
            message = results.errors[task]
            assert message.startswith(f"{task}: your code called torch.nn.init.{task}"), message
            assert grading.NO_CREDIT in message
        assert {"fans", "he_normal_", "lecun_normal_"} <= set(results.observations)  # the other tasks ran normally
    finally:
        run.stop()


@pytest.mark.slow
def test_a_task_borrows_only_the_references_it_is_lent(course_notebook):
    # lecun_normal_ written through xavier_normal_ with a stub xavier_normal_: the stub is what
    # it gets (only fans is lent to the initializers), so it fails like the stub.
    notebook = course_notebook("source", "initialization")
    cells = _with_cell(notebook, "lecun_normal_", (
        "def xavier_normal_(weight, gain=1.0):\n    raise NotImplementedError\n"
        "def lecun_normal_(weight):\n    fan_in, fan_out = fans(weight)\n"
        "    return xavier_normal_(weight, gain=math.sqrt((fan_in + fan_out) / (2 * fan_in)))\n"))
    run = _run(cells)
    try:
        results, problem = run.finish()
        assert problem == ""
        observed = torch.load(io.BytesIO(results.observations["lecun_normal_"]), weights_only=True)
        assert observed["visible"][0]["result"] == {contracts.RAISED: "NotImplementedError"}
    finally:
        run.stop()


@pytest.mark.slow
def test_the_run_learns_no_seed_and_results_written_after_its_end_are_ignored(course_notebook):
    # The request arrives on standard input and is gone before the cells run; an atexit hook
    # writing a message to every open descriptor after the run's end changes nothing.
    notebook = course_notebook("source", "initialization")
    spy = (
        "import os, sys, atexit\n"
        "_request = sys.stdin.read()\n"
        "def fans(weight):\n"
        "    if _request:\n        raise RuntimeError(_request)\n"
        "    return weight.shape[1] * math.prod(weight.shape[2:]), weight.shape[0] * math.prod(weight.shape[2:])\n"
        "def _forge():\n"
        "    for fd in range(3, 64):\n"
        "        try:\n"
        f"            os.write(fd, {_forged_abort()!r})\n"
        "        except OSError:\n            pass\n"
        "atexit.register(_forge)\n")
    cells = _with_cell(notebook, "fans", spy)
    run = _run(cells, seed=123456789)
    try:
        results, problem = run.finish()
        assert problem == "" and results.done
        assert "fans" in results.observations and "fans" not in results.errors 
    finally:
        run.stop()


def test_tripwires_refuse_calls_with_student_code_anywhere_on_the_stack():
    student_code = compile("def call(f, x):\n    return f(x)\ndef through(wrapper, f, x):\n    return wrapper(f)(x)\n",
                           f"{contracts.STUDENT_FILE}fans>", "exec")
    namespace: dict = {}
    exec(student_code, namespace)
    guarded = runner._tripwire(torch.abs, "torch.abs", frozenset({"torch.abs"}))
    assert torch.equal(guarded(torch.tensor([-1.0])), torch.tensor([1.0]))  # a library call passes
    with pytest.raises(grading.DelegationError, match="your code called torch.abs"):
        namespace["call"](guarded, torch.tensor([-1.0]))
    with pytest.raises(grading.DelegationError):  # the immediate caller is torch's decorator, not the student
        namespace["through"](torch.no_grad(), guarded, torch.tensor([-1.0]))
    # a lent reference may call what the student may not
    lent = compile("def lent(f, x):\n    return f(x)\n", "<reference>", "exec")
    exec(lent, namespace)
    runner._LENT_CODE.update(runner._code_of(namespace["lent"]))
    try:
        assert torch.equal(namespace["call"](lambda x: namespace["lent"](guarded, x), torch.tensor([-2.0])), torch.tensor([2.0]))
    finally:
        runner._LENT_CODE.clear()


def test_a_tripwire_refuses_only_for_the_tasks_that_forbid_it():
    # gradient_check: check_gradient must call autograd, linear_backward must not
    student_code = compile("def call(f, x):\n    return f(x)\n", f"{contracts.STUDENT_FILE}linear_backward>", "exec")
    namespace: dict = {}
    exec(student_code, namespace)
    guarded = runner._tripwire(torch.abs, "torch.abs", frozenset({"torch"}))
    try:
        runner.TASK_FORBIDDEN[0] = frozenset({"nnlab.gradcheck.check_gradient"})  # a task that may call it
        assert torch.equal(namespace["call"](guarded, torch.tensor([-1.0])), torch.tensor([1.0]))
        runner.TASK_FORBIDDEN[0] = frozenset({"torch"})  # a task that forbids it (here as its whole module)
        with pytest.raises(grading.DelegationError):
            namespace["call"](guarded, torch.tensor([-1.0]))
        runner.TASK_FORBIDDEN[0] = None  # while cells run and between tasks, every tripwire refuses
        with pytest.raises(grading.DelegationError):
            namespace["call"](guarded, torch.tensor([-1.0]))
    finally:
        runner.TASK_FORBIDDEN[0] = None


def test_delegation_is_not_an_exception_a_student_could_swallow():
    assert not issubclass(grading.DelegationError, Exception)
    assert runner.DelegationError is grading.DelegationError
