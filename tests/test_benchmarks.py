"""The benchmarks are not timed here: these runs only check that they work and print JSON."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(script: str, *args: str) -> list[dict]:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        capture_output=True, text=True, timeout=300, check=True,
    )
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


@pytest.mark.slow
def test_train_mnist1d_prints_its_summary_last():
    lines = _run("train_mnist1d.py", "--tiny", "--models", "logistic", "cnn-recipe")
    last = lines[-1]
    assert {"model", "test_accuracy", "seeds", "seconds"} <= set(last)
    assert last["model"].startswith("CNN") and last["seeds"] == 1
    assert 0.1 < last["test_accuracy"] <= 1  # one epoch already beats chance
    assert [line["model"] for line in lines if "parameters" in line] == ["logistic regression", last["model"]]


@pytest.mark.slow
def test_fit_overhead_prints_both_ratios():
    last = _run("fit_overhead.py", "--tiny")[-1]
    assert last["overhead_ratio"] > 0 and last["diagnostics_ratio"] > 0


@pytest.mark.slow
def test_grade_class_compares_both_graders_on_the_same_class():
    last = _run("grade_class.py", "--tiny")[-1]
    assert last["plain_notebooks_per_minute"] > 0 and last["course_notebooks_per_minute"] > 0
    assert last["same_grades"] is True  # parallel, sandboxed grading agrees with plain nbgrader


@pytest.mark.slow
def test_book_seeds_runs_a_chapter_on_shifted_seeds():
    lines = _run("book_seeds.py", "--chapters", "initialization", "--offsets", "1")
    assert lines[0]["chapter"] == "initialization" and lines[0]["offset"] == 1 and "held" in lines[0]
    assert lines[-1]["runs"] == 1 and lines[-1]["held"] + lines[-1]["failed"] == 1


@pytest.mark.slow
@pytest.mark.skipif(not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")), reason="PostgreSQL is not installed")
def test_grade_cluster_prints_a_rate_per_worker_count_and_the_same_grades():
    last = _run("grade_cluster.py", "--tiny")[-1]
    assert set(last["notebooks_per_minute"]) == {"local", "1 workers", "2 workers"}
    assert all(rate > 0 for rate in last["notebooks_per_minute"].values())
    assert last["same_grades"] is True  # the cluster gives the grades local grading gives
