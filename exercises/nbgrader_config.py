"""nbgrader configuration of the course's exercises (the course root is this folder)."""
import os
from pathlib import Path

c = get_config()  # noqa: F821 - provided by nbgrader when it loads this file

c.CourseDirectory.course_id = "nnlab-training-by-experiment"
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
# SQLite next to the course by default; an instructor with PostgreSQL sets NNLAB_GRADEBOOK_URL,
# e.g. postgresql://user@host/gradebook. Every NNLAB_* setting of the grader, with its default,
# is listed in coursegrader/contracts.py.
from coursegrader import contracts  # noqa: E402
from coursegrader.gradebook import gradebook_url  # noqa: E402

c.CourseDirectory.db_url = gradebook_url(Path(c.CourseDirectory.root))

# What a student sees in place of the solution: an error that names the unfinished task,
# never a silent None.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Short training experiments run inside graded notebooks: 2 minutes per cell (NNLAB_CELL_TIMEOUT
# changes it). A cell that runs longer is interrupted and counts as an error in that cell only.
c.Execute.timeout = int(contracts.cell_timeout())
c.Execute.interrupt_on_timeout = True
# After the last cell the kernel has nothing left worth waiting for (its scratch space is
# discarded): stop it at once instead of waiting for a graceful shutdown.
c.Execute.shutdown_kernel = "immediate"

# A test cell that writes to stderr scores 0 in plain nbgrader. Warnings and progress bars
# from a student's own code are not failures: failures are exceptions. Drop every stderr
# stream from graded cells before scoring.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"[\s\S]"

# Keep a flood of output from filling the autograded notebooks.
c.LimitOutput.max_lines = 200
c.LimitOutput.max_traceback = 50

# Student code runs in a sandbox while it is autograded (see coursegrader/sandbox.py): no network,
# the course hidden, limits on memory and processes. NNLAB_SANDBOX=off opts out. A notebook
# runs up to its last autograded test (NNLAB_GRADE_ALL_CELLS=1: every cell).
from coursegrader.autograde import autograde_preprocessors  # noqa: E402

c.Autograde.autograde_preprocessors = autograde_preprocessors()

# A test cell scores only if the grader's independent check of its task agrees (see
# coursegrader/check): fresh inputs, the student's code in a fresh sandboxed process, the
# comparison here. The probes' seed derives from this secret file (kept out of the repository).
c.IndependentCheck.secret_file = os.path.join(c.CourseDirectory.root, ".nnlab-probe-secret")

# Feedback shows each hidden test's verdict and message, never its code (see coursegrader/feedback.py).
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor  # noqa: E402
from nbgrader.preprocessors import GetGrades  # noqa: E402

from coursegrader.feedback import HideHiddenTests  # noqa: E402

c.GenerateFeedback.preprocessors = [GetGrades, HideHiddenTests, CSSHTMLHeaderPreprocessor]
