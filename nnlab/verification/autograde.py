"""The independent check inside nbgrader's autograde step (see :mod:`nnlab.verification`).

:class:`StartCheck` starts the check's fresh run before the notebook is executed (it needs
only the submitted cells), so both run at once. :class:`VerifyOutside` runs after the
notebook was executed and before nbgrader scores it:
for every test cell (``<task>_visible`` or ``<task>_hidden``) that passed in the notebook
but whose group of the independent check failed, it appends an error output saying why, so
that nbgrader gives the cell no points and the feedback explains it. The verdicts are also
kept in the autograded notebook's metadata (``nnlab_verification``) for the grade report.
"""
from __future__ import annotations

import os
from pathlib import Path

from nbformat.v4 import new_output
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Unicode

from nnlab import verification

ERROR_NAME = "IndependentCheckFailed"
PENDING = "nnlab_pending_check"  # the key of the started check in nbconvert's resources


class IndependentCheck(NbGraderPreprocessor):
    """What both steps share: the course secret and how a check is started."""

    secret_file = Unicode("", help="File with the course's probe secret (created if missing)").tag(config=True)

    def _start(self, nb, resources) -> verification.PendingCheck | None:
        assignment = resources.get("nbgrader", {}).get("assignment")
        if not assignment or verification.specification(assignment) is None:
            return None
        secret_path = Path(self.secret_file or Path(os.getcwd()) / ".nnlab-probe-secret")
        seed = verification.seed_for(verification.course_secret(secret_path), assignment)
        timeout = float(os.environ.get("NNLAB_CELL_TIMEOUT", "120"))
        return verification.start(assignment, nb, seed, cell_timeout=timeout)


class StartCheck(IndependentCheck):
    """Start the independent check's fresh run before the notebook runs (on the same cells)."""

    def preprocess(self, nb, resources):
        pending = self._start(nb, resources)
        if pending is not None:
            resources[PENDING] = pending
        return nb, resources


class VerifyOutside(IndependentCheck):
    """Score a test cell only if the independent check of its task agrees."""

    def preprocess(self, nb, resources):
        pending = resources.pop(PENDING, None)
        if pending is not None and pending.cells != verification.notebook_cells(nb)[0]:
            if pending.run is not None:
                pending.run.stop()  # a step in between changed the submitted cells: check what is scored
            pending = None
        pending = pending or self._start(nb, resources)
        if pending is None:
            return nb, resources
        assignment = pending.assignment
        verdicts = pending.finish()
        overruled = []
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type != "code" or not meta.get("grade") or meta.get("solution"):
                continue
            grade_id = meta.get("grade_id", "")
            task, _, group = grade_id.rpartition("_")
            message = verdicts.failures.get((task, group))
            if not message:
                continue
            if any(output.get("output_type") == "error" for output in cell.outputs):
                continue  # it failed in the notebook already, with its own message
            text = f"Your code passed this cell in the notebook, but not the grader's independent check: {message}"
            cell.outputs.append(new_output("error", ename=ERROR_NAME, evalue=text, traceback=[f"{ERROR_NAME}: {text}"]))
            overruled.append({"cell": grade_id, "message": message})
        nb.metadata["nnlab_verification"] = {
            "failed": {f"{task}_{group}": message for (task, group), message in verdicts.failures.items()},
            "overruled": overruled,
            "problem": verdicts.problem,
            "seconds": round(verdicts.seconds, 2),
        }
        self.log.info("independent check of %s: %d group(s) failed, %d cell(s) overruled (%.1f s)",
                      assignment, len(verdicts.failures), len(overruled), verdicts.seconds)
        return nb, resources


NOT_RUN = ("Not run by the grader: no autograded test comes after this cell, so it cannot change a score. "
           "Grade with NNLAB_GRADE_ALL_CELLS=1 to run it.\n")


def scored_cells_only(execute: type) -> type:
    """``execute`` that stops after the last autograded test cell.

    Cells run in order, so a cell after the last test cannot change a score: in the course's
    notebooks that is the closing experiment (about half of a notebook's running time), whose
    outputs the feedback does not show. Each such code cell gets a one-line output saying
    it was not run.
    """

    class ExecuteScoredCells(execute):
        def preprocess(self, nb, resources=None, km=None):
            self._last_test = max((index for index, cell in enumerate(nb.cells) if cell.cell_type == "code"
                                   and cell.metadata.get("nbgrader", {}).get("grade")), default=-1)
            return super().preprocess(nb, resources, km)

        def preprocess_cell(self, cell, resources, index):
            if cell.cell_type == "code" and index > self._last_test:
                cell.outputs = [new_output("stream", name="stdout", text=NOT_RUN)]
                cell.execution_count = None
                return cell, resources
            return super().preprocess_cell(cell, resources, index)

    ExecuteScoredCells.__name__ = ExecuteScoredCells.__qualname__ = f"{execute.__name__}ScoredCells"
    return ExecuteScoredCells


def autograde_preprocessors(execute: type, all_cells: bool | None = None) -> list:
    """nbgrader's autograde steps with ``execute`` running the notebook (up to its last
    autograded test, unless ``all_cells`` or ``NNLAB_GRADE_ALL_CELLS=1``), the independent
    check started just before it and judged right before the scores are saved."""
    from nbgrader.converters.autograde import Autograde
    from nbgrader.preprocessors import Execute, SaveAutoGrades

    if all_cells is None:
        all_cells = os.environ.get("NNLAB_GRADE_ALL_CELLS", "0") == "1"
    if not all_cells:
        execute = scored_cells_only(execute)
    steps = [execute if step is Execute else step for step in Autograde.class_traits()["autograde_preprocessors"].default()]
    steps.insert(steps.index(execute), StartCheck)
    steps.insert(steps.index(SaveAutoGrades), VerifyOutside)
    return steps
