"""The independent check (nnlab.verification): its static check, its comparison, its fresh run.

Oracles: the instructor solutions (every task passes), the released notebooks (every task
fails), and hand-written cheats whose effect is known.
"""
from __future__ import annotations

import io
from pathlib import Path

import nbformat
import pytest
import torch

from nnlab import feedback, verification
from nnlab.verification import Mismatch, Task, compare, static_findings

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENTS = sorted(p.name for p in (ROOT / "exercises" / "source").iterdir() if p.is_dir())
IMPORTS = ["import math\nimport torch\nfrom torch import nn\nimport nnlab"]
FORBIDDEN = ("torch.nn.init", "nnlab.init", "torch.nn.init._calculate_fan_in_and_fan_out")


def _notebook(kind: str, assignment: str) -> nbformat.NotebookNode:
    return nbformat.read(ROOT / "exercises" / kind / assignment / f"{assignment}.ipynb", as_version=4)


def test_every_assignment_has_a_check_for_every_task():
    for assignment in ASSIGNMENTS:
        tasks = verification.specification(assignment)
        assert tasks is not None, assignment
        _, sources = verification.notebook_cells(_notebook("source", assignment))
        assert set(tasks) == set(sources), assignment


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_instructor_solutions_pass_the_static_check(assignment):
    cells, sources = verification.notebook_cells(_notebook("source", assignment))
    context = [c["source"] for c in cells]
    for name, task in verification.specification(assignment).items():
        assert static_findings(sources[name], context, task.forbidden) == [], (assignment, name)


@pytest.mark.parametrize("source, finding", [
    ("def fans(w):\n    return eval('(1, 2)')", "uses eval()"),
    ("def fans(w):\n    return w.__class__.__mro__", "uses the attribute __mro__"),
    ("torch.equal = lambda *a: True", "assigns to torch.equal"),
    ("import nnlab.grading\nnnlab.grading.assert_int_tuple = print", "imports nnlab.grading"),
    ("nn.functional.mse_loss = None", "assigns to torch.nn.functional.mse_loss"),
    ("from torch.nn.init import _calculate_fan_in_and_fan_out as helper\ndef fans(w):\n    return helper(w)",
     "imports torch.nn.init._calculate_fan_in_and_fan_out"),
    ("def fans(w):\n    return getattr(torch.nn.init, '_calculate_' + 'fan_in_and_fan_out')(w)", "getattr() with a computed name"),
    ("import importlib\nI = importlib.reload(torch.nn.init)", "imports importlib"),
    ("import sys\ndef fans(w):\n    return sys.modules['torch'].nn.init", "uses sys.modules"),
    ("def fans(w):\n    return nnlab.init.fans(w)", "uses nnlab.init.fans"),
    ("init = torch.nn.init\ndef fans(w):\n    return init.xavier_uniform_(w)", "uses torch.nn.init.xavier_uniform_"),
    ("def fans(w):\n    setattr(torch, 'equal', print)", "uses setattr()"),
    ("def fans(w):\n    return __builtins__", "uses __builtins__"),
])
def test_static_check_refuses_what_would_reach_the_grader(source, finding):
    found = static_findings(source, IMPORTS, FORBIDDEN)
    assert any(finding in f for f in found), found


def test_static_check_accepts_ordinary_code():
    source = ("import math\nclass Layer(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
              "        self.w = nn.Parameter(torch.ones(3))\n    def forward(self, x):\n"
              "        return x * self.w + getattr(self, 'w').sum() + torch.nn.functional.relu(x)\n")
    assert static_findings(source, IMPORTS, FORBIDDEN) == []


def test_compare_is_strict_about_types_and_values():
    task = Task(lambda impl, seed: {}, "x")
    compare((3, 8), (3, 8), "fans(w)", task)
    compare(0.5 + 1e-12, 0.5, "lr", task)
    compare(2, 2.0, "an int where a float is expected", task)
    for actual, expected in [([3, 8], (3, 8)), ((3.0, 8), (3, 8)), (True, 1), ({"!raised": "TypeError"}, 1), (7, {"!raised": "ValueError"}),
                             (torch.ones(3), torch.ones(3, dtype=torch.float64)), (torch.ones(3), torch.zeros(3)),
                             ({"b": 1.0, "a": 2.0}, {"a": 2.0, "b": 1.0})]:
        with pytest.raises(Mismatch):
            compare(actual, expected, "call", task)


class Liar(int):
    def __eq__(self, other):
        return True

    __hash__ = int.__hash__


class LyingTensor(torch.Tensor):
    pass


def test_objects_of_the_students_own_classes_do_not_come_back():
    for value in (Liar(3), torch.ones(2).as_subclass(LyingTensor)):
        buffer = io.BytesIO()
        torch.save({"visible": [{"call": "c", "result": value}]}, buffer)
        buffer.seek(0)
        with pytest.raises(Exception):
            torch.load(buffer, weights_only=True)


def test_feedback_redacts_lines_of_hidden_tests():
    secrets = feedback._hidden_lines([nbformat.v4.new_code_cell("x = 1\n### BEGIN HIDDEN TESTS\nrng = torch.Generator().manual_seed(1121)\n")],
                                     feedback.HIDDEN_MARKER)
    text = feedback.redact("fans failed\nleak: rng = torch.Generator().manual_seed(1121)", secrets)
    assert "manual_seed(1121)" not in text and text.startswith("fans failed")


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solutions_pass_and_released_notebooks_fail_the_independent_check(assignment):
    tasks = verification.specification(assignment)
    solved = verification.verify(assignment, _notebook("source", assignment), seed=20261122, cell_timeout=60)
    assert solved.problem == "" and solved.failures == {}
    blank = verification.verify(assignment, _notebook("release", assignment), seed=20261122, cell_timeout=60)
    assert set(blank.failures) == {(t, g) for t in tasks for g in ("visible", "hidden")}


@pytest.mark.slow
def test_tripwires_catch_references_captured_before_the_tests_and_calls_through_builtins():
    # The fresh run on its own (the static check would refuse this cell first): a reference
    # captured when the cell runs, called through map(), trips all the same.
    notebook = _notebook("source", "initialization")
    cells, _ = verification.notebook_cells(notebook)
    for cell in cells:
        if cell["name"] == "xavier_uniform_":
            cell["source"] = ("helpers = [torch.nn.init.xavier_uniform_]\n"
                              "def xavier_uniform_(weight, gain=1.0):\n"
                              "    return list(map(lambda f: f(weight, gain=gain), helpers))[0]\n")
    private, problem = verification._run_fresh({"assignment": "initialization", "cells": cells, "seed": 5, "cell_timeout": 60}, wall=120)
    try:
        out = private / "work" / "observations"
        assert problem == ""
        assert "called torch.nn.init.xavier_uniform_" in (out / "xavier_uniform_.error").read_text()
        assert (out / "fans.pt").exists() and (out / "he_normal_.pt").exists()  # the other tasks ran normally
    finally:
        import shutil

        shutil.rmtree(private, ignore_errors=True)
