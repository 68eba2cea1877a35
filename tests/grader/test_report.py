"""The report: every submission that needs attention is listed, with what happened."""
from __future__ import annotations

import json

from coursegrader.contracts import Outcome
from coursegrader.report import write_report


def test_the_report_lists_problems_and_records_every_outcome(tmp_path, monkeypatch):
    monkeypatch.delenv("NNLAB_GRADEBOOK_URL", raising=False)
    outcomes = [
        Outcome("s1", "dropout", "graded", 3.0),
        Outcome("s2", "dropout", "timed out", 1800.0, "grading took longer than 1800 s and was stopped"),
        Outcome("s3", "dropout", "graded", 3.0, overruled="dropout_hidden: zeroed whole rows"),
        Outcome("s<4>", "dropout", "rejected", 0.0, "student id must use letters, digits, '.', '_' or '-' only"),
    ]
    page = write_report(tmp_path, ["dropout"], outcomes).read_text()
    assert "s2" in page and "timed out" in page and "zeroed whole rows" in page
    assert "s&lt;4&gt;" in page and "s<4>" not in page  # names are escaped
    assert "<td>s1</td>" not in page  # a clean submission needs no attention
    recorded = json.loads((tmp_path / "report" / "outcomes.json").read_text())
    assert [Outcome(**row) for row in recorded] == outcomes
