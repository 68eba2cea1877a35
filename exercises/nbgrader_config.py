"""nbgrader configuration of the course's exercises (the course root is this folder)."""
import os

c = get_config()  # noqa: F821 - provided by nbgrader when it loads this file

c.CourseDirectory.course_id = "nnlab-training-by-experiment"
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
# SQLite next to the course by default; an instructor with PostgreSQL sets NNLAB_GRADEBOOK_URL,
# e.g. postgresql://user@host/gradebook.
c.CourseDirectory.db_url = os.environ.get(
    "NNLAB_GRADEBOOK_URL", "sqlite:///" + os.path.join(c.CourseDirectory.root, "gradebook.db")
)

# What a student sees in place of the solution: an error that names the unfinished task,
# never a silent None.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Short training experiments run inside graded notebooks: 2 minutes per cell (NNLAB_CELL_TIMEOUT
# changes it). A cell that runs longer is interrupted and counts as an error in that cell only.
c.Execute.timeout = int(os.environ.get("NNLAB_CELL_TIMEOUT", "120"))
c.Execute.interrupt_on_timeout = True

# A test cell that writes to stderr scores 0 in plain nbgrader. Warnings and progress bars
# from a student's own code are not failures: failures are exceptions. Drop every stderr
# stream from graded cells before scoring.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"[\s\S]"

# Keep a flood of output from filling the autograded notebooks.
c.LimitOutput.max_lines = 200
c.LimitOutput.max_traceback = 50
