"""The course's nbgrader configuration: loading it, checking it, and running nbgrader with it.

The configuration is ``<course>/nbgrader_config.py``. It is read the way nbgrader reads it
(traitlets' loader: the classes it names, not its text), so that a check of the
configuration sees exactly what nbgrader will run.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from coursegrader import contracts, sandbox


class ConfigurationError(RuntimeError):
    """The course's configuration cannot be used as it is (the message says why)."""


def load(course: Path):
    """The traitlets ``Config`` of ``course``'s ``nbgrader_config.py``."""
    from traitlets.config.loader import PyFileConfigLoader

    path = course / "nbgrader_config.py"
    if not path.is_file():
        raise ConfigurationError(f"{path} does not exist: is {course} an nbgrader course root?")
    try:
        return PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    except Exception as error:  # noqa: BLE001 - say which file is broken, whatever broke it
        raise ConfigurationError(f"{path} could not be loaded: {type(error).__name__}: {error}") from error


def course_id(course: Path) -> str:
    """``CourseDirectory.course_id`` as the configuration sets it."""
    config = load(course)
    value = config.CourseDirectory.get("course_id") if "CourseDirectory" in config else None
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"{course / 'nbgrader_config.py'} sets no CourseDirectory.course_id")
    return value


def check_isolation(course: Path) -> None:
    """Refuse to grade unless student code will run in the sandbox (or the instructor opted out)
    and the independent check's verdict decides the scores.

    nbgrader would silently grade without either if the configuration's autograde steps
    left them out, so the loaded steps are checked, as classes.
    """
    from coursegrader.autograde import runs_in_sandbox, scores_by_verdict

    if not sandbox.enabled():
        print(f"warning: {contracts.SANDBOX.name}=off: student code runs with your rights, next to the tests",
              file=sys.stderr)
        return
    sandbox.check_available()
    warning = sandbox.caps_warning(sandbox.Limits.from_environment())
    if warning:
        print(warning, file=sys.stderr)
    try:
        config = load(course)
        steps = list(config.Autograde.autograde_preprocessors) if "Autograde" in config and \
            "autograde_preprocessors" in config.Autograde else []
    except ConfigurationError as error:
        steps, reason = [], str(error)
    else:
        reason = f"its autograde steps are {[getattr(step, '__name__', step) for step in steps]}"
    if not runs_in_sandbox(steps):
        raise ConfigurationError(
            f"{course / 'nbgrader_config.py'} does not run kernels in the sandbox (nbgrader would silently grade "
            f"without it): {reason}"
        )
    if not scores_by_verdict(steps):
        raise ConfigurationError(
            f"{course / 'nbgrader_config.py'} does not let the independent check decide the scores (a notebook's own "
            f"outputs would): {reason}; use coursegrader.autograde.autograde_preprocessors()"
        )


def hidden_from_students(course: Path) -> list[Path]:
    """What the sandbox hides besides homes and /tmp: the course (solutions, hidden tests,
    the gradebook, every submission) and the history of the repository holding it."""
    hidden = [course.resolve()]
    for parent in [course.resolve(), *course.resolve().parents]:
        if (parent / ".git").exists():
            hidden.append(parent / ".git")
            break
    return hidden


def environment(course: Path | None = None, jobs: int = 1) -> dict[str, str]:
    """The environment of the nbgrader processes the grader starts (workers, release, export)."""
    env = dict(os.environ)
    cores = os.cpu_count() or 1
    # Each submission runs two processes at once, its notebook's kernel and the independent
    # check's run of its code: together they get a worker's share of the cores. Thread pools
    # that ask for more than that spin against each other: on 2 cores, a kernel with torch's
    # default 2 threads beside the check made test cells of a second take 20 s.
    threads = str(max(1, cores // (2 * jobs)))
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env.setdefault(name, threads)
    if jobs > 1:
        # ... and each sandbox gets its share as a cap: a busy submission cannot starve its neighbours
        env.setdefault(contracts.SANDBOX_CPUS.name, str(max(1, cores // jobs)))
    if course is not None:
        env[contracts.SANDBOX_HIDE.name] = os.pathsep.join(str(p) for p in hidden_from_students(course))
    # nbgrader runs alembic as a subprocess: the environment's bin/ must be on PATH.
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.setdefault(contracts.PROGRESS.name, "0")
    env.setdefault("MPLBACKEND", "agg")
    return env


def nbgrader_command() -> list[str]:
    """The nbgrader command of the running Python's environment."""
    executable = Path(sys.executable).parent / "nbgrader"
    return [str(executable)] if executable.exists() else [sys.executable, "-m", "nbgrader"]


def run_nbgrader(course: Path, *args: str, timeout: float | None = None) -> subprocess.CompletedProcess:
    """``nbgrader ARGS`` in ``course``, its output captured."""
    return subprocess.run([*nbgrader_command(), *args], cwd=course, env=environment(course), capture_output=True,
                          text=True, timeout=timeout)
