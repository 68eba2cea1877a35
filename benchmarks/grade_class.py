"""How fast a class is graded: plain serial nbgrader against the course's parallel grader.

Builds a synthetic class (STUDENTS students x every assignment, or those named by
``--assignments``; half submit the solution,
a quarter the released notebook, a quarter a solution with one task wrong), then grades
it twice, each time in a fresh copy of the course:

* ``plain``: ``nbgrader autograde <assignment>`` once per assignment, serially, with a plain
  nbgrader configuration (course id, gradebook, cell timeout; no sandbox, no independent
  check, nbgrader's own preprocessors): what a plain nbgrader course does;
* ``course``: ``python -m coursegrader grade --jobs JOBS`` (what ``make grade JOBS=N`` runs):
  JOBS workers, each submission in a sandboxed kernel run up to its last test (every cell
  with ``--all-cells``) plus the independent check, then feedback, export and report.

Prints one JSON line per run and a last line with notebooks per minute for both and their
ratio (goal: >= 1.8 with JOBS=2 on a 2-core machine), and whether both gave the same grades.

    python benchmarks/grade_class.py --students 40 --jobs 2
    python benchmarks/grade_class.py --students 20 --light   # the two light assignments
    python benchmarks/grade_class.py --tiny

``--light`` grades only the assignments with the shortest notebooks (``initialization`` and
``cnn_sizing``): there the closing experiments the course grader skips are short, so the
sandbox's start-up and the check's second run of the student's code weigh the most.

Scaling with cores. Plain nbgrader grades one notebook at a time; it already keeps more
than one core partly busy (torch's threads in the training cells, nbgrader next to the
kernel: about 1.5 of 2 cores, measured from /proc/stat), so more cores barely speed it
up. The course grader runs JOBS submissions at once with cores/JOBS torch threads each, so
set JOBS to the number of cores: its throughput grows with JOBS until memory runs out
(each job holds a sandboxed kernel and the check's fresh run, each limited by
NNLAB_SANDBOX_MEMORY) or the gradebook's writes queue up (SQLite has one writer; use
PostgreSQL through NNLAB_GRADEBOOK_URL for many jobs). Only 2 cores were measured.
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

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from coursegrader.course_config import course_id, nbgrader_command  # noqa: E402
from coursegrader.gradebook import cell_scores, gradebook_url  # noqa: E402
from coursegrader.releasing import assignments, release  # noqa: E402


#: The assignments whose notebooks run the shortest.
LIGHT = ["cnn_sizing", "initialization"]


def make_class(course: Path, students: int) -> int:
    """Fill ``course/submitted`` with a synthetic class; returns the number of notebooks."""
    names = assignments(course)
    count = 0
    for index in range(students):
        student = f"student{index:03d}"
        for name in names:
            kind = ("solution", "solution", "released", "one_wrong")[index % 4]
            folder = "release" if kind == "released" else "source"
            notebook = nbformat.read(course / folder / name / f"{name}.ipynb", as_version=4)
            if kind == "one_wrong":
                cell = next(c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("solution")
                            and c.cell_type == "code")
                cell.source = cell.source.split("### BEGIN SOLUTION")[0] + "    raise NotImplementedError()\n"
            target = course / "submitted" / student / name
            target.mkdir(parents=True, exist_ok=True)
            nbformat.write(notebook, target / f"{name}.ipynb")
            count += 1
    return count


PLAIN_CONFIG = """\
c = get_config()
c.CourseDirectory.course_id = {course_id!r}
c.CourseDirectory.root = {root!r}
c.CourseDirectory.db_url = {db_url!r}
c.Execute.timeout = 120
"""


def fresh_course(workdir: Path, label: str, names: list[str]) -> Path:
    course = workdir / label / "exercises"
    for name in names:
        shutil.copytree(ROOT / "exercises" / "source" / name, course / "source" / name)
    shutil.copy(ROOT / "exercises" / "nbgrader_config.py", course)
    return course


def use_plain_config(course: Path) -> None:
    """Replace the course's nbgrader configuration by a plain one (same course id and gradebook)."""
    (course / "nbgrader_config.py").write_text(PLAIN_CONFIG.format(
        course_id=course_id(ROOT / "exercises"), root=str(course), db_url=gradebook_url(course)))


def environment(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.pop("NNLAB_GRADEBOOK_URL", None)
    env.update(extra)
    return env


def grades(course: Path) -> dict[str, dict[str, dict[str, float]]]:
    return {name: cell_scores(course, name) for name in assignments(course)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--assignments", nargs="+", help="the assignments to grade (default: all)")
    parser.add_argument("--tiny", action="store_true", help="2 students, 2 assignments: checks that it runs")
    parser.add_argument("--light", action="store_true", help="only the light assignments (initialization, cnn_sizing)")
    parser.add_argument("--all-cells", action="store_true",
                        help="the course grader runs every cell (NNLAB_GRADE_ALL_CELLS=1), not only up to the last test")
    args = parser.parse_args()
    students = 2 if args.tiny else args.students
    available = assignments(ROOT / "exercises")
    names = args.assignments or (["clipping", "lr_schedules"] if args.tiny else LIGHT if args.light else available)
    unknown = sorted(set(names) - set(available))
    if unknown:
        parser.error(f"unknown assignment(s) {unknown}; choose from {available}")
    with tempfile.TemporaryDirectory(prefix="nnlab-grade-bench-") as tmp:
        workdir = Path(tmp)
        results = {}
        for label in ("plain", "course"):
            course = fresh_course(workdir, label, names)
            with contextlib.redirect_stdout(sys.stderr):  # stdout carries only the JSON lines
                release(course)
            notebooks = make_class(course, students)
            start = time.perf_counter()
            if label == "plain":
                use_plain_config(course)
                env = environment()
                for name in assignments(course):
                    subprocess.run([*nbgrader_command(), "autograde", name, "--force"], cwd=course,
                                   env=env, capture_output=True, check=False)
            else:
                extra = {"NNLAB_GRADE_ALL_CELLS": "1"} if args.all_cells else {}
                subprocess.run([sys.executable, "-m", "coursegrader", "grade", "--course", str(course),
                                "--jobs", str(args.jobs)], cwd=ROOT, env=environment(**extra), capture_output=True,
                               check=True)
            seconds = time.perf_counter() - start
            results[label] = {"notebooks": notebooks, "seconds": round(seconds, 1),
                              "notebooks_per_minute": round(60 * notebooks / seconds, 2), "grades": grades(course)}
            print(json.dumps({"grader": label, **{k: v for k, v in results[label].items() if k != "grades"}}), flush=True)
        print(json.dumps({
            "students": students,
            "assignments": names,
            "jobs": args.jobs,
            "all_cells": args.all_cells,
            "light": args.light,
            "cores": os.cpu_count(),
            "plain_notebooks_per_minute": results["plain"]["notebooks_per_minute"],
            "course_notebooks_per_minute": results["course"]["notebooks_per_minute"],
            "speedup": round(results["course"]["notebooks_per_minute"] / results["plain"]["notebooks_per_minute"], 2),
            "same_grades": results["plain"]["grades"] == results["course"]["grades"],
        }), flush=True)


if __name__ == "__main__":
    main()
