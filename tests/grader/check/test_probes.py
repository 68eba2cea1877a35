"""The probes, one module per assignment: deterministic per seed, fresh across seeds, and the
references pass their own comparison (so a correct student can pass too)."""
from __future__ import annotations

import pkgutil
from pathlib import Path

import nbformat
import pytest

import coursegrader.check.probes as probes
from coursegrader import contracts
from coursegrader.check.compare import compare_group
from coursegrader.check.tasks import resolve, specification

ROOT = Path(__file__).resolve().parents[3]
ASSIGNMENTS = sorted(p.name for p in (ROOT / "exercises" / "source").iterdir() if p.is_dir())


def test_one_probe_module_per_assignment():
    modules = {m.name for m in pkgutil.iter_modules(probes.__path__)}
    assert modules == set(ASSIGNMENTS)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_probes_are_repeatable_fresh_and_passed_by_the_reference(assignment):
    for name, task in specification(assignment).items():
        reference = resolve(task.reference)
        first, again, other = task.probe(reference, 11), task.probe(reference, 11), task.probe(reference, 12)
        groups = list(first)
        assert set(groups) <= set(contracts.GROUPS) and first["visible"] and first["hidden"], name
        assert all(first[group] for group in groups), name
        for group in groups:
            compare_group(again[group], first[group], task)  # same seed: same cases, same results
        calls = [case["call"] for group in groups for case in first[group]]
        assert calls == [case["call"] for group in groups for case in again[group]]
        # another seed draws other inputs somewhere (a task with fixed cases shows it in its results)
        assert calls != [c["call"] for g in groups for c in other[g]] or _differ(first, other, task), name


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_each_group_of_the_check_has_its_test_cell_and_each_test_cell_its_group(assignment):
    # A group without a cell would fail unseen; a cell without a group would be scored by the notebook alone.
    notebook = nbformat.read(ROOT / "exercises" / "source" / assignment / f"{assignment}.ipynb", as_version=4)
    cells = {cell.metadata["nbgrader"]["grade_id"] for cell in notebook.cells
             if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade")}
    groups = {f"{name}_{group}" for name, task in specification(assignment).items()
              for group in task.probe(resolve(task.reference), 11)}
    assert cells == groups


def _differ(first: dict, other: dict, task) -> bool:
    try:
        for group in first:
            compare_group(other[group], first[group], task)
    except AssertionError:
        return True
    return False
