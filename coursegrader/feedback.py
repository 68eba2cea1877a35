"""Feedback without secrets: hidden tests and their details never reach a student.

nbgrader's feedback is the autograded notebook rendered as HTML, and in the autograded
notebook the hidden tests are back in place, so plain feedback shows them, with their
seeds, inputs and tracebacks. Worse, everything a notebook printed after a hidden test ran
was printed by code the student controls, which may have read that test's source.
:class:`HideHiddenTests` therefore renders:

* each hidden test cell as a one-line note (its points), never its code;
* for each test cell that failed, one message: the grader's own (from the independent check,
  :mod:`coursegrader.check`) where it has one, else the notebook's failure message with any
  line of hidden test code removed;
* no other output: the student's own cells appear as submitted, without what they printed
  (the student has those outputs in their own notebook).
"""
from __future__ import annotations

from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Unicode

from coursegrader import contracts

HIDDEN_MARKER = "### BEGIN HIDDEN TESTS"
#: Lines of hidden tests shorter than this (``else:``, ``)``) are too common to be a leak.
MIN_SECRET_LINE = 12


def _hidden_lines(cells, marker: str) -> list[str]:
    lines: list[str] = []
    for cell in cells:
        if cell.cell_type == "code" and marker in cell.source:
            hidden = cell.source.split(marker, 1)[1]
            lines += [line.strip() for line in hidden.splitlines() if len(line.strip()) >= MIN_SECRET_LINE]
    return lines


def redact(text: str, secrets: list[str]) -> str:
    """``text`` with every line that contains a line of hidden test code replaced."""
    kept = []
    for line in text.splitlines():
        kept.append("[removed: this line contained code of a hidden test]" if any(s in line for s in secrets) else line)
    return "\n".join(kept)


class HideHiddenTests(NbGraderPreprocessor):
    """Strip hidden test code and every untrusted output; keep one verdict message per failed test."""

    marker = Unicode(HIDDEN_MARKER, help="The line that opens hidden tests").tag(config=True)

    def preprocess(self, nb, resources):
        self._secrets = _hidden_lines(nb.cells, self.marker)
        self._trusted = contracts.Verdict.read(nb.metadata).failed
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell: NotebookNode, resources: dict, index: int):
        if cell.cell_type != "code":
            return cell, resources
        meta = cell.metadata.get("nbgrader", {})
        if not (meta.get("grade") and not meta.get("solution")):
            cell.outputs = []  # printed by the student's code: nothing the grader vouches for
            cell.execution_count = None
            return cell, resources
        grade_id = meta.get("grade_id", "")
        failed = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if self.marker in cell.source:
            points = meta.get("points")
            cell.source = f"# Hidden tests ({points:g} points): their code is not shown." if points else "# Hidden tests"
        cell.outputs = []
        if failed:
            trusted = self._trusted.get(grade_id)
            if trusted:
                name, message = contracts.CHECK_FAILED, trusted
            else:
                name = failed[-1].get("ename", "Error")
                message = redact(str(failed[-1].get("evalue", "")), self._secrets)[:2000]
            cell.outputs = [NotebookNode(output_type="error", ename=name, evalue=message, traceback=[f"{name}: {message}"])]
        return cell, resources
