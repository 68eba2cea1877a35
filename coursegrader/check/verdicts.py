"""The independent check of one submission, from start to verdict.

:func:`start` runs the static check and starts the fresh run (it needs only the submitted
cells, so it runs while nbgrader executes the notebook); :meth:`PendingCheck.finish` waits
for the run and compares each group of each task with the reference.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from coursegrader import contracts
from coursegrader.check.compare import group_message, kind_of_mistake, reference_observations
from coursegrader.check.fresh_run import FreshRun, notebook_cells
from coursegrader.check.static import static_findings
from coursegrader.check.tasks import probe_key, specification


@dataclass
class Verdicts:
    """Outcome of the independent check of one submission: ``failures[(task, group)]`` is the
    message for each group that failed (for the instructor: it may quote hidden inputs),
    ``for_student`` the same failures as the student may read them; ``problem`` says why the
    whole run failed, if it did."""

    failures: dict[tuple[str, str], str] = field(default_factory=dict)
    for_student: dict[tuple[str, str], str] = field(default_factory=dict)
    problem: str = ""
    seconds: float = 0.0


@dataclass
class PendingCheck:
    """An independent check whose fresh run was started (:func:`start`); :meth:`finish` judges it."""

    assignment: str
    seed: int
    cells: list[dict]  # what the fresh run executes
    sources: dict[str, str]
    static: dict[str, list[str]]
    run: FreshRun | None
    started: float
    keys: dict[str, int] = field(default_factory=dict)  # each task's probe key

    def finish(self) -> Verdicts:
        verdicts = Verdicts()
        tasks = specification(self.assignment)
        if not tasks or self.run is None:
            return verdicts
        results, problem = self.run.finish()
        expected = results.expected or reference_observations(self.assignment, self.keys)
        try:
            for name, task in tasks.items():
                for group in contracts.GROUPS:
                    if group not in expected[name]:
                        continue
                    message, compared = "", False
                    if name not in self.sources:
                        message = f"the notebook has no cell for {name}"
                    elif self.static[name]:
                        message = f"the cell of {name} " + "; ".join(self.static[name]) + ", which the grader does not accept"
                    elif problem:
                        message = problem
                    else:
                        message, compared = group_message(results, name, group, expected[name][group], task)
                    if message:
                        verdicts.failures[(name, group)] = message
                        verdicts.for_student[(name, group)] = (
                            f"a hidden case of {name} failed: {kind_of_mistake(message)}" if compared and group != "visible"
                            else message)
        finally:
            self.run.stop()
        verdicts.problem = problem
        verdicts.seconds = time.perf_counter() - self.started
        return verdicts


def start(assignment: str, notebook, seed: int, cell_timeout: float | None = None) -> PendingCheck:
    """Start the independent check of one submitted notebook: the static check now, the fresh
    run in the background. ``cell_timeout`` defaults to ``NNLAB_CELL_TIMEOUT``."""
    started = time.perf_counter()
    timeout = contracts.cell_timeout() if cell_timeout is None else cell_timeout
    tasks = specification(assignment) or {}
    cells, sources = notebook_cells(notebook)
    context = [c["source"] for c in cells]
    static = {name: static_findings(sources[name], context, task.forbidden) if name in sources else []
              for name, task in tasks.items()}
    run = None
    keys = {name: probe_key(seed, name) for name in tasks}
    if tasks:
        request = contracts.FreshRunRequest(assignment=assignment, cells=cells, tasks=list(tasks), cell_timeout=timeout)
        # each cell and each probe may take a cell timeout; the run as a whole gets two and a minute
        run = FreshRun(request, wall=timeout * 2 + 60, keys=keys)
    return PendingCheck(assignment, seed, cells, sources, static, run, started, keys=keys)


def verify(assignment: str, notebook, seed: int, cell_timeout: float | None = None) -> Verdicts:
    """The independent check of one submitted notebook."""
    return start(assignment, notebook, seed, cell_timeout).finish()
