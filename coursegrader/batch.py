"""One nbgrader step for several assignments in one process.

``python -m coursegrader.batch generate_assignment ps1 ps2 ...`` (in the course root) does
what ``nbgrader generate_assignment ps1 --force`` and so on would, one assignment after the
other, through nbgrader's own API (``NbGraderAPI``), and prints one JSON line per assignment:
``{"assignment": ..., "success": ..., "log": ..., "error": ...}``.

Why: each ``nbgrader`` command is a new Python process that spends about 3 s importing
nbgrader before its fraction of a second of work; releasing the twelve assignments one
command each took 85 s here, one process for all of them about 10 s.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

#: The steps this module runs, and the configuration each needs besides the course's own.
STEPS = ("generate_assignment", "release_assignment", "collect", "release_feedback")


def _api(course: Path, step: str, exchange: str | None, into: str | None, exclude: str | None = None):
    from nbgrader.apps import NbGraderAPI
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    if step == "release_assignment":
        # what `nbgrader release_assignment --force` sets
        config.ExchangeReleaseAssignment.force = True
    if exchange:
        config.Exchange.root = exchange
    if into:
        config.CourseDirectory.submitted_directory = into
    if exclude:
        config.CourseDirectory.student_id_exclude = exclude
    return NbGraderAPI(config=config)


def _run(step: str, names: list[str], exchange: str | None, into: str | None, exclude: str | None = None) -> int:
    course = Path.cwd()
    api = _api(course, step, exchange, into, exclude)
    failed = 0
    for name in names:
        if step == "generate_assignment":
            result = api.generate_assignment(name, force=True, create=True)
        elif step == "release_assignment":
            result = api.release_assignment(name)
        elif step == "release_feedback":
            result = api.release_feedback(name)
        else:
            result = api.collect(name, update=True)
        failed += not result["success"]
        print(json.dumps({"assignment": name, "success": bool(result["success"]),
                          "log": result.get("log", ""), "error": result.get("error", "")}), flush=True)
    return 1 if failed else 0


def run_steps(course: Path, step: str, names: list[str], exchange: Path | None = None,
              env: dict[str, str] | None = None, into: str | None = None,
              exclude_students: Sequence[str] = ()) -> dict[str, dict]:
    """Run ``step`` for each of ``names`` in one process started in ``course``; each name's result.

    ``exchange`` is the root of nbgrader's exchange (release, collect); ``into`` the folder,
    relative to the course, that ``collect`` writes to instead of ``submitted/``;
    ``exclude_students`` the students the step leaves out (nbgrader's ``student_id_exclude``).

    Raises RuntimeError naming the first assignment that failed, with nbgrader's log and error.
    """
    if step not in STEPS:
        raise ValueError(f"unknown step {step!r}: expected one of {STEPS}")
    if not names:
        return {}
    argv = [sys.executable, "-m", "coursegrader.batch", step, *names]
    if exchange is not None:
        argv += ["--exchange", str(exchange)]
    if into is not None:
        argv += ["--into", into]
    if exclude_students:
        argv += ["--exclude-students", ",".join(sorted(exclude_students))]
    done = subprocess.run(argv, cwd=course, env=env if env is not None else dict(os.environ),
                          capture_output=True, text=True)
    results: dict[str, dict] = {}
    for line in done.stdout.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # something nbgrader or a preprocessor printed
        if isinstance(record, dict) and record.get("assignment") in names:
            results[record["assignment"]] = record
    for name in names:
        record = results.get(name)
        if record is None:
            raise RuntimeError(f"nbgrader {step} {name} did not run:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
        if not record["success"]:
            raise RuntimeError(f"nbgrader {step} {name} failed:\n{record['log']}\n{record['error']}")
    return results


def _option(argv: list[str], name: str) -> tuple[list[str], str | None]:
    if name not in argv:
        return argv, None
    at = argv.index(name)
    return argv[:at] + argv[at + 2:], argv[at + 1]


def main(argv: list[str]) -> int:
    argv, exchange = _option(argv, "--exchange")
    argv, into = _option(argv, "--into")
    argv, exclude = _option(argv, "--exclude-students")
    if len(argv) < 2 or argv[0] not in STEPS:
        print(f"usage: python -m coursegrader.batch {{{'|'.join(STEPS)}}} ASSIGNMENT... [--exchange ROOT] [--into FOLDER] "
              "[--exclude-students ID,ID]", file=sys.stderr)
        return 2
    return _run(argv[0], argv[1:], exchange, into, exclude)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
