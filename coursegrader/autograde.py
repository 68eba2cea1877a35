"""nbgrader's autograde steps as the course runs them.

The notebook's kernel starts in the sandbox (:class:`SandboxExecute`), the notebook runs
only up to its last autograded test (:func:`scored_cells_only`, unless
``NNLAB_GRADE_ALL_CELLS=1``), and the independent check is started just before the notebook
runs and judged right before the scores are saved (:mod:`coursegrader.check.nbgrader_steps`).
``nbgrader_config.py`` sets ``c.Autograde.autograde_preprocessors = autograde_preprocessors()``.
"""
from __future__ import annotations

import json

from nbformat.v4 import new_output
from nbgrader.preprocessors import Execute

from coursegrader import contracts
from coursegrader.check.nbgrader_steps import SaveVerifiedGrades, StartCheck, VerifyOutside
from coursegrader.kernel import SandboxKernelManager


#: Kinds of output a notebook's kernel sends, other than errors, counted against a cell's budget.
_BUDGETED = ("stream", "display_data", "execute_result", "update_display_data")
TRUNCATED = "... the grader kept only the first {limit} bytes of this cell's output ...\n"


def _bounded_error(content: dict) -> dict:
    """An error's content cut to a size the feedback can show (errors are always kept: they fail a test)."""
    traceback = [str(line)[:2000] for line in list(content.get("traceback") or [])]
    if len(traceback) > 50:
        traceback = traceback[:25] + ["... traceback truncated by the grader ..."] + traceback[-24:]
    return {**content, "ename": str(content.get("ename", ""))[:200], "evalue": str(content.get("evalue", ""))[:2000],
            "traceback": traceback}


class SandboxExecute(Execute):
    """nbgrader's ``Execute`` with the kernel started in the sandbox, and every cell's output
    capped as it arrives (``contracts.MAX_CELL_OUTPUT_BYTES`` of streams, displays and results;
    errors always kept, cut to size): a flood never reaches the grader's memory or the feedback."""

    def __init__(self, *args, **kwargs):
        kwargs["kernel_manager_class"] = SandboxKernelManager
        super().__init__(*args, **kwargs)
        self._output_bytes: dict[int, int] = {}

    def preprocess(self, nb, resources=None, km=None):
        self._output_bytes = {}
        return super().preprocess(nb, resources, km)

    def process_message(self, msg, cell, cell_index):
        kind = msg.get("msg_type")
        if kind == "error":
            msg = {**msg, "content": _bounded_error(msg.get("content") or {})}
        elif kind in _BUDGETED:
            limit = contracts.MAX_CELL_OUTPUT_BYTES
            used = self._output_bytes.get(cell_index, 0)
            size = len(json.dumps(msg.get("content"), default=str))
            self._output_bytes[cell_index] = used + size
            if used + size > limit:
                if used <= limit:
                    cell.outputs.append(new_output("stream", name="stdout", text=TRUNCATED.format(limit=limit)))
                return None
        return super().process_message(msg, cell, cell_index)


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


def autograde_preprocessors(sandboxed: bool | None = None, all_cells: bool | None = None) -> list:
    """nbgrader's autograde steps with the notebook run by :class:`SandboxExecute` (plain
    ``Execute`` when not ``sandboxed``; default: ``NNLAB_SANDBOX``), up to its last autograded
    test (every cell with ``all_cells``; default: ``NNLAB_GRADE_ALL_CELLS``), the independent
    check started just before it and judged right before the scores are saved, by the grader
    (:class:`~coursegrader.check.nbgrader_steps.SaveVerifiedGrades`)."""
    from nbgrader.converters.autograde import Autograde
    from nbgrader.preprocessors import SaveAutoGrades

    if sandboxed is None:
        sandboxed = contracts.sandbox_enabled()
    if all_cells is None:
        all_cells = contracts.grade_all_cells()
    execute = SandboxExecute if sandboxed else Execute
    if not all_cells:
        execute = scored_cells_only(execute)
    replacements = {Execute: execute, SaveAutoGrades: SaveVerifiedGrades}
    steps = [replacements.get(step, step) for step in Autograde.class_traits()["autograde_preprocessors"].default()]
    steps.insert(steps.index(execute), StartCheck)
    steps.insert(steps.index(SaveVerifiedGrades), VerifyOutside)
    return steps


def runs_in_sandbox(steps: list) -> bool:
    """Whether ``steps`` (an autograde configuration, as classes) start the notebook's kernel in the sandbox."""
    return any(isinstance(step, type) and issubclass(step, SandboxExecute) for step in steps)


def scores_by_verdict(steps: list) -> bool:
    """Whether ``steps`` judge the independent check and let its verdict decide the scores
    (``VerifyOutside``, then ``SaveVerifiedGrades`` and no plain ``SaveAutoGrades``)."""
    from nbgrader.preprocessors import SaveAutoGrades

    classes = [step for step in steps if isinstance(step, type)]
    savers = [step for step in classes if issubclass(step, SaveAutoGrades)]
    judged = [index for index, step in enumerate(classes) if issubclass(step, VerifyOutside)]
    return (bool(savers) and all(issubclass(step, SaveVerifiedGrades) for step in savers) and bool(judged)
            and judged[0] < classes.index(savers[0]))
