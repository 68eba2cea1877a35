"""Building blocks for the exercise notebooks: each ``<assignment>.py`` here lists its cells
with these helpers, and ``build.py`` writes ``exercises/source/<assignment>/<assignment>.ipynb``.

Cell kinds follow nbgrader: locked text and code, one solution cell per contract task
(``grade_id`` = the task's name), visible and hidden test cells (``<task>_visible``,
``<task>_hidden``), free experiment cells, and manually graded answers.
"""
import nbformat
from textwrap import dedent

_counter = {"n": 0}


def _meta(**kw):
    base = {"schema_version": 3, "task": False, "locked": False, "solution": False, "grade": False}
    base.update(kw)
    return {"nbgrader": base}


def _id(prefix):
    _counter["n"] += 1
    return f"{prefix}_{_counter['n']:02d}"


def md(text):
    return nbformat.v4.new_markdown_cell(dedent(text).strip(), metadata=_meta(locked=True, grade_id=_id("text")))


def code(src):
    """An ungraded, unlocked code cell (experiments the student runs)."""
    c = nbformat.v4.new_code_cell(dedent(src).strip())
    return c


def locked_code(src, name):
    return nbformat.v4.new_code_cell(dedent(src).strip(), metadata=_meta(locked=True, grade_id=name))


def solution(name, src):
    return nbformat.v4.new_code_cell(dedent(src).strip(), metadata=_meta(solution=True, grade_id=name))


def tests(name, points, body, setup=""):
    src = dedent(setup).strip() + "\n" + dedent(body).strip()
    return nbformat.v4.new_code_cell(src.strip(), metadata=_meta(grade=True, locked=True, points=points, grade_id=name))


def hidden(name, points, setup, body):
    src = dedent(setup).strip() + "\n### BEGIN HIDDEN TESTS\n" + dedent(body).strip() + "\n### END HIDDEN TESTS"
    return nbformat.v4.new_code_cell(src.strip(), metadata=_meta(grade=True, locked=True, points=points, grade_id=name))


def manual(name, points, text, rubric=None):
    """A manually graded answer. The source notebook holds the model answer and, for the
    graders, a rubric: how the points split and what ranges of numbers are acceptable.
    nbgrader replaces the whole cell with "YOUR ANSWER HERE" in the students' copy."""
    body = dedent(text).strip()
    if rubric is not None:
        numbers, mechanism = (dedent(part).strip() for part in rubric)
        body += (
            f"\n\n**Rubric for graders ({points} points).**\n\n"
            "- 0.5: a prediction written in the prediction cell before the run, and a sentence on whether it held.\n"
            f"- 0.75: numbers quoted from the student's own output above (the autograded notebook keeps it), "
            f"close to these: {numbers} Other values earn the points when the output shows them.\n"
            f"- 0.75: the mechanism: {mechanism}\n\n"
            "A verdict without numbers earns at most 1 point; numbers without a verdict at most 1.25."
        )
    return nbformat.v4.new_markdown_cell(body, metadata=_meta(grade=True, solution=True, points=points, grade_id=name))


def prediction(what):
    """An unlocked, ungraded cell where the student writes a prediction before an experiment runs."""
    return nbformat.v4.new_markdown_cell(
        f"**My prediction**, written before running the next cell ({dedent(what).strip()}):\n\n_..._")


def reset_ids():
    """Start the text-cell ids at 1 again (each notebook numbers its own)."""
    _counter["n"] = 0


def notebook(cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    for cell in nb.cells:
        cell.pop("id", None)
    nb.nbformat_minor = 4  # nbgrader 0.9 keeps cell ids off
    return nb


def challenge(name, title, text, solution_src, check_src):
    """An optional task for strong students, not graded: its statement, a solution cell
    (``challenge_<name>``: the student's copy keeps the signature and raises
    NotImplementedError), and a self-check cell that compares the answer with PyTorch or a
    property, and says "not attempted" while the stub is there. Placed after the last graded
    cell, so autograding (which stops at the last test) never runs it."""
    check = ("try:\n" + "".join(f"    {line}\n" if line else "\n" for line in dedent(check_src).strip().splitlines())
             + 'except NotImplementedError:\n    print("Challenge not attempted yet.")\nelse:\n    print("Challenge passed.")')
    return [
        md(f"## Challenge (optional, not graded): {title}\n\n" + dedent(text).strip()),
        nbformat.v4.new_code_cell(dedent(solution_src).strip(), metadata=_meta(solution=True, grade_id=f"challenge_{name}")),
        locked_code(check, f"challenge_{name}_check"),
    ]
