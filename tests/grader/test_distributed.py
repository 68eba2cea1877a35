"""Grading on a Dask cluster: a real scheduler and two real workers as separate processes,
each worker on a host of its own (a network namespace joined to this machine by a veth pair,
:mod:`network_hosts`; where namespaces cannot be made, on loopback) and in its own working
folder, and a real PostgreSQL gradebook that the workers reach over their network.

The class is graded on the cluster and, for reference, locally into SQLite; every submission
must get the same per-cell scores both ways, exactly one submission row in the gradebook,
and its autograded notebook and feedback in the instructor's course folder, whatever goes
wrong: a worker killed while it grades, never to come back (its submission is graded by the
other, and the report says it took two attempts), or the scheduler killed mid-class and
started again (what was in flight is submitted again, and the report says so).
"""
from __future__ import annotations

import importlib.util
import shutil
import threading
import time
from pathlib import Path

import pytest

from coursegrader.contracts import Outcome
from coursegrader.distributed import Graded, bundle, write_back
from dask_cluster import Cluster
from network_hosts import NETWORK, make_hosts
from postgres_server import postgres_server, server_binaries
from two_students import submit_solution_and_blank

ASSIGNMENTS = ("initialization", "cnn_sizing")


pytestmark = [
    pytest.mark.skipif(server_binaries() is None, reason="PostgreSQL is not installed (make postgres-deps)"),
    pytest.mark.skipif(importlib.util.find_spec("distributed") is None, reason="Dask distributed is not installed"),
]


@pytest.fixture(scope="module")
def local_grades(released_course, tmp_path_factory):
    """The reference: the class graded on this machine, into SQLite, as `make grade` does."""
    from coursegrader.cli import grade
    from coursegrader.gradebook import cell_scores

    course = tmp_path_factory.mktemp("local") / "exercises"
    shutil.copytree(released_course, course)
    submit_solution_and_blank(course, ASSIGNMENTS)
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("NNLAB_GRADEBOOK_URL", raising=False)
        assert [o.status for o in grade(course, jobs=2)] == ["graded"] * 4
        scores = {assignment: cell_scores(course, assignment) for assignment in ASSIGNMENTS}
    for assignment in ASSIGNMENTS:
        assert sum(scores[assignment]["s001"].values()) > 0  # the solution scores
        assert sum(scores[assignment]["s002"].values()) == 0  # the blank notebook does not
    return scores


def _grade_on_cluster(course: Path, cluster: Cluster, fault) -> list:
    """Grade ``course`` on ``cluster`` in a thread while ``fault(watcher)`` strikes; the outcomes."""
    from coursegrader.cli import grade

    finished: dict = {}

    def grade_on_the_cluster() -> None:
        try:
            finished["outcomes"] = grade(course, scheduler=cluster.address)
        except BaseException as error:  # re-raised below, in the test's thread
            finished["error"] = error

    watcher = cluster.client()
    grading = threading.Thread(target=grade_on_the_cluster)
    grading.start()
    try:
        fault(watcher)
    finally:
        watcher.close()
        grading.join(timeout=900)
    assert not grading.is_alive(), "grading on the cluster did not finish"
    if "error" in finished:
        raise finished["error"]
    return finished["outcomes"]


def _busy_worker(watcher, seconds: float = 120) -> str:
    """The name of the first worker seen grading."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        busy = sorted(info["name"] for address, info in watcher.scheduler_info()["workers"].items()
                      if watcher.processing([address])[address])
        if busy:
            return busy[0]
        time.sleep(0.5)
    raise AssertionError(f"no worker started grading within {seconds:.0f} s")


def _check_graded_once(course: Path, outcomes, local_grades) -> None:
    from coursegrader.gradebook import cell_scores, open_gradebook

    assert [o.status for o in outcomes] == ["graded"] * 4, outcomes
    with open_gradebook(course) as gradebook:
        rows = [(s.student.id, s.assignment.name) for a in ASSIGNMENTS for s in gradebook.find_assignment(a).submissions]
    assert sorted(rows) == sorted((s, a) for s in ("s001", "s002") for a in ASSIGNMENTS)  # once each, none lost
    assert {assignment: cell_scores(course, assignment) for assignment in ASSIGNMENTS} == local_grades
    for student in ("s001", "s002"):
        for assignment in ASSIGNMENTS:
            assert (course / "autograded" / student / assignment / f"{assignment}.ipynb").is_file()
            assert (course / "feedback" / student / assignment / f"{assignment}.html").is_file()
    assert "more than one attempt" in (course / "report" / "index.html").read_text()


@pytest.fixture
def cluster_course(released_course, tmp_path, monkeypatch):
    """A copy of the class, a PostgreSQL gradebook and a cluster of two workers, all fresh."""
    course = tmp_path / "exercises"
    shutil.copytree(released_course, course)
    submit_solution_and_blank(course, ASSIGNMENTS)
    (tmp_path / "hosts").mkdir()
    hosts, why_not = make_hosts(2)
    if hosts is None:
        print(f"workers on loopback in separate working folders: {why_not}")
    try:
        address = hosts.here if hosts is not None else "127.0.0.1"
        with postgres_server(address=address, clients=NETWORK if hosts is not None else None) as url:
            monkeypatch.setenv("NNLAB_GRADEBOOK_URL", url)
            cluster = Cluster(tmp_path / "hosts", hosts=hosts)
            try:
                yield course, cluster
            finally:
                cluster.stop()
    finally:
        if hosts is not None:
            hosts.remove()


@pytest.mark.slow
def test_each_worker_is_a_host_of_its_own(cluster_course):
    import os
    import subprocess
    import sys
    from urllib.parse import urlparse

    course, cluster = cluster_course
    if cluster.hosts is None:
        pytest.skip("network namespaces cannot be made here: the workers share this machine's loopback")
    watcher = cluster.client()
    try:
        addresses = sorted(info["host"] for info in watcher.scheduler_info()["workers"].values())
    finally:
        watcher.close()
    assert addresses == [cluster.hosts.address(0), cluster.hosts.address(1)]
    gradebook = urlparse(os.environ["NNLAB_GRADEBOOK_URL"])
    assert gradebook.hostname == cluster.hosts.here

    def reaches(host: str) -> bool:
        probe = f"import socket; s = socket.socket(); s.settimeout(5); print(s.connect_ex(({host!r}, {gradebook.port})))"
        done = subprocess.run([*cluster.hosts.run(0), sys.executable, "-c", probe], capture_output=True, text=True)
        return done.stdout.strip() == "0"

    # from a worker's host, the gradebook is on another machine: reached at its address, not on loopback
    assert reaches(cluster.hosts.here)
    assert not reaches("127.0.0.1")


@pytest.mark.slow
def test_a_worker_killed_while_grading_costs_only_an_attempt(cluster_course, local_grades):
    course, cluster = cluster_course

    def kill_a_busy_worker(watcher) -> None:
        victim = _busy_worker(watcher)
        time.sleep(3)  # well inside nbgrader's autograde of that submission
        cluster.workers[victim].kill()  # and it never comes back

    outcomes = _grade_on_cluster(course, cluster, kill_a_busy_worker)
    _check_graded_once(course, outcomes, local_grades)
    retried = [o for o in outcomes if o.retried]
    assert len(retried) == 1 and retried[0].retried.startswith("graded in 2 attempts (workers:"), outcomes


@pytest.mark.slow
def test_a_restarted_scheduler_loses_no_submission(cluster_course, local_grades):
    course, cluster = cluster_course

    def restart_the_scheduler(watcher) -> None:
        _busy_worker(watcher)
        time.sleep(3)
        cluster.restart_scheduler()

    outcomes = _grade_on_cluster(course, cluster, restart_the_scheduler)
    _check_graded_once(course, outcomes, local_grades)
    restarted = [o for o in outcomes if "scheduler was restarted" in o.retried]
    assert restarted, outcomes  # at least the submissions that were being graded


def test_grading_on_a_cluster_refuses_a_gradebook_the_workers_cannot_reach(released_course, tmp_path, monkeypatch):
    from coursegrader.cli import grade
    from coursegrader.course_config import ConfigurationError

    monkeypatch.delenv("NNLAB_GRADEBOOK_URL", raising=False)
    with pytest.raises(ConfigurationError, match="NNLAB_GRADEBOOK_URL=postgresql"):
        grade(released_course, scheduler="tcp://127.0.0.1:1")


def test_a_submissions_bundle_carries_what_a_worker_needs_and_nothing_else(released_course, tmp_path):
    course = tmp_path / "exercises"
    shutil.copytree(released_course, course)
    submit_solution_and_blank(course, ASSIGNMENTS)
    (course / "source" / "initialization" / "signals.csv").write_text("1,2\n")
    (course / "submitted" / "s001" / "initialization" / "timestamp.txt").write_text("2026-12-01 10:00:00\n")
    task = bundle(course, "s001", "initialization", 60.0, "postgresql://grader@db/course")
    assert set(task.files) == {"submitted/s001/initialization/initialization.ipynb",
                               "submitted/s001/initialization/timestamp.txt", "source/initialization/signals.csv"}
    assert task.secret == (course / task.secret_path).read_text()  # the course's, so probes match local grading
    assert task.config == (course / "nbgrader_config.py").read_text()
    assert task.gradebook_url == "postgresql://grader@db/course"


def test_results_are_written_back_only_where_they_belong(tmp_path):
    course = tmp_path / "exercises"
    old = course / "autograded" / "s001" / "lab" / "old.txt"
    old.parent.mkdir(parents=True)
    old.write_text("an earlier grading")
    outcome = Outcome("s001", "lab", "graded", 1.0)
    write_back(course, Graded(outcome, "host", {"autograded/s001/lab/lab.ipynb": b"{}",
                                                 "feedback/s001/lab/lab.html": b"<html>"}))
    assert (course / "autograded" / "s001" / "lab" / "lab.ipynb").read_bytes() == b"{}"
    assert not old.exists()  # replaced as a local regrade replaces it
    assert (course / "feedback" / "s001" / "lab" / "lab.html").read_bytes() == b"<html>"
    for path in ("submitted/s001/lab/lab.ipynb", "autograded/s002/lab/lab.ipynb", "../outside.txt",
                 "/etc/passwd"):
        with pytest.raises(ValueError, match="outside"):
            write_back(course, Graded(outcome, "host", {path: b"x"}))
    assert (course / "submitted").exists() is False and not (tmp_path / "outside.txt").exists()


def test_the_attempt_log_counts_this_runs_attempts_only_and_survives_a_lost_scheduler():
    from coursegrader.distributed import AttemptLog

    class Scheduler:
        """The scheduler's event log as a client sees it; it can go away and come back empty."""

        events = [(1.0, {"student": "s1", "assignment": "a", "worker": "tcp://w0", "run": "earlier"}),
                  (2.0, {"student": "s1", "assignment": "a", "worker": "tcp://w0", "run": "this"})]
        away = False

        def get_events(self, topic):
            if self.away:
                raise OSError("scheduler-connection-lost")
            return list(self.events)

    scheduler = Scheduler()
    log = AttemptLog(scheduler, "this")
    time.sleep(1.5)  # the log copies the scheduler's events once a second
    scheduler.away = True
    time.sleep(1.2)
    scheduler.away, scheduler.events = False, [
        (3.0, {"student": "s1", "assignment": "a", "worker": "tcp://w1", "run": "this"})]  # a new, empty scheduler
    assert log.stop() == {("s1", "a"): ["tcp://w0", "tcp://w1"]}
