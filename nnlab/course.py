"""The instructor's cycle: release the assignments, grade a class, report on it.

    python -m nnlab.course release [--course exercises]
    python -m nnlab.course grade   [--course exercises] [--jobs N]
    python -m nnlab.course lab     [--course exercises] [--workspace student]

``release`` generates ``release/<assignment>/`` from ``source/`` for every assignment (and
registers it in the gradebook). ``grade`` autogrades every submission found at
``submitted/<student>/<assignment>/<assignment>.ipynb`` (new students are added to the
gradebook), writes feedback, exports ``grades.csv`` and writes a report
(``report/index.html``) with the score distribution of each assignment, the failure rate of
each test, and every submission that timed out or crashed.

Student code runs in a sandbox (:mod:`nnlab.sandbox`). ``--jobs`` workers grade at once,
each an nbgrader loaded once (:mod:`nnlab.course_worker`) taking the next submission when
it is free; a submission whose kernel died or that ran out of time costs only that
student's grade (its worker is replaced) and the report says what happened. ``submitted/`` is only read.
Grading is repeatable: running it again regrades everything and gives the same grades.
"""
from __future__ import annotations

import argparse
import base64
import html
import io
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

#: Student ids are also file names and nbgrader globs: keep them to safe characters.
STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class Outcome:
    """How the autograding of one submission went."""

    student: str
    assignment: str
    status: str  # "graded", "timed out" (whole notebook), "crashed", "rejected"
    seconds: float
    detail: str = ""  # what went wrong, for the report
    timed_out_cells: int = 0  # cells interrupted after the per-cell timeout
    overruled: str = ""  # test cells that passed in the notebook but failed the independent check


def default_course() -> Path:
    return Path(__file__).resolve().parents[1] / "exercises"


def nbgrader_command() -> list[str]:
    """The nbgrader command of the running Python's environment."""
    executable = Path(sys.executable).parent / "nbgrader"
    return [str(executable)] if executable.exists() else [sys.executable, "-m", "nbgrader"]


class _Worker:
    """One :mod:`nnlab.course_worker` process: nbgrader loaded once, one submission at a time."""

    def __init__(self, course: Path, jobs: int):
        import tempfile

        self.log = tempfile.TemporaryFile()  # what nbgrader prints; its tail explains a crash
        self.process = subprocess.Popen(
            [sys.executable, "-m", "nnlab.course_worker", str(course)], cwd=course, env=_environment(course, jobs),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True,
        )

    def grade(self, student: str, assignment: str, timeout: float) -> dict | None:
        """The worker's answer, ``{"died": True}`` if it exited, or None after ``timeout`` seconds."""
        import select

        try:
            self.process.stdin.write(json.dumps({"student": student, "assignment": assignment}) + "\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            return {"died": True}
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not ready:
            return None
        line = self.process.stdout.readline()
        try:
            return json.loads(line)
        except ValueError:  # end of output: the worker exited
            return {"died": True}

    def log_tail(self) -> str:
        self.log.seek(0)
        return self.log.read()[-6000:].decode(errors="replace")

    def stop(self) -> None:
        # Its sandboxed kernels die with it (bubblewrap's --die-with-parent).
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except OSError:
                pass
        self.log.close()


def _crash_reason(log: str) -> str:
    reason = "the kernel died" if "DeadKernelError" in log or "Kernel died" in log else "nbgrader failed"
    lines = [line for line in log.splitlines() if "Error" in line or "error" in line]
    return f"{reason}: {lines[-1].strip() if lines else ''}"[:300]


def autograde_all(course: Path, pairs: Sequence[tuple[str, str]], timeout: float, jobs: int) -> list[Outcome]:
    """Autograde ``(student, assignment)`` submissions and write their feedback, ``jobs`` at once.

    ``jobs`` workers (:mod:`nnlab.course_worker`) each take the next submission as soon as
    they are free. A submission that takes longer than ``timeout`` seconds is stopped with its
    worker, a submission that nbgrader could not grade (its kernel died) gets a clear line;
    either way its worker is replaced, so one submission never costs another its grade.
    """
    if not pairs:
        return []
    import threading
    from concurrent.futures import ThreadPoolExecutor

    queue = list(pairs)
    lock = threading.Lock()
    outcomes: dict[tuple[str, str], Outcome] = {}

    def report(outcome: Outcome) -> None:
        note = f" ({outcome.detail})" if outcome.detail else (
            " (independent check overruled: " + outcome.overruled[:120] + ")" if outcome.overruled else "")
        print(f"{outcome.status:>9}  {outcome.student}/{outcome.assignment}  {outcome.seconds:.1f} s{note}", flush=True)

    def serve() -> None:
        worker: _Worker | None = None
        try:
            while True:
                with lock:
                    if not queue:
                        return
                    student, assignment = queue.pop(0)
                worker = worker or _Worker(course, jobs)
                start = time.perf_counter()
                answer = worker.grade(student, assignment, timeout)
                seconds = time.perf_counter() - start
                graded = course / "autograded" / student / assignment / f"{assignment}.ipynb"
                if answer is None:
                    outcome = Outcome(student, assignment, "timed out", seconds,
                                      f"grading took longer than {timeout:.0f} s and was stopped")
                elif answer.get("success") and graded.is_file():
                    outcome = Outcome(student, assignment, "graded", seconds, timed_out_cells=_count_timeouts(graded),
                                      overruled=_overruled(graded))
                    if not answer.get("feedback"):
                        print(f"warning: no feedback for {student}/{assignment}:\n{answer.get('log', '')[-2000:]}",
                              file=sys.stderr)
                else:
                    log = answer.get("log", "") + "\n" + worker.log_tail()
                    outcome = Outcome(student, assignment, "crashed", seconds, _crash_reason(log))
                if outcome.status != "graded":
                    worker.stop()  # a fresh worker for the next submission: nothing carries over
                    worker = None
                with lock:
                    outcomes[student, assignment] = outcome
                    report(outcome)
        finally:
            if worker is not None:
                worker.process.stdin.close()  # end of input: the worker finishes and exits
                try:
                    worker.process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    pass
                worker.stop()

    workers = min(jobs, len(queue))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for done in [pool.submit(serve) for _ in range(workers)]:
            done.result()
    return [outcomes[pair] for pair in pairs]


def _hidden_from_students(course: Path) -> list[Path]:
    """What the sandbox hides besides homes and /tmp: the course (solutions, hidden tests,
    the gradebook, every submission) and the history of the repository holding it."""
    hidden = [course.resolve()]
    for parent in [course.resolve(), *course.resolve().parents]:
        if (parent / ".git").exists():
            hidden.append(parent / ".git")
            break
    return hidden


def _environment(course: Path | None = None, jobs: int = 1) -> dict[str, str]:
    # nbgrader runs alembic as a subprocess: the environment's bin/ must be on PATH.
    env = dict(os.environ)
    if jobs > 1:
        # Parallel kernels share the cores: one thread pool per core, not per kernel.
        threads = str(max(1, (os.cpu_count() or 1) // jobs))
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env.setdefault(name, threads)
    if course is not None:
        env["NNLAB_SANDBOX_HIDE"] = os.pathsep.join(str(p) for p in _hidden_from_students(course))
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.setdefault("NNLAB_PROGRESS", "0")
    env.setdefault("MPLBACKEND", "agg")
    return env


def _run(course: Path, *args: str, timeout: float | None = None, jobs: int = 1) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*nbgrader_command(), *args], cwd=course, env=_environment(course, jobs), capture_output=True, text=True,
        timeout=timeout,
    )


def assignments(course: Path) -> list[str]:
    """Assignment ids: the folders of ``source/`` that hold ``<id>/<id>.ipynb``."""
    source = course / "source"
    if not source.is_dir():
        raise FileNotFoundError(f"{source} does not exist: is {course} an nbgrader course root?")
    return sorted(p.name for p in source.iterdir() if (p / f"{p.name}.ipynb").is_file())


def _released_and_current(course: Path, name: str) -> bool:
    """``release/<name>`` is newer than everything in ``source/<name>``, and the gradebook knows it."""
    released = course / "release" / name / f"{name}.ipynb"
    if not released.is_file():
        return False
    newest_source = max(p.stat().st_mtime for p in (course / "source" / name).rglob("*") if p.is_file())
    if released.stat().st_mtime < newest_source:
        return False
    from nbgrader.api import Gradebook, MissingEntry

    try:
        with Gradebook(gradebook_url(course)) as gradebook:
            gradebook.find_assignment(name)
    except MissingEntry:
        return False
    return True


def release(course: Path, only_if_stale: bool = False) -> list[str]:
    """Generate ``release/`` from ``source/`` for every assignment; returns their ids.

    ``only_if_stale`` skips assignments whose release is newer than their source.
    """
    names = assignments(course)
    for name in names:
        if only_if_stale and _released_and_current(course, name):
            continue
        done = _run(course, "generate_assignment", name, "--force")
        if done.returncode != 0:
            raise RuntimeError(f"nbgrader generate_assignment {name} failed:\n{done.stdout}\n{done.stderr}")
        print(f"released {name} -> {course / 'release' / name}")
    return names


def submissions(course: Path, names: Sequence[str]) -> tuple[list[tuple[str, str]], list[Outcome]]:
    """``(student, assignment)`` pairs to grade, and the submissions that cannot be graded."""
    found: list[tuple[str, str]] = []
    rejected: list[Outcome] = []
    submitted = course / "submitted"
    if not submitted.is_dir():
        return found, rejected
    for student_dir in sorted(submitted.iterdir()):
        if not student_dir.is_dir():
            continue
        student = student_dir.name
        for assignment_dir in sorted(p for p in student_dir.iterdir() if p.is_dir()):
            assignment = assignment_dir.name
            if not STUDENT_ID.match(student):
                rejected.append(Outcome(student, assignment, "rejected", 0.0,
                                        "student id must use letters, digits, '.', '_' or '-' only"))
            elif assignment not in names:
                rejected.append(Outcome(student, assignment, "rejected", 0.0, f"no assignment called {assignment!r}"))
            elif not (assignment_dir / f"{assignment}.ipynb").is_file():
                rejected.append(Outcome(student, assignment, "rejected", 0.0, f"no {assignment}.ipynb in the submission"))
            else:
                found.append((student, assignment))
    return found, rejected


def _overruled(notebook: Path) -> str:
    """The test cells the independent check overruled (passed in the notebook, failed outside), for the report."""
    try:
        verdict = json.loads(notebook.read_text()).get("metadata", {}).get("nnlab_verification", {})
    except (OSError, ValueError):
        return ""
    cells = verdict.get("overruled", [])
    if not cells:
        return ""
    return "; ".join(f"{c['cell']}: {c['message']}" for c in cells)[:600]


def _count_timeouts(notebook: Path) -> int:
    try:
        cells = json.loads(notebook.read_text())["cells"]
    except (OSError, ValueError, KeyError):
        return 0
    return sum(
        1 for cell in cells for output in cell.get("outputs", [])
        if output.get("output_type") == "error" and output.get("ename") == "CellTimeoutError"
    )


def autograde_one(course: Path, student: str, assignment: str, timeout: float, jobs: int = 1) -> Outcome:
    """Autograde one submission (and write its feedback) as :func:`grade` does."""
    return autograde_all(course, [(student, assignment)], timeout, jobs)[0]


def cell_scores(course: Path, assignment: str) -> dict[str, dict[str, float]]:
    """Autograded points of every test cell, per student: ``{student: {grade_id: points}}``."""
    from nbgrader.api import Gradebook, MissingEntry

    result: dict[str, dict[str, float]] = {}
    with Gradebook(gradebook_url(course)) as gradebook:
        try:
            found = gradebook.find_assignment(assignment)
        except MissingEntry:
            return result
        for submission in found.submissions:
            cells = result.setdefault(submission.student.id, {})
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    if grade.cell.cell_type == "code":  # manually graded answers are the instructor's
                        cells[grade.name] = float(grade.auto_score or 0.0)
    return result


def max_cell_scores(course: Path, assignment: str) -> dict[str, float]:
    """The points of every autograded test cell of ``assignment``."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(gradebook_url(course)) as gradebook:
        try:
            found = gradebook.find_assignment(assignment)
        except MissingEntry:
            return {}
        return {
            cell.name: float(cell.max_score)
            for notebook in found.notebooks for cell in notebook.grade_cells if cell.cell_type == "code"
        }


def gradebook_url(course: Path) -> str:
    """The gradebook: ``$NNLAB_GRADEBOOK_URL`` (e.g. PostgreSQL), else SQLite in the course.

    SQLite waits up to 5 minutes for a lock, so that parallel graders take turns writing
    instead of failing with "database is locked".
    """
    return os.environ.get("NNLAB_GRADEBOOK_URL") or f"sqlite:///{course / 'gradebook.db'}?timeout=300"


def _figure_html(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    data = base64.b64encode(buffer.getvalue()).decode()
    return f'<img alt="figure" src="data:image/png;base64,{data}">'


def write_report(course: Path, names: Sequence[str], outcomes: Sequence[Outcome]) -> Path:
    """``report/index.html``: distributions, failure rates, problems; ``report/outcomes.json``."""
    import matplotlib

    matplotlib.use("agg")
    import matplotlib.pyplot as plt

    by_key = {(o.student, o.assignment): o for o in outcomes}
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Grade report</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}.bad{color:#a00}</style></head><body>",
        f"<h1>Grade report: {html.escape(course.name)}</h1>",
        f"<p>{len(outcomes)} submissions; generated {time.strftime('%Y-%m-%d %H:%M')}. Scores are the autograded "
        "points; manually graded answers are added in the formgrader.</p>",
    ]
    problems = [o for o in outcomes if o.status != "graded" or o.timed_out_cells or o.overruled]
    parts.append("<h2>Submissions that need attention</h2>")
    if problems:
        parts.append("<table><tr><th>student</th><th>assignment</th><th>what happened</th></tr>")
        for o in problems:
            if o.status != "graded":
                what = o.status
            elif o.timed_out_cells:
                what = f"{o.timed_out_cells} cell(s) timed out"
            else:
                what = "tests passed in the notebook but failed the independent check (tampering, or code outside the task's cell)"
            detail = f": {o.detail}" if o.detail else (f": {o.overruled}" if o.overruled else "")
            parts.append(f"<tr class='bad'><td>{html.escape(o.student)}</td><td>{html.escape(o.assignment)}</td>"
                         f"<td>{html.escape(what + detail)}</td></tr>")
        parts.append("</table>")
    else:
        parts.append("<p>None: every submission was graded without a timeout, a crash or a test the independent check overruled.</p>")
    for name in names:
        parts.append(f"<h2>{html.escape(name)}</h2>")
        per_cell = cell_scores(course, name)
        maxima = max_cell_scores(course, name)
        maximum = sum(maxima.values())
        values = [sum(per_cell.get(student, {}).values()) for student, assignment in by_key if assignment == name]
        if not values:
            parts.append("<p>No submissions.</p>")
            continue
        figure, axes = plt.subplots(1, 2, figsize=(10, 3))
        axes[0].hist(values, bins=[x - 0.5 for x in range(int(maximum) + 2)], color="tab:blue")
        axes[0].set(title=f"autograded score (max {maximum:g})", xlabel="points", ylabel="students")
        axes[0].yaxis.get_major_locator().set_params(integer=True)
        tests = sorted(maxima)
        rates = [sum(per_cell.get(student, {}).get(t, 0.0) < maxima[t] for student, assignment in by_key
                     if assignment == name) / len(values) for t in tests]
        axes[1].barh(range(len(tests)), rates, color="tab:red")
        axes[1].set_yticks(range(len(tests)), tests, fontsize="small")
        axes[1].invert_yaxis()
        axes[1].set(title="failure rate per test", xlim=(0, 1))
        figure.tight_layout()
        parts.append(_figure_html(figure))
        plt.close(figure)
        mean = sum(values) / len(values)
        parts.append(f"<p>{len(values)} submissions, mean {mean:.2f} / {maximum:g}.</p>")
        parts.append("<table><tr><th>test</th><th>failed</th></tr>")
        for test, rate in zip(tests, rates):
            parts.append(f"<tr><td>{html.escape(test)}</td><td>{rate:.0%}</td></tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    report = course / "report"
    report.mkdir(exist_ok=True)
    (report / "index.html").write_text("\n".join(parts))
    (report / "outcomes.json").write_text(json.dumps([asdict(o) for o in outcomes], indent=1))
    return report / "index.html"


def exchange_root(course: Path) -> Path:
    """The local exchange through which students fetch and submit on this machine."""
    return Path(os.environ.get("NNLAB_EXCHANGE", course / "exchange"))


def prepare_lab(course: Path, workspace: Path) -> Path:
    """Release every assignment to the local exchange and prepare a student workspace.

    JupyterLab started in ``workspace`` lists the assignments in its Assignments tab (Fetch
    copies one into the workspace, Submit hands it in) and validates notebooks with the
    Validate button. Work already in the workspace is never overwritten.
    """
    names = release(course)
    exchange = exchange_root(course)
    exchange.mkdir(parents=True, exist_ok=True)
    for name in names:
        done = _run(course, "release_assignment", name, "--force", f"--Exchange.root={exchange}")
        if done.returncode != 0:
            raise RuntimeError(f"nbgrader release_assignment {name} failed:\n{done.stdout}\n{done.stderr}")
    workspace.mkdir(parents=True, exist_ok=True)
    config = workspace / "nbgrader_config.py"
    course_id = _course_id(course)
    text = (
        "# Written by `make lab`: this workspace belongs to the local course below.\n"
        "c = get_config()  # noqa: F821\n"
        f"c.CourseDirectory.course_id = {course_id!r}\n"
        f"c.Exchange.root = {str(exchange)!r}\n"
    )
    if not config.exists() or config.read_text() != text:
        config.write_text(text)
    return workspace


def _course_id(course: Path) -> str:
    match = re.search(r"course_id\s*=\s*[\"']([^\"']+)[\"']", (course / "nbgrader_config.py").read_text())
    if not match:
        raise ValueError(f"{course / 'nbgrader_config.py'} sets no CourseDirectory.course_id")
    return match.group(1)


def export_grades(course: Path) -> Path:
    target = course / "grades.csv"
    done = _run(course, "export", "--to", str(target))
    if done.returncode != 0:
        raise RuntimeError(f"nbgrader export failed:\n{done.stdout}\n{done.stderr}")
    return target


def check_isolation(course: Path) -> None:
    """Refuse to grade unless student code will run in the sandbox (or the instructor opted out)."""
    from nnlab import sandbox

    if not sandbox.enabled():
        print("warning: NNLAB_SANDBOX=off: student code runs with your rights, next to the tests", file=sys.stderr)
        return
    sandbox.check_available()
    from traitlets.config.loader import PyFileConfigLoader

    try:
        config = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
        steps = [step.__name__ for step in config.Autograde.autograde_preprocessors]
    except Exception as error:  # noqa: BLE001 - nbgrader would ignore a broken configuration silently
        steps = []
        reason = f"{type(error).__name__}: {error}"
    else:
        reason = f"its autograde steps are {steps}"
    if not any(step.startswith("SandboxExecute") for step in steps):  # also its scored-cells-only form
        raise RuntimeError(
            f"{course / 'nbgrader_config.py'} does not run kernels in the sandbox (nbgrader would silently grade "
            f"without it): {reason}"
        )


def grade(course: Path, timeout: float = 1800.0, jobs: int = 1) -> list[Outcome]:
    """Autograde every submission, generate feedback, export grades, write the report.

    ``jobs`` workers grade at once (see :func:`autograde_all`); they take turns writing to
    the gradebook (SQLite's lock, or PostgreSQL's transactions).
    """
    if not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a positive int, got {jobs!r}")
    check_isolation(course)
    from nnlab.data import prepare_cache

    prepare_cache()  # sandboxed notebooks read the datasets from here instead of each regenerating them
    names = release(course, only_if_stale=True)
    pairs, outcomes = submissions(course, names)
    outcomes = list(outcomes) + autograde_all(course, pairs, timeout, jobs)
    export_grades(course)
    report = write_report(course, names, outcomes)
    print(f"grades: {course / 'grades.csv'}\nreport: {report}")
    return outcomes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nnlab.course", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["release", "grade", "lab"])
    parser.add_argument("--course", type=Path, default=default_course(), help="the nbgrader course root")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds allowed to grade one submission")
    parser.add_argument("--jobs", type=int, default=1, help="submissions graded at once")
    parser.add_argument("--workspace", type=Path, default=default_course().parent / "student",
                        help="the student workspace prepared by 'lab'")
    args = parser.parse_args(argv)
    course = args.course.resolve()
    if not (course / "nbgrader_config.py").is_file():
        parser.error(f"{course} has no nbgrader_config.py: pass the course root with --course")
    if args.command == "release":
        release(course)
    elif args.command == "lab":
        prepare_lab(course, args.workspace.resolve())
    else:
        grade(course, args.timeout, args.jobs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
