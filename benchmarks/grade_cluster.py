"""How fast a class is graded on a Dask cluster, by number of workers, against local grading.

Builds the synthetic class of ``grade_class.py`` (half the students submit the solution, a
quarter the released notebook, a quarter a solution with one task wrong) on the light
assignments, then grades it in fresh copies of the course:

* ``local``: ``python -m coursegrader grade --jobs 1`` into SQLite (``make grade``);
* ``cluster``: ``python -m coursegrader grade --scheduler ...`` on a Dask scheduler and
  1, 2 and 4 workers started here on loopback, into a PostgreSQL server started here
  (Debian's ``postgresql``, ``make postgres-deps``).

Prints one JSON line per run (notebooks per minute) and a last line with every rate, the
engine's cost per submission (one cluster worker against one local job: shipping the files,
a scratch course, a fresh nbgrader per submission) and whether every run gave the local
grades.

    python benchmarks/grade_cluster.py --students 8
    python benchmarks/grade_cluster.py --tiny     # 2 students, one assignment, 1 and 2 workers

On this 2-core machine every worker shares the same two cores, so the rate stops growing at
two workers; on a cluster each worker machine brings its own cores, and the rate grows with
the machines until the scheduler or the gradebook queues the work (neither was measured here).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "grader"))  # the loopback PostgreSQL and Dask helpers of the tests

from grade_class import LIGHT, environment, fresh_course, grades, make_class  # noqa: E402

from coursegrader.releasing import release  # noqa: E402
from dask_cluster import Cluster  # noqa: E402
from postgres_server import postgres_server, server_binaries  # noqa: E402


def grade(course: Path, *options: str, **env: str) -> float:
    """Seconds to grade ``course`` with ``python -m coursegrader grade`` and ``options``."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "coursegrader", "grade", "--course", str(course), *options], cwd=ROOT,
                   env=environment(**env), capture_output=True, check=True)
    return time.perf_counter() - start


def scores_in(course: Path, url: str | None) -> dict:
    """Every cell's score, read from the gradebook at ``url`` (None: the course's SQLite file)."""
    previous = os.environ.pop("NNLAB_GRADEBOOK_URL", None)
    if url:
        os.environ["NNLAB_GRADEBOOK_URL"] = url
    try:
        return grades(course)
    finally:
        os.environ.pop("NNLAB_GRADEBOOK_URL", None)
        if previous is not None:
            os.environ["NNLAB_GRADEBOOK_URL"] = previous


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=8)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--tiny", action="store_true", help="2 students, one assignment, 1 and 2 workers")
    args = parser.parse_args()
    if server_binaries() is None:
        parser.error("PostgreSQL is not installed (make postgres-deps)")
    students = 2 if args.tiny else args.students
    names = ["initialization"] if args.tiny else LIGHT
    worker_counts = [1, 2] if args.tiny else args.workers
    with tempfile.TemporaryDirectory(prefix="nnlab-cluster-bench-") as tmp:
        workdir = Path(tmp)
        released = fresh_course(workdir, "released", names)
        with contextlib.redirect_stdout(sys.stderr):  # stdout carries only the JSON lines
            release(released)
        runs = {}
        for label in ["local"] + [f"{n} workers" for n in worker_counts]:
            course = workdir / label.replace(" ", "-") / "exercises"
            shutil.copytree(released, course)
            notebooks = make_class(course, students)
            if label == "local":
                seconds = grade(course, "--jobs", "1")
            else:
                workers = int(label.split()[0])
                with postgres_server() as url:
                    cluster = Cluster(workdir / f"hosts-{workers}", workers=workers)
                    try:
                        cluster.client().close()  # every worker registered before the clock starts
                        seconds = grade(course, "--scheduler", cluster.address, NNLAB_GRADEBOOK_URL=url)
                        scores = scores_in(course, url)
                    finally:
                        cluster.stop()
            if label == "local":
                scores = scores_in(course, None)
            runs[label] = {"notebooks": notebooks, "seconds": round(seconds, 1),
                           "notebooks_per_minute": round(60 * notebooks / seconds, 2), "grades": scores}
            print(json.dumps({"grader": label, **{k: v for k, v in runs[label].items() if k != "grades"}}), flush=True)
        one_worker = runs[f"{worker_counts[0]} workers"]
        print(json.dumps({
            "students": students,
            "assignments": names,
            "notebooks_per_minute": {label: run["notebooks_per_minute"] for label, run in runs.items()},
            # what the engine adds per submission: one cluster worker against one local job
            "engine_seconds_per_submission": round(
                (one_worker["seconds"] - runs["local"]["seconds"]) / one_worker["notebooks"], 2),
            "same_grades": all(run["grades"] == runs["local"]["grades"] for run in runs.values()),
        }), flush=True)


if __name__ == "__main__":
    main()
