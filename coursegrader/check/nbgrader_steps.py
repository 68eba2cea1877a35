"""The independent check inside nbgrader's autograde step.

:class:`StartCheck` starts the check's fresh run before the notebook is executed (it needs
only the submitted cells), so both run at once. :class:`VerifyOutside` runs after the
notebook was executed and before nbgrader scores it: for every test cell (``<task>_visible``
or ``<task>_hidden``) that passed in the notebook but whose group of the independent check
failed, it appends an error output saying why, so that nbgrader gives the cell no points and
the feedback explains it. The verdict is also kept in the autograded notebook's metadata
(:class:`coursegrader.contracts.Verdict`) for the feedback and the grade report.
"""
from __future__ import annotations

import os
from pathlib import Path

from nbformat.v4 import new_output
from nbgrader.preprocessors import NbGraderPreprocessor
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
        assignment = resources.get("nbgrader", {}).get("assignment")
        if not assignment or specification(assignment) is None:
            return None
        secret_path = Path(self.secret_file or Path(os.getcwd()) / ".nnlab-probe-secret")
        seed = seed_for(course_secret(secret_path), assignment)
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
            failed={f"{task}_{group}": message for (task, group), message in verdicts.failures.items()},
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
        self.log.info("independent check of %s: %d group(s) failed, %d cell(s) overruled (%.1f s)",
                      pending.assignment, len(verdicts.failures), len(verdict.overruled), verdicts.seconds)
        return nb, resources
