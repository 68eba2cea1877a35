"""Every contract between the grader's processes, in one place.

Grading one submission crosses five processes: the command line (:mod:`coursegrader.cli`)
hands it to a worker (:mod:`coursegrader.worker`) over a pipe; the worker's nbgrader runs
the notebook in a sandboxed kernel and, beside it, the independent check's fresh run
(:mod:`coursegrader.check.runner`), which answers the probes' calls over a socket; the
verdict is stored in the autograded notebook's metadata, where the feedback and the report
read it. What each of them sends, and every environment variable that changes what they do,
is written down here and nowhere else.
"""
from __future__ import annotations

import json
import os
import struct
from dataclasses import asdict, dataclass, field
from typing import Any

# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Setting:
    """One environment variable the grader reads: its default and what it means."""

    name: str
    default: str
    meaning: str

    def get(self) -> str:
        """The value in this process's environment, else the default."""
        value = os.environ.get(self.name, "")
        return value if value.strip() else self.default

    def is_on(self) -> bool:
        """For switches: anything but 0/off/false/no (case-insensitive) is on."""
        return self.get().strip().lower() not in ("0", "off", "false", "no")


#: The instructor's switch. ``off`` grades without isolation (student code runs with the
#: grader's rights, next to the tests): for machines without bubblewrap, at their own risk.
SANDBOX = Setting("NNLAB_SANDBOX", "on", "run student code in the bubblewrap sandbox (off: without isolation)")
#: Address space of each sandboxed process (a submission's kernel and its check's fresh run are two).
SANDBOX_MEMORY = Setting("NNLAB_SANDBOX_MEMORY", "4G", "memory of one sandbox as a whole, and address space of each of its processes (e.g. 4G)")
#: Processes and threads of one sandbox, through a pids cgroup where one can be made.
SANDBOX_PROCESSES = Setting("NNLAB_SANDBOX_PROCESSES", "256", "processes and threads allowed in one sandbox")
#: CPUs one sandbox may use at once, through a cgroup: a busy submission cannot starve its neighbours.
SANDBOX_CPUS = Setting("NNLAB_SANDBOX_CPUS", "", "CPUs one sandbox may use at once (default: the cores divided by JOBS)")
#: Size of one sandbox's scratch folder (a tmpfs), the only place it may write.
SANDBOX_DISK = Setting("NNLAB_SANDBOX_DISK", "1G", "size of one sandbox's scratch folder (e.g. 1G, 256M)")
#: Set by the grader for its workers, not by instructors: the course folder and the
#: repository's history, which the sandbox replaces by empty folders.
SANDBOX_HIDE = Setting("NNLAB_SANDBOX_HIDE", "", "paths (os.pathsep-separated) hidden from sandboxed code; set by the grader")
#: Seconds one notebook cell may run (nbgrader's Execute.timeout, and each cell and probe of the fresh run).
CELL_TIMEOUT = Setting("NNLAB_CELL_TIMEOUT", "120", "seconds a notebook cell may run before it is interrupted")
#: By default a notebook runs only up to its last autograded test (later cells cannot change a score).
GRADE_ALL_CELLS = Setting("NNLAB_GRADE_ALL_CELLS", "0", "1: run every cell when autograding, not only up to the last test")
#: The gradebook; SQLite in the course folder when unset.
GRADEBOOK_URL = Setting("NNLAB_GRADEBOOK_URL", "", "SQLAlchemy URL of the gradebook (e.g. postgresql://...); default SQLite")
#: Grading on a cluster: how many worker processes share this grading machine, so that each
#: submission gets the machine's share of the cores (``make grading-worker`` sets it to JOBS).
WORKERS_PER_MACHINE = Setting("NNLAB_WORKERS_PER_MACHINE", "1",
                              "grading on a cluster: worker processes on this machine (make grading-worker sets JOBS)")
#: Where students fetch from and submit to in ``make lab``; ``<course>/exchange`` when unset.
EXCHANGE = Setting("NNLAB_EXCHANGE", "", "root of the nbgrader exchange: `lab`'s local one (default <course>/exchange), or the one a JupyterHub class shares")

# Read by hub/jupyterhub_config.py (a class on JupyterHub, coursegrader.hub), where the default
# exchange is nbgrader's own, /usr/local/share/nbgrader/exchange.
HUB_INSTRUCTORS = Setting("NNLAB_HUB_INSTRUCTORS", "", "JupyterHub: user names (comma-separated) whose servers get the formgrader and the course")
HUB_CLASS_GROUP = Setting("NNLAB_HUB_CLASS_GROUP", "nnlab-class", "JupyterHub: the Unix group whose members may log in as students")
HUB_PYTHON = Setting("NNLAB_HUB_PYTHON", "", "JupyterHub: the Python (of the course's environment, readable by every user) that runs each user's server; default the hub's own")
HUB_COURSE = Setting("NNLAB_HUB_COURSE", "~/course/exercises", "JupyterHub: the course root in an instructor's home (~ is that instructor's home)")
HUB_COURSE_ID = Setting("NNLAB_HUB_COURSE_ID", "", "JupyterHub: the nbgrader course id, set by the hub for each user's server")

# Read by nnlab itself; the grader sets them for the processes it starts.
#: nnlab's dataset cache; the sandbox shows the grader's read-only and points this at it.
CACHE = Setting("NNLAB_CACHE", "", "nnlab's dataset cache (default ~/.cache/nnlab); shown read-only in the sandbox")
#: nnlab's progress bars; always 0 while grading (a bar on stderr is noise in a test cell).
PROGRESS = Setting("NNLAB_PROGRESS", "1", "0: nnlab.fit shows no progress bars (the grader sets 0)")
SEED_OFFSET = Setting("NNLAB_SEED_OFFSET", "0",
                      "k: every seed of the book's chapters moves by k (nnlab.seed_offset; benchmarks/book_seeds.py sets it)")

# Read by the test suite, set by `make test` once the book is built.
CHECK_SITE = Setting("NNLAB_CHECK_SITE", "0", "1: pytest collects the checks of the built site (tests/site); `make test` sets it after the book build")

SETTINGS = (SANDBOX, SANDBOX_MEMORY, SANDBOX_PROCESSES, SANDBOX_CPUS, SANDBOX_DISK, SANDBOX_HIDE, CELL_TIMEOUT, GRADE_ALL_CELLS, GRADEBOOK_URL,
            WORKERS_PER_MACHINE, EXCHANGE, HUB_INSTRUCTORS, HUB_CLASS_GROUP, HUB_PYTHON, HUB_COURSE, HUB_COURSE_ID, CACHE, PROGRESS, SEED_OFFSET, CHECK_SITE)


def cell_timeout() -> float:
    return float(CELL_TIMEOUT.get())


def sandbox_enabled() -> bool:
    """Whether grading runs student code in the sandbox (``NNLAB_SANDBOX=off`` opts out)."""
    return SANDBOX.is_on()


def grade_all_cells() -> bool:
    return GRADE_ALL_CELLS.get().strip() == "1"


def workers_per_machine() -> int:
    """How many cluster workers share this machine (``NNLAB_WORKERS_PER_MACHINE``, a positive int)."""
    text = WORKERS_PER_MACHINE.get().strip()
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise ValueError(f"{WORKERS_PER_MACHINE.name} must be a positive integer, got {text!r}")
    return count


# --------------------------------------------------------------------------- command line -> worker


@dataclass(frozen=True)
class WorkerRequest:
    """One line on a worker's stdin: grade this submission (and write its feedback)."""

    student: str
    assignment: str

    def to_line(self) -> str:
        return json.dumps(asdict(self)) + "\n"

    @classmethod
    def from_line(cls, line: str) -> "WorkerRequest":
        data = json.loads(line)
        return cls(student=str(data["student"]), assignment=str(data["assignment"]))


@dataclass
class WorkerAnswer:
    """One line on a worker's stdout, after each request.

    ``died`` is never sent: the pool sets it when the worker exited instead of answering.
    """

    success: bool = False  # nbgrader autograded the submission
    feedback: bool = False  # and wrote its feedback
    log: str = ""  # the tail of what nbgrader said (explains a failure)
    seconds: float = 0.0
    died: bool = False

    def to_line(self) -> str:
        return json.dumps({k: v for k, v in asdict(self).items() if k != "died"}) + "\n"

    @classmethod
    def from_line(cls, line: str) -> "WorkerAnswer":
        """The answer on ``line``; a line that is not one (end of output) means the worker exited."""
        try:
            data = json.loads(line)
            return cls(success=bool(data["success"]), feedback=bool(data.get("feedback")), log=str(data.get("log", "")),
                       seconds=float(data.get("seconds", 0.0)))
        except (ValueError, KeyError, TypeError):
            return cls(died=True)


@dataclass(frozen=True)
class Outcome:
    """How the autograding of one submission went (a row of ``report/outcomes.json``)."""

    student: str
    assignment: str
    status: str  # "graded", "timed out" (whole notebook), "crashed", "rejected"
    seconds: float
    detail: str = ""  # what went wrong, for the report
    timed_out_cells: int = 0  # cells interrupted after the per-cell timeout
    overruled: str = ""  # test cells that passed in the notebook but failed the independent check
    retried: str = ""  # graded on a cluster in more than one attempt: how many, and why (coursegrader.distributed)


# --------------------------------------------------------------------------- grader -> fresh run

#: Student code is compiled with file names starting with this: tripwires recognize its frames.
STUDENT_FILE = "<submission "
#: The ``__name__`` of the namespace the student's cells run in (``__module__`` of their classes).
STUDENT_MODULE = "submission"
#: An observation that a call raised: ``{RAISED: <exception class name>}``.
RAISED = "!raised"
#: Each task's cases come in groups, each scored by the test cell ``<task>_<group>``: the visible
#: tests, the hidden ones, and, for a task that must refuse bad arguments, its hidden
#: ``validation`` (so that a missing ``ValueError`` costs its own points, not the hidden ones).
GROUPS = ("visible", "hidden", "validation")


@dataclass(frozen=True)
class FreshRunRequest:
    """What a fresh run is asked, sent on its standard input (then closed): the cells to execute,
    in order, and the names of the tasks the grader will probe. No seed and no probe key: the
    probes run in the grader's process and send the fresh run only the arguments of each call."""

    assignment: str
    cells: list[dict]  # {"name": grade id, "source": code}
    tasks: list[str]
    cell_timeout: float

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "FreshRunRequest":
        data = json.loads(text)
        return cls(str(data["assignment"]), list(data["cells"]), [str(t) for t in data["tasks"]], float(data["cell_timeout"]))


# The fresh run and the grader's probes talk over a socket in messages of plain data
# (coursegrader.check.wire): the grader asks, the fresh run answers what the student's code did.
#: Characters of an error message from the fresh run that reach the feedback.
MAX_ERROR_BYTES = 2000
#: Bytes of one message between the grader's probes and the fresh run; a larger one ends the run.
MAX_OBSERVATION_BYTES = 64 * 1024**2
#: Elements of one observed tensor; each must also be stored in full (no stride-0 expansion).
MAX_TENSOR_ELEMENTS = 4 * 1024**2
#: Bytes of output one notebook cell may send while graded (streams, displays, results); the rest is dropped.
MAX_CELL_OUTPUT_BYTES = 2 * 1024**2


# --------------------------------------------------------------------------- check -> feedback and report

#: The autograded notebook's metadata key that holds the independent check's verdict.
VERDICT_KEY = "nnlab_verification"
#: The ``ename`` of the error output that overrules a test cell.
CHECK_FAILED = "IndependentCheckFailed"
#: The verdict on the submission being graded, in nbconvert's resources (within the worker):
#: what scores a test cell (:class:`coursegrader.check.nbgrader_steps.SaveVerifiedGrades`).
#: Scores never depend on the notebook's metadata, which a submission could have written.
VERDICT_RESOURCE = "nnlab_verdict"


@dataclass
class Verdict:
    """The independent check's verdict on one submission, as stored in the notebook's metadata."""

    #: ``{"<task>_<group>": message for the student}`` for every group of probes that failed
    #: (a hidden group's message says what kind of mistake, not the hidden inputs)
    failed: dict[str, str] = field(default_factory=dict)
    #: ``[{"cell": grade id, "message": ...}]``: test cells that passed in the notebook but not here
    #: (the full message, with the inputs: for the instructor's report)
    overruled: list[dict[str, str]] = field(default_factory=list)
    #: why the whole fresh run failed ('' if it did not)
    problem: str = ""
    seconds: float = 0.0

    def store(self, metadata: Any) -> None:
        metadata[VERDICT_KEY] = asdict(self)

    @classmethod
    def read(cls, metadata: Any) -> "Verdict":
        """The verdict in a notebook's ``metadata`` (an empty one where there is none)."""
        data = metadata.get(VERDICT_KEY) or {}
        return cls(failed=dict(data.get("failed", {})), overruled=list(data.get("overruled", [])),
                   problem=str(data.get("problem", "")), seconds=float(data.get("seconds", 0.0)))
