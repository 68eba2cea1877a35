"""The worker pool: what it reads from autograded notebooks, and what it does when a worker dies."""
from __future__ import annotations

import json

from coursegrader import contracts
from coursegrader.pool import WorkerProcess, autograde_all, count_timeouts, crash_reason, overruled


def _write_graded(path, outputs, metadata=None):
    path.write_text(json.dumps({"cells": [{"cell_type": "code", "outputs": outputs}], "metadata": metadata or {}}))


def test_timeouts_and_overruled_tests_are_read_from_the_autograded_notebook(tmp_path):
    graded = tmp_path / "a.ipynb"
    verdict_metadata: dict = {}
    contracts.Verdict(overruled=[{"cell": "fans_hidden", "message": "fans returned (1, 1)"}]).store(verdict_metadata)
    _write_graded(graded, [{"output_type": "error", "ename": "CellTimeoutError"}, {"output_type": "error", "ename": "ValueError"}],
                  verdict_metadata)
    assert count_timeouts(graded) == 1
    assert overruled(graded) == "fans_hidden: fans returned (1, 1)"
    assert count_timeouts(tmp_path / "missing.ipynb") == 0 and overruled(tmp_path / "missing.ipynb") == ""


def test_a_crash_is_explained_in_one_line():
    log = "running\n[AutogradeApp | ERROR] nbclient.exceptions.DeadKernelError: Kernel died\n"
    assert crash_reason(log).startswith("the kernel died: [AutogradeApp | ERROR] nbclient.exceptions.DeadKernelError")
    assert crash_reason("nothing useful").startswith("nbgrader failed")


def test_a_worker_that_exits_is_reported_as_a_crash_with_its_reason(tmp_path):
    # A course without nbgrader_config.py: the worker cannot start nbgrader and exits.
    worker = WorkerProcess(tmp_path, jobs=1)
    try:
        answer = worker.grade("s001", "dropout", timeout=120)
        assert answer is not None and answer.died
        assert "nbgrader_config.py does not exist" in worker.log_tail()
    finally:
        worker.stop()
    (outcome,) = autograde_all(tmp_path, [("s001", "dropout")], timeout=120, jobs=1)
    assert outcome.status == "crashed" and "ConfigurationError" in outcome.detail
