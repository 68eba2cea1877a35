"""Feedback without secrets: hidden tests and their details never reach a student.

nbgrader's feedback is the autograded notebook rendered as HTML, and in the autograded
notebook the hidden tests are back in place, so plain feedback shows them, with their
seeds, inputs and tracebacks. :class:`HideHiddenTests` replaces each hidden test cell's
code by a one-line note and keeps, of its outputs, only the failure message itself
("fans(torch.empty(4, 2, 3)) returned (2, 4); expected (12, 24)"), which tells the student
what to fix without the test's code.
"""
from __future__ import annotations

from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Unicode

HIDDEN_MARKER = "### BEGIN HIDDEN TESTS"


class HideHiddenTests(NbGraderPreprocessor):
    """Strip the code, prints and tracebacks of hidden test cells; keep their verdict."""

    marker = Unicode(HIDDEN_MARKER, help="The line that opens hidden tests").tag(config=True)

    def preprocess_cell(self, cell: NotebookNode, resources: dict, index: int):
        if cell.cell_type != "code" or self.marker not in cell.source:
            return cell, resources
        points = cell.metadata.get("nbgrader", {}).get("points")
        cell.source = f"# Hidden tests ({points:g} points): their code is not shown." if points else "# Hidden tests"
        kept = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                summary = f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"
                kept.append(NotebookNode(output_type="error", ename=output.get("ename", "Error"),
                                         evalue=output.get("evalue", ""), traceback=[summary]))
        cell.outputs = kept
        return cell, resources
