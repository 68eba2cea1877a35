"""The independent check inside nbgrader's autograde step.

:class:`StartCheck` starts the check's fresh run before the notebook is executed (it needs
only the submitted cells), so both run at once. :class:`VerifyOutside` runs after the
notebook was executed and before nbgrader scores it: for every test cell (``<task>_visible``
or ``<task>_hidden``) that passed in the notebook but whose group of the independent check
failed, it appends an error output saying why (for the autograded notebook and the
feedback). The verdict is kept in the autograded notebook's metadata
(:class:`coursegrader.contracts.Verdict`) for the feedback and the grade report, and handed
to :class:`SaveVerifiedGrades`, which scores the test cells by it: an output, appended or
printed, never decides a score on its own.
"""
from __future__ import annotations

import os
from pathlib import Path

from nbformat.v4 import new_output
from nbgrader import utils
from nbgrader.preprocessors import NbGraderPreprocessor, SaveAutoGrades
from traitlets import Unicode

from coursegrader import contracts
from coursegrader.check import verdicts as checking
from coursegrader.check.fresh_run import notebook_cells
from coursegrader.check.tasks import course_secret, seed_for, specification

PENDING = "nnlab_pending_check"  # the key of the started check in nbconvert's resources (within one process)


class IndependentCheck(NbGraderPreprocessor):
    """What both steps share: the course secret and how a check is started."""

    secret_file = Unicode("", help="File with the course's probe secret (created if missing)").tag(config=True)

    def _start(self, nb, resources) -> checking.PendingCheck | None:
        about = resources.get("nbgrader", {})
        assignment = about.get("assignment")
        if not assignment or specification(assignment) is None:
            return None
        secret_path = Path(self.secret_file or Path(os.getcwd()) / ".nnlab-probe-secret")
        seed = seed_for(course_secret(secret_path), assignment, str(about.get("student", "")),
                        str(about.get("notebook", assignment)))
        return checking.start(assignment, nb, seed)


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
        if pending is not None and pending.cells != notebook_cells(nb)[0]:
            if pending.run is not None:
                pending.run.stop()  # a step in between changed the submitted cells: check what is scored
            pending = None
        pending = pending or self._start(nb, resources)
        if pending is None:
            return nb, resources
        verdicts = pending.finish()
        verdict = contracts.Verdict(
            failed={f"{task}_{group}": message for (task, group), message in verdicts.for_student.items()},
            problem=verdicts.problem, seconds=round(verdicts.seconds, 2))
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
            name = contracts.CHECK_FAILED
            cell.outputs.append(new_output("error", ename=name, evalue=text, traceback=[f"{name}: {text}"]))
            verdict.overruled.append({"cell": grade_id, "message": message})
        verdict.store(nb.metadata)
        resources[contracts.VERDICT_RESOURCE] = verdict
        self.log.info("independent check of %s: %d group(s) failed, %d cell(s) overruled (%.1f s)",
                      pending.assignment, len(verdicts.failures), len(verdict.overruled), verdicts.seconds)
        return nb, resources


class SaveVerifiedGrades(SaveAutoGrades):
    """nbgrader's ``SaveAutoGrades``, with the score of each test cell decided by the grader.

    nbgrader scores a test cell by its outputs, which the submission's code wrote (a string
    shown as the cell's result earns full points). Here a test cell whose group failed the
    independent check scores 0 whatever the notebook shows; a cell of a checked assignment
    scores 0 if no verdict was reached; otherwise nbgrader's score stands, clamped to the
    cell's points, and outputs nbgrader cannot read score 0 instead of stopping the grading.
    """

    def _add_score(self, cell, resources):
        grade = self.gradebook.find_grade(cell.metadata["nbgrader"]["grade_id"], self.notebook_id, self.assignment_id,
                                          self.student_id)
        grade.auto_score = verified_score(cell, resources, self.log)
        grade.needs_manual_grade = grade.manual_score is not None or grade.auto_score is None
        self.gradebook.db.commit()


def verified_score(cell, resources, log=None) -> float | None:
    """The points of a graded cell, as :class:`SaveVerifiedGrades` records them."""
    meta = cell.metadata["nbgrader"]
    try:
        score, points = utils.determine_grade(cell, log)
    except (KeyError, ValueError, TypeError):  # an output nbgrader cannot read: no credit, not a crash
        return 0.0
    if utils.is_solution(cell) or cell.cell_type != "code" or score is None:
        return score
    assignment = resources.get("nbgrader", {}).get("assignment")
    tasks = specification(assignment) if assignment else None
    if tasks is None:
        return min(max(score, 0.0), points)
    task, _, group = meta.get("grade_id", "").rpartition("_")
    if task not in tasks:
        return min(max(score, 0.0), points)
    verdict = resources.get(contracts.VERDICT_RESOURCE)
    if not isinstance(verdict, contracts.Verdict) or f"{task}_{group}" in verdict.failed:
        return 0.0
    return min(max(score, 0.0), points)
