"""The fresh run, seen from the grader: a new sandboxed process runs the submitted cells and the probes.

The process itself is :mod:`coursegrader.check.runner`; this module starts it on a
:class:`~coursegrader.contracts.FreshRunRequest`, waits for it, and cleans up after it.
"""
from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from coursegrader import contracts, sandbox


def notebook_cells(notebook) -> tuple[list[dict], dict[str, str]]:
    """The cells the fresh run executes, in order (the notebook's locked import cells and the
    task cells), and the source of each task cell by task name."""
    cells: list[dict] = []
    tasks: dict[str, str] = {}
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or meta.get("grade"):
            continue
        if meta.get("solution"):
            cells.append({"name": meta.get("grade_id", "cell"), "source": cell.source})
            tasks[meta.get("grade_id", "cell")] = cell.source
        elif meta.get("locked"):
            cells.append({"name": meta.get("grade_id", "setup"), "source": cell.source})
    return cells, tasks


class FreshRun:
    """:mod:`coursegrader.check.runner` running on one request (sandboxed unless opted out).

    Started as soon as the submitted cells are known, so that it runs while nbgrader executes
    the notebook; :meth:`finish` waits for it. A run nobody finished (the notebook's kernel
    died first) is stopped when the next one starts or when the grader exits.
    """

    _unfinished: set["FreshRun"] = set()

    def __init__(self, request: contracts.FreshRunRequest, wall: float):
        for stale in list(FreshRun._unfinished):
            stale.stop()
        self.wall = wall
        self.started = time.perf_counter()
        self.private = Path(tempfile.mkdtemp(prefix="nnlab-verify-"))
        (self.private / "work").mkdir()
        self.out = self.private / "work" / "observations"
        self.out.mkdir()
        (self.private / "request.json").write_text(request.to_json())
        argv = [sys.executable, "-m", "coursegrader.check.runner", str(self.private / "request.json"), str(self.out)]
        self.cgroup = None
        env = dict(os.environ)
        if sandbox.enabled():
            limits = sandbox.Limits.from_environment()
            self.cgroup = sandbox.process_cgroup(limits.processes)
            argv = sandbox.command(argv, self.private, limits, self.cgroup)
        else:
            env.update(HOME=str(self.private / "work"), TMPDIR=str(self.private / "work"))
            env[contracts.PROGRESS.name] = "0"
        self.process = subprocess.Popen(argv, cwd=self.private / "work", env=env, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        FreshRun._unfinished.add(self)

    def finish(self) -> str:
        """Wait for the run (at most ``wall`` seconds since it started); returns a problem ('' if none)."""
        problem = ""
        try:
            self.process.wait(timeout=max(0.0, self.wall - (time.perf_counter() - self.started)))
        except subprocess.TimeoutExpired:
            problem = f"the grader's own run of your code did not finish within {self.wall:.0f} s"
        finally:
            self.stop(remove=False)
        if not problem and self.process.returncode != 0 and not (self.out / contracts.DONE_FILE).exists():
            problem = f"the grader's own run of your code stopped (exit status {self.process.returncode})"
        return problem

    def stop(self, remove: bool = True) -> None:
        FreshRun._unfinished.discard(self)
        sandbox.kill_group(self.process)
        if self.cgroup is not None:
            sandbox.kill_cgroup(self.cgroup)
            self.cgroup = None
        if remove:
            shutil.rmtree(self.private, ignore_errors=True)


@atexit.register
def _stop_unfinished_runs() -> None:
    for run in list(FreshRun._unfinished):
        run.stop()
