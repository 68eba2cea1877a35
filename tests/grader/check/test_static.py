"""The static check: what it refuses in a task's cell, and that ordinary code and the solutions pass."""
from __future__ import annotations

from pathlib import Path

import pytest

from coursegrader.check.fresh_run import notebook_cells
from coursegrader.check.static import plain_python, static_findings
from coursegrader.check.tasks import specification

ROOT = Path(__file__).resolve().parents[3]
ASSIGNMENTS = sorted(p.name for p in (ROOT / "exercises" / "source").iterdir() if p.is_dir())
IMPORTS = ["import math\nimport torch\nfrom torch import nn\nimport nnlab"]
FORBIDDEN = ("torch.nn.init", "nnlab.init", "torch.nn.init._calculate_fan_in_and_fan_out")


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_instructor_solutions_pass_the_static_check(assignment, course_notebook):
    cells, sources = notebook_cells(course_notebook("source", assignment))
    context = [c["source"] for c in cells]
    for name, task in specification(assignment).items():
        assert static_findings(sources[name], context, task.forbidden) == [], (assignment, name)


@pytest.mark.parametrize("source, finding", [
    ("def fans(w):\n    return eval('(1, 2)')", "uses eval()"),
    ("def fans(w):\n    return w.__class__.__mro__", "uses the attribute __mro__"),
    ("torch.equal = lambda *a: True", "assigns to torch.equal"),
    ("import nnlab.grading\nnnlab.grading.assert_int_tuple = print", "imports nnlab.grading"),
    ("import coursegrader.check.compare", "imports coursegrader.check.compare"),
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
    ("def fans(w) return 1", "not valid Python"),
])
def test_static_check_refuses_what_would_reach_the_grader(source, finding):
    found = static_findings(source, IMPORTS, FORBIDDEN)
    assert any(finding in f for f in found), found


def test_static_check_accepts_ordinary_code():
    source = ("import math\nclass Layer(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
              "        self.w = nn.Parameter(torch.ones(3))\n    def forward(self, x):\n"
              "        return x * self.w + getattr(self, 'w').sum() + torch.nn.functional.relu(x)\n")
    assert static_findings(source, IMPORTS, FORBIDDEN) == []


def test_magics_are_read_as_the_python_they_run():
    # IPython syntax is not Python: the check parses what IPython would run instead of failing on it
    assert "get_ipython().run_line_magic('time'" in plain_python("%time x = 1\n")
    assert "get_ipython().system('ls')" in plain_python("!ls\n")
    assert static_findings("!ls\ndef fans(w):\n    return eval('1')\n", IMPORTS, FORBIDDEN) == ["uses eval()"]
