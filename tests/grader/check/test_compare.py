"""The comparison: strict about types and values; nothing but plain values comes back from a fresh run."""
from __future__ import annotations

import io

import pytest
import torch

from coursegrader import contracts
from coursegrader.check.compare import Mismatch, compare, compare_group, group_message
from coursegrader.check.tasks import Task
from nnlab import grading

TASK = Task(lambda impl, seed: {}, "x")


def test_compare_is_strict_about_types_and_values():
    compare((3, 8), (3, 8), "fans(w)", TASK)
    compare(0.5 + 1e-12, 0.5, "lr", TASK)
    compare(2, 2.0, "an int where a float is expected", TASK)
    for actual, expected in [([3, 8], (3, 8)), ((3.0, 8), (3, 8)), (True, 1), ({"!raised": "TypeError"}, 1), (7, {"!raised": "ValueError"}),
                             (torch.ones(3), torch.ones(3, dtype=torch.float64)), (torch.ones(3), torch.zeros(3)),
                             ({"b": 1.0, "a": 2.0}, {"a": 2.0, "b": 1.0})]:
        with pytest.raises(Mismatch):
            compare(actual, expected, "call", TASK)


def test_a_mismatch_is_the_notebooks_grading_error_with_the_same_message():
    # one failure type for the notebooks' checks and the grader's comparison: no translation between them
    assert Mismatch is grading.GradingError
    with pytest.raises(Mismatch, match=r"call differs from the expected result at index \(1,\)"):
        compare(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 3.0]), "call", TASK)


def test_a_group_with_missing_cases_fails():
    expected = [{"call": "f(1)", "result": 1}, {"call": "f(2)", "result": 2}]
    compare_group([{"call": "f(1)", "result": 1}, {"call": "f(2)", "result": 2}], expected, TASK)
    with pytest.raises(Mismatch, match="did not all run"):
        compare_group([{"call": "f(1)", "result": 1}], expected, TASK)
    with pytest.raises(Mismatch, match="f\\(2\\): no result came back"):
        compare_group([{"call": "f(1)", "result": 1}, {"call": "f(2)"}], expected, TASK)


class Liar(int):
    def __eq__(self, other):
        return True

    __hash__ = int.__hash__


class LyingTensor(torch.Tensor):
    pass


def test_objects_of_the_students_own_classes_do_not_come_back():
    for value in (Liar(3), torch.ones(2).as_subclass(LyingTensor)):
        buffer = io.BytesIO()
        torch.save({"visible": [{"call": "c", "result": value}]}, buffer)
        buffer.seek(0)
        with pytest.raises(Exception):
            torch.load(buffer, weights_only=True)


def test_group_message_reads_the_runs_files(tmp_path):
    expected = [{"call": "f(1)", "result": 1}]
    assert group_message(tmp_path, "f", "visible", expected, TASK) == "f did not run in the grader's own run of your code"
    torch.save({"visible": [{"call": "f(1)", "result": 1}]}, tmp_path / contracts.observations_file("f"))
    assert group_message(tmp_path, "f", "visible", expected, TASK) == ""
    assert "did not all run" in group_message(tmp_path, "f", "hidden", expected, TASK)
    torch.save({"visible": [{"call": "f(1)", "result": Liar(1)}]}, tmp_path / contracts.observations_file("f"))
    assert "other than plain tensors" in group_message(tmp_path, "f", "visible", expected, TASK)
    (tmp_path / contracts.error_file("f")).write_text("f is not defined after running your cells")
    assert group_message(tmp_path, "f", "visible", expected, TASK) == "f is not defined after running your cells"
