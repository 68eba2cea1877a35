"""The contracts between the grader's processes: every message survives its trip, every knob is documented."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from coursegrader import contracts

ROOT = Path(__file__).resolve().parents[2]


def test_worker_messages_survive_a_line():
    request = contracts.WorkerRequest("s001", "dropout")
    assert contracts.WorkerRequest.from_line(request.to_line()) == request
    answer = contracts.WorkerAnswer(success=True, feedback=True, log="ok", seconds=1.5)
    line = answer.to_line()
    assert line.endswith("\n") and line.count("\n") == 1
    assert contracts.WorkerAnswer.from_line(line) == answer


def test_a_worker_that_exited_is_an_answer_that_says_so():
    assert contracts.WorkerAnswer.from_line("").died
    assert contracts.WorkerAnswer.from_line("Traceback (most recent call last):").died


def test_the_fresh_run_request_survives_json():
    request = contracts.FreshRunRequest("clipping", [{"name": "imports", "source": "import torch"}], ["clip_by_norm"], 60.0)
    assert contracts.FreshRunRequest.from_json(request.to_json()) == request


def test_a_verdict_is_stored_and_read_back_from_notebook_metadata():
    metadata: dict = {}
    verdict = contracts.Verdict(failed={"fans_hidden": "wrong"}, overruled=[{"cell": "fans_hidden", "message": "wrong"}],
                                problem="", seconds=1.2)
    verdict.store(metadata)
    assert list(metadata) == [contracts.VERDICT_KEY]
    assert contracts.Verdict.read(metadata) == verdict
    assert contracts.Verdict.read({}) == contracts.Verdict()


def test_settings_fall_back_to_their_documented_defaults(monkeypatch):
    monkeypatch.delenv("NNLAB_CELL_TIMEOUT", raising=False)
    assert contracts.cell_timeout() == 120.0
    monkeypatch.setenv("NNLAB_CELL_TIMEOUT", "30")
    assert contracts.cell_timeout() == 30.0
    for value, on in [("off", False), ("0", False), ("No", False), ("on", True), ("", True)]:
        monkeypatch.setenv("NNLAB_SANDBOX", value)
        assert contracts.sandbox_enabled() is on


def test_every_environment_variable_the_code_reads_is_documented_in_one_place():
    names = {setting.name for setting in contracts.SETTINGS}
    assert all(setting.meaning for setting in contracts.SETTINGS)
    pattern = re.compile(r"\bNNLAB_[A-Z_]+\b")
    used = set()
    for folder in ("coursegrader", "nnlab", "exercises", "benchmarks", "hub"):
        for path in (ROOT / folder).rglob("*.py"):
            used |= set(pattern.findall(path.read_text()))
    used |= set(pattern.findall((ROOT / "Makefile").read_text()))
    assert used <= names, sorted(used - names)
    # and only contracts.py spells a default: no other module repeats "NNLAB_X", "default"
    repeated = re.compile(r"environ\.get\(\s*\"NNLAB_[A-Z_]+\"\s*,\s*\"")
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "coursegrader").rglob("*.py") if repeated.search(p.read_text())]
    offenders += [str(p.relative_to(ROOT)) for p in [ROOT / "exercises" / "nbgrader_config.py"] if repeated.search(p.read_text())]
    assert offenders == []


def test_workers_per_machine_is_a_positive_count(monkeypatch):
    monkeypatch.delenv("NNLAB_WORKERS_PER_MACHINE", raising=False)
    assert contracts.workers_per_machine() == 1
    monkeypatch.setenv("NNLAB_WORKERS_PER_MACHINE", "4")
    assert contracts.workers_per_machine() == 4
    for bad in ("0", "-2", "two"):
        monkeypatch.setenv("NNLAB_WORKERS_PER_MACHINE", bad)
        with pytest.raises(ValueError, match="NNLAB_WORKERS_PER_MACHINE must be a positive integer"):
            contracts.workers_per_machine()
