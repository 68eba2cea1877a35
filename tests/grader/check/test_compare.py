"""The comparison: strict about types and values; nothing but plain values comes back from a fresh run."""
from __future__ import annotations

import io

import pytest
import torch

from coursegrader.check.compare import (Mismatch, compare, compare_group, group_message, kind_of_mistake,
                                        validate_observations)
from coursegrader.check.fresh_run import Results
from coursegrader.check.tasks import Task
from nnlab import grading

TASK = Task(lambda impl, seed: {}, "x")


def test_compare_is_strict_about_types_and_values():
    compare((3, 8), (3, 8), "fans(w)", TASK)
    compare(0.5 + 1e-12, 0.5, "lr", TASK)
    compare(2, 2.0, "an int where a float is expected", TASK)
    compare({"!raised": "ValueError"}, {"!raised": "ValueError"}, "fans(torch.empty(3))", TASK)
    for actual, expected in [([3, 8], (3, 8)), ((3.0, 8), (3, 8)), (True, 1), ({"!raised": "TypeError"}, 1), (7, {"!raised": "ValueError"}),
                             ({"!raised": "NotImplementedError"}, {"!raised": "ValueError"}),
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


def _saved(value) -> bytes:
    buffer = io.BytesIO()
    torch.save(value, buffer)
    return buffer.getvalue()


def test_group_message_judges_what_the_run_sent_back():
    expected = [{"call": "f(1)", "result": 1}]
    results = Results()
    assert group_message(results, "f", "visible", expected, TASK) == ("f did not run in the grader's own run of your code", False)
    results.observations["f"] = _saved({"visible": [{"call": "f(1)", "result": 1}]})
    assert group_message(results, "f", "visible", expected, TASK) == ("", False)
    assert "did not all run" in group_message(results, "f", "hidden", expected, TASK)[0]
    results.observations["f"] = _saved({"visible": [{"call": "f(1)", "result": 2}]})
    assert group_message(results, "f", "visible", expected, TASK) == ("f(1) returned 2; expected 1", True)
    results.observations["f"] = _saved({"visible": [{"call": "f(1)", "result": Liar(1)}]})
    assert "other than plain tensors" in group_message(results, "f", "visible", expected, TASK)[0]
    results.errors["f"] = "f is not defined after running your cells"
    assert group_message(results, "f", "visible", expected, TASK) == ("f is not defined after running your cells", False)


def test_tensors_not_stored_in_full_are_refused_before_any_arithmetic():
    validate_observations({"visible": [{"call": "c", "result": {"sample": torch.ones(3, 4)}}]})
    with pytest.raises(Mismatch, match="not stored in full"):
        validate_observations([torch.zeros(1).expand(1000)])
    with pytest.raises(Mismatch, match="more than the grader compares"):
        validate_observations([torch.zeros(1).expand(2**31)])
    nested: list = []
    for _ in range(30):
        nested = [nested]
    with pytest.raises(Mismatch, match="nested too deeply"):
        validate_observations(nested)


@pytest.mark.parametrize("message, kind", [
    ("fans(torch.empty(3,)) returned (3, 1); expected it to raise ValueError", "it returned a result where invalid input must raise ValueError"),
    ("fans(torch.empty(4, 5)) raised TypeError; expected (5, 4)", "it raised TypeError on valid input"),
    ("fans(torch.empty(3,)) raised NotImplementedError; expected it to raise ValueError",
     "it raised NotImplementedError where invalid input must raise ValueError"),
    ("dropout(x) returned shape (4,); expected (4, 5)", "the result has the wrong shape"),
    ("dropout(x) returned a torch.float64 tensor; expected torch.float32", "the result has the wrong dtype"),
    ("f(x) differs from the expected result at index (3,): got 1, expected 2 (tolerance ...)",
     "a value differs from the expected one by more than the tolerance"),
    ("he_normal_(torch.empty(40, 30)): the values have standard deviation 0.2; expected σ = 0.1", "the values do not follow the expected distribution"),
    ("fans(torch.empty(4, 5))[0] returned 1; expected 5", "the result differs from the expected one"),
])
def test_a_hidden_failure_is_described_by_its_kind(message, kind):
    assert kind_of_mistake(message) == kind
    assert "torch.empty" not in kind_of_mistake(message)
