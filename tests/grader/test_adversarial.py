"""Adversarial submissions against the sandboxed grader.

Each submission is the instructor's solution of `initialization` with extra code in the
`fans` solution cell that tries something a submission must not be able to do. After the
class is graded, the tests check that the attempt failed, that it cost at most that
submission's own points, and that the rest of the class was graded normally.

The cheats (CHEATS) replace `fans` by a wrong one plus a trick that makes the notebook's own
tests pass, or would in plain nbgrader; each must end with no points for `fans` and full
marks everywhere else (the independent check, coursegrader.check, decides).
"""
from __future__ import annotations

import hashlib
import json
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import nbformat
import pytest

import nnlab
from coursegrader import sandbox
from coursegrader.cli import grade
from coursegrader.gradebook import cell_scores, max_cell_scores

ROOT = Path(__file__).resolve().parents[2]
ASSIGNMENT = "initialization"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.initialization,
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed"),
]


def _attacks(course: Path, port: int, marker: Path) -> dict[str, str]:
    """Code appended to the `fans` solution cell, by student id. Each prints LEAKED or
    WROTE if it succeeds, so that success shows in the autograded notebook."""
    submitted_other = course / "submitted" / "instructor" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    return {
        "read_source": f"""
try:
    print("LEAKED", open({str(course / "source" / ASSIGNMENT / (ASSIGNMENT + ".ipynb"))!r}).read()[:80])
except OSError as error:
    print("blocked", type(error).__name__)
""",
        "read_gradebook": f"""
try:
    print("LEAKED", len(open({str(course / "gradebook.db")!r}, "rb").read()))
except OSError as error:
    print("blocked", type(error).__name__)
""",
        "read_other_student": f"""
try:
    print("LEAKED", open({str(submitted_other)!r}).read()[:80])
except OSError as error:
    print("blocked", type(error).__name__)
""",
        "read_repository_history": f"""
try:
    print("LEAKED", open({str(course.parent / ".git" / "secret")!r}).read())
except OSError as error:
    print("blocked", type(error).__name__)
""",
        "search_for_notebooks": """
import glob, os
roots = ["/tmp", "/root", "/home", os.path.dirname(os.getcwd())]
found = [p for root in roots for p in glob.glob(root + "/**/source/initialization/*.ipynb", recursive=True)]
print("LEAKED" if found else "blocked", found[:3])
""",
        "write_outside": f"""
import nnlab, os
for target in [{str(marker)!r}, os.path.join(os.path.dirname(nnlab.__file__), "planted.py"),
               {str(course / "planted.txt")!r}, "/etc/planted"]:
    try:
        with open(target, "w") as handle:
            handle.write("x")
        print("WROTE", target)
    except OSError as error:
        print("blocked", type(error).__name__)
""",
        "network": f"""
import socket
for host in ["127.0.0.1", "pypi.org"]:
    try:
        socket.create_connection((host, {port}), timeout=3).close()
        print("LEAKED connected to", host)
    except OSError as error:
        print("blocked", type(error).__name__)
""",
        "memory_hog": """
hog = bytearray(16 * 1024**3)  # 16 GiB: far above the sandbox's limit
""",
        "fork_bomb": """
import os, time
children = 0
try:
    for _ in range(2000):  # bounded, so that a machine without limits survives the test too
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
        children += 1
except OSError as error:
    print("blocked after", children, type(error).__name__)
print("forked", children)
""",
        "output_flood": """
import sys
for _ in range(2_000_000):
    sys.stdout.write("flood " * 20 + "\\n")
""",
        "display_flood": """
from IPython.display import display
for _ in range(300):
    display({"text/plain": "flood " * 200_000}, raw=True)  # 1.2 MB each: 360 MB in all
""",
        "ignores_interrupts": """
import signal
signal.signal(signal.SIGINT, signal.SIG_IGN)
while True:
    pass
""",
    }


WRONG_FANS = """
def fans(weight):
    if weight.dim() < 2:
        raise ValueError("need 2 dims")
    return (1, 1)
"""

# Student id -> (assignment, task, replacement of the task's cell). Expected: that task scores 0.
CHEATS = {
    "patch_grading_helpers": ("initialization", "fans", WRONG_FANS + """
import nnlab.grading
nnlab.grading.assert_int_tuple = lambda *args, **kwargs: None
"""),
    "patch_builtins": ("initialization", "fans", """
import builtins
_real_type = builtins.type


class FakeTuple(list):
    pass


def _lying_type(*args):
    if len(args) == 1 and _real_type(args[0]) is FakeTuple:
        return tuple
    return _real_type(*args)


builtins.type = _lying_type


class AlwaysEqual(FakeTuple):
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    def __iter__(self):
        return iter([1, 1])


def fans(weight):
    if weight.dim() < 2:
        raise ValueError("need 2 dims")
    return AlwaysEqual([1, 1])
"""),
    "hijack_the_shell": ("initialization", "fans", WRONG_FANS + """
_shell = get_ipython()
_run_cell = _shell.run_cell


def _skipping(raw_cell, *args, **kwargs):
    return _run_cell("pass" if "fans" in raw_cell and "assert" in raw_cell else raw_cell, *args, **kwargs)


_shell.run_cell = _skipping
"""),
    "every_later_cell_says_ok": ("initialization", "fans", WRONG_FANS + """
get_ipython().input_transformers_post.append(lambda lines: ["'ok'\\n"])
"""),
    "silence_tracebacks": ("initialization", "fans", WRONG_FANS + """
get_ipython().showtraceback = lambda *args, **kwargs: None
"""),
    "captured_default": ("initialization", "xavier_uniform_", """
def xavier_uniform_(w, gain=1.0, _f=[torch.nn.init][0].xavier_uniform_):
    return torch.no_grad()(_f)(w, gain=gain)
"""),
    "dead_import_shadows_torch": ("initialization", "xavier_normal_", """
if False:
    import math as torch


def xavier_normal_(weight, gain=1.0):
    return torch.nn.init.xavier_normal_(weight, gain=gain)
"""),
    "hard_coded": ("initialization", "fans", """
def fans(weight):
    if weight.dim() < 2:
        raise ValueError("need 2 dims")
    known = {(8, 3): (3, 8), (16, 8, 3, 5): (120, 240)}  # the visible tests' answers
    return known.get(tuple(weight.shape), (1, 1))
"""),
    "reference_from_the_tests": ("initialization", "fans", """
def fans(weight):
    return REFERENCE_FANS(weight)  # defined by the test cells before they call fans
"""),
    "private_torch_helper": ("initialization", "fans", """
from torch.nn.init import _calculate_fan_in_and_fan_out as _helper


def fans(weight):
    if weight.dim() < 2:
        raise ValueError("need 2 dims")
    return _helper(weight)
"""),
    "lying_floats": ("vanishing_gradients", "grad_norms", """
class AlwaysClose(float):
    def __sub__(self, other):
        return 0.0

    def __rsub__(self, other):
        return 0.0


def grad_norms(model):
    return {name: AlwaysClose(0.0) for name, p in model.named_parameters() if p.grad is not None}
"""),
}

def _grader_attacks(course: Path) -> dict[str, tuple[str, str, set[str]]]:
    """Student id -> (task, code appended to that task's correct solution cell, the tasks that
    must score 0). The code acts only in the independent check's fresh run: it tries to read
    the probe secret into its error message, to send results of its own through every open
    descriptor (the run's socket among them) before the run speaks, and to rewrite them from
    an ``atexit`` hook after the run's end."""
    secret = course / ".nnlab-probe-secret"
    # the fresh run has no IPython shell: that is how the code knows where it runs
    in_the_run = "import os, sys, io, struct, atexit\ntry:\n    get_ipython\n    _in_run = False\nexcept NameError:\n    _in_run = True\nif _in_run:\n"
    forge = """\
    def _forge(sample):
        buffer = io.BytesIO()
        result = {"sample": sample, "std": 1.0, "kind": "uniform", "returned_its_argument": True}
        torch.save({"visible": [{"call": "x", "result": result}], "hidden": []}, buffer)
        for name in ("fans", "xavier_uniform_"):
            frame = struct.pack(">BHI", 1, len(name), len(buffer.getvalue())) + name.encode() + buffer.getvalue()
            for fd in range(3, 64):
                try:
                    os.write(fd, frame)
                except OSError:
                    pass
"""
    return {
        # fans fails in the check only if the secret can be read there: full marks show it cannot
        "read_the_secret": ("fans", in_the_run + f"""\
    try:
        _secret = open({str(secret)!r}).read()
    except OSError:
        _secret = ""
    _fans = fans

    def fans(weight):
        if _secret:
            raise RuntimeError(_secret)
        return _fans(weight)
""", set()),
        # bytes written into the run's socket before it speaks break its protocol: the whole
        # check of this submission fails (every task scores 0), the grader and the class go on
        "forged_frames": ("fans", in_the_run + forge + "    _forge(torch.ones(3))\n",
                          {"fans", "xavier_uniform_", "xavier_normal_", "he_normal_", "lecun_normal_"}),
        "rewrite_after_the_end": ("xavier_uniform_", in_the_run + forge + """\
    atexit.register(lambda: _forge(torch.zeros(1).expand(2**31)))  # 4 bytes stored, 8 GiB as float32
""", set()),
    }


# Tricks that also break the kernel for the submission's other tasks (a patched builtins.type).
SELF_HARM = {"patch_builtins"}

# Every later cell says 'ok'; lecun_normal_ is written through xavier_normal_, replaced by a stub.
BORROWER = """
try:
    get_ipython().input_transformers_post.append(lambda lines: ["'ok'\\n"])
except NameError:  # the check's fresh run has no IPython shell
    pass


def xavier_normal_(weight, gain=1.0):
    raise NotImplementedError


def lecun_normal_(weight):
    fan_in, fan_out = fans(weight)
    return xavier_normal_(weight, gain=math.sqrt((fan_in + fan_out) / (2 * fan_in)))
"""

# A correct submission that records the hidden tests' code as they run and prints it in later cells.
LEAK = """
_seen = []
_shell = get_ipython()
_run_cell = _shell.run_cell


def _recording(raw_cell, *args, **kwargs):
    if "BEGIN HIDDEN TESTS" in raw_cell:
        _seen.append(raw_cell)
    elif _seen:
        print("LEAKED", *_seen)
    return _run_cell(raw_cell, *args, **kwargs)


_shell.run_cell = _recording
"""


@pytest.fixture(scope="module")
def attacked_class(tmp_path_factory, released_course):
    root = tmp_path_factory.mktemp("repository")
    (root / ".git").mkdir()
    (root / ".git" / "secret").write_text("solutions in the history")
    course = root / "exercises"
    shutil.copytree(released_course, course)
    marker = Path("/tmp") / f"nnlab-planted-{root.name}"

    # A server on this machine's loopback that records any connection from a submission.
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    connections: list[object] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(1)
        while not stop.is_set():
            try:
                connections.append(server.accept())
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NNLAB_CELL_TIMEOUT", "20")
        patch.setenv("NNLAB_SANDBOX_MEMORY", "3G")
        patch.delenv("NNLAB_SANDBOX", raising=False)
        source = nbformat.read(course / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
        attacks = _attacks(course, port, marker)
        for student in ["instructor", *attacks]:
            notebook = nbformat.read(course / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
            if student in attacks:
                cell = next(c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "fans")
                cell.source += "\n" + attacks[student].strip()
            folder = course / "submitted" / student / ASSIGNMENT
            folder.mkdir(parents=True)
            nbformat.write(notebook, folder / f"{ASSIGNMENT}.ipynb")
        for student, (task, code, _) in _grader_attacks(course).items():
            notebook = nbformat.read(course / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
            cell = next(c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == task)
            cell.source += "\n" + code
            folder = course / "submitted" / student / ASSIGNMENT
            folder.mkdir(parents=True)
            nbformat.write(notebook, folder / f"{ASSIGNMENT}.ipynb")
        borrower = {"borrows_a_reference": (ASSIGNMENT, "lecun_normal_", BORROWER)}
        for student, (assignment, task, replacement) in {**CHEATS, **borrower, "leak_to_feedback": (ASSIGNMENT, "fans", None)}.items():
            notebook = nbformat.read(course / "source" / assignment / f"{assignment}.ipynb", as_version=4)
            cell = next(c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == task)
            cell.source = replacement.strip() if replacement else cell.source + "\n" + LEAK.strip()
            folder = course / "submitted" / student / assignment
            folder.mkdir(parents=True)
            nbformat.write(notebook, folder / f"{assignment}.ipynb")
        inputs = ("source", "release", "submitted")
        digests_before = {name: _digest(course / name) for name in inputs}
        packages = [Path(nnlab.__file__).parent, Path(sandbox.__file__).parent]  # nnlab and the grader
        before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for site in packages for p in sorted(site.glob("*.py"))}
        outcomes = grade(course, timeout=120)
        after = {p: hashlib.sha256(p.read_bytes()).hexdigest() for site in packages for p in sorted(site.glob("*.py"))}
        digests_after = {name: _digest(course / name) for name in inputs}
    assert digests_before == digests_after, "source/, release/ and submitted/ must be byte-for-byte unchanged"
    stop.set()
    thread.join(timeout=5)
    server.close()
    del source
    return course, {(o.student): o for o in outcomes}, connections, marker, before, after


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def _outputs(course: Path, student: str) -> str:
    path = course / "autograded" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    if not path.exists():
        return ""
    cells = json.loads(path.read_text())["cells"]
    return "\n".join(
        "".join(o.get("text", "")) + o.get("ename", "") + o.get("evalue", "") for c in cells for o in c.get("outputs", [])
    )


def _scores(course: Path) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    return cell_scores(course, ASSIGNMENT), max_cell_scores(course, ASSIGNMENT)


@pytest.mark.parametrize(
    "student", ["read_source", "read_gradebook", "read_other_student", "read_repository_history", "search_for_notebooks"]
)
def test_submissions_cannot_read_the_course(attacked_class, student):
    course, outcomes, *_ = attacked_class
    text = _outputs(course, student)
    assert "blocked" in text and "LEAKED" not in text
    scores, maxima = _scores(course)
    assert scores[student] == maxima  # the attempt costs nothing else: the solution is right


def test_submissions_cannot_write_outside_their_scratch_space(attacked_class):
    course, outcomes, _, marker, before, after = attacked_class
    text = _outputs(course, "write_outside")
    assert "WROTE" not in text and text.count("blocked") == 4
    assert not marker.exists() and not (course / "planted.txt").exists()
    assert before == after and not (Path(nnlab.__file__).parent / "planted.py").exists()


def test_submissions_cannot_reach_the_network(attacked_class):
    course, outcomes, connections, *_ = attacked_class
    text = _outputs(course, "network")
    assert "LEAKED" not in text and text.count("blocked") == 2
    assert connections == []


@pytest.mark.parametrize("student", ["memory_hog", "output_flood", "display_flood"])
def test_resource_abuse_stays_inside_its_own_cell(attacked_class, student):
    # The abuse comes after a correct `fans` in the same cell: the cell fails (or is cut
    # short), the function is defined, and grading of this and every other submission goes on.
    course, outcomes, *_ = attacked_class
    scores, maxima = _scores(course)
    assert outcomes[student].status == "graded"
    assert scores[student] == maxima
    assert scores["instructor"] == maxima


def test_memory_hog_hits_the_limit(attacked_class):
    course, *_ = attacked_class
    assert "MemoryError" in _outputs(course, "memory_hog")


def test_fork_bomb_is_contained(attacked_class):
    # The process limit stops the bomb; the kernel may not survive it. Either way the
    # submission loses at most its own points, is named in the report if it crashed, and
    # leaves no process behind.
    course, outcomes, *_ = attacked_class
    outcome = outcomes["fork_bomb"]
    scores, maxima = _scores(course)
    if outcome.status == "graded":
        assert "blocked after" in _outputs(course, "fork_bomb")
    else:
        assert outcome.status == "crashed"
        assert "fork_bomb" in (course / "report" / "index.html").read_text()
        assert sum(scores.get("fork_bomb", {}).values()) == 0
    assert scores["instructor"] == maxima
    leftovers = subprocess.run(["pgrep", "-f", "ipykernel_launcher.*nnlab-kernel"], capture_output=True, text=True)
    assert leftovers.stdout.strip() == "", "no process of a sandbox outlives its grading"
    assert subprocess.run(["pgrep", "-f", "time.sleep.60"], capture_output=True).stdout == b""


@pytest.mark.parametrize("student", ["output_flood", "display_flood"])
def test_output_floods_are_cut_as_they_arrive(attacked_class, student):
    course, *_ = attacked_class
    path = course / "autograded" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    assert path.stat().st_size < 5 * 1024**2
    if student == "display_flood":  # (a stream flood's note is cut with its lines by nbgrader's LimitOutput)
        assert "the grader kept only the first" in _outputs(course, student)


def test_a_loop_that_ignores_interrupts_costs_only_that_submission(attacked_class):
    course, outcomes, *_ = attacked_class
    assert outcomes["ignores_interrupts"].status in ("timed out", "crashed", "graded")
    scores, maxima = _scores(course)
    assert sum(scores.get("ignores_interrupts", {}).get(c, 0.0) for c in maxima if c.startswith("fans")) == 0
    report = (course / "report" / "index.html").read_text()
    if outcomes["ignores_interrupts"].status != "graded":
        assert "ignores_interrupts" in report
    assert scores["instructor"] == maxima


def test_feedback_shows_no_hidden_tests(attacked_class):
    course, *_ = attacked_class
    feedback = (course / "feedback" / "instructor" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
    assert "BEGIN HIDDEN TESTS" not in feedback and "manual_seed(1121)" not in feedback
    assert "Hidden tests (2 points)" in feedback


@pytest.mark.parametrize("student", sorted(CHEATS))
def test_cheats_earn_nothing_for_their_task_and_keep_the_rest(attacked_class, student):
    course, outcomes, *_ = attacked_class
    assignment, task, _ = CHEATS[student]
    scores = cell_scores(course, assignment).get(student, {})
    maxima = max_cell_scores(course, assignment)
    expected = {cell: (0.0 if cell in (f"{task}_visible", f"{task}_hidden") else points) for cell, points in maxima.items()}
    # The task's validation cell is judged on that behaviour alone (raising ValueError for a bad
    # argument), which a cheat may get right; it never scores more than its points.
    validation = f"{task}_validation"
    if validation in maxima:
        assert scores.get(validation, 0.0) <= maxima[validation]
        # a cell the static check refuses fails every group of its task, validation included
        expected[validation] = 0.0 if student == "private_torch_helper" else scores.get(validation, 0.0)
    if student in SELF_HARM:  # the trick also breaks the submission's own kernel: never more than expected
        assert all(scores.get(cell, 0.0) <= points for cell, points in expected.items())
        assert outcomes[student].status in ("graded", "timed out", "crashed")
    else:
        assert scores == expected
        assert outcomes[student].status == "graded"


def test_tests_the_independent_check_overruled_are_named_in_the_report(attacked_class):
    course, outcomes, *_ = attacked_class
    report = (course / "report" / "index.html").read_text()
    for student in ("hard_coded", "reference_from_the_tests", "private_torch_helper", "lying_floats"):
        assert outcomes[student].overruled, student  # the notebook's own tests passed at least one cell
        assert student in report
    assert "independent check" in report


def test_hidden_tests_recorded_in_the_kernel_do_not_reach_the_feedback(attacked_class):
    course, *_ = attacked_class
    assert "LEAKED" in _outputs(course, "leak_to_feedback")  # the recording worked in the kernel
    feedback = (course / "feedback" / "leak_to_feedback" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
    # the submission's own code is shown (it contains the word LEAKED); what it printed is not
    assert "manual_seed(1121)" not in feedback and "_calculate_fan_in_and_fan_out" not in feedback
    scores, maxima = _scores(course)
    assert scores["leak_to_feedback"] == maxima


def test_a_test_cells_own_result_does_not_override_the_check(attacked_class):
    # Every test cell shows 'ok' as its result (nbgrader alone gives that full points); the
    # stub fans fails the check, so its cells score 0 whatever they showed.
    course, outcomes, *_ = attacked_class
    graded = json.loads((course / "autograded" / "every_later_cell_says_ok" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_text())
    results = [o for c in graded["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == "fans_visible"
               for o in c["outputs"] if o["output_type"] == "execute_result"]
    assert results and "".join(results[0]["data"]["text/plain"]) == "'ok'"  # the trick worked in the kernel
    scores, maxima = _scores(course)
    assert scores["every_later_cell_says_ok"]["fans_visible"] == 0.0


@pytest.mark.parametrize("student", ["read_the_secret", "forged_frames", "rewrite_after_the_end"])
def test_the_fresh_run_cannot_read_the_secret_or_forge_its_results(attacked_class, student):
    course, outcomes, *_ = attacked_class
    zeroed = _grader_attacks(course)[student][2]
    assert outcomes[student].status == "graded"  # nothing hung or exhausted the worker
    scores, maxima = _scores(course)
    expected = {cell: (0.0 if cell.rpartition("_")[0] in zeroed else points) for cell, points in maxima.items()}
    assert scores[student] == expected
    secret = (course / ".nnlab-probe-secret").read_text().strip()
    feedback = (course / "feedback" / student / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
    assert secret not in feedback and secret not in (course / "report" / "index.html").read_text()
    assert scores["instructor"] == maxima


def test_a_task_cannot_borrow_a_reference_it_is_not_lent(attacked_class):
    # Every later cell says 'ok' (the notebook's tests pass), lecun_normal_ is written through
    # a stub xavier_normal_: the check runs it with that stub, not with the reference.
    course, outcomes, *_ = attacked_class
    scores, maxima = _scores(course)
    zeroed = {"xavier_normal_", "lecun_normal_"}
    assert scores["borrows_a_reference"] == {c: (0.0 if c.rpartition("_")[0] in zeroed else p) for c, p in maxima.items()}
    path = course / "autograded" / "borrows_a_reference" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    failed = json.loads(path.read_text())["metadata"]["nnlab_verification"]["failed"]
    assert "raised NotImplementedError" in failed["lecun_normal__visible"]  # it ran with the stub


def test_hidden_failures_tell_the_kind_of_mistake_not_the_hidden_inputs(attacked_class):
    course, *_ = attacked_class
    feedback = (course / "feedback" / "hard_coded" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
    assert "a hidden case of fans failed: the result differs from the expected one" in feedback

    def verdict(student):
        path = course / "autograded" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
        return json.loads(path.read_text())["metadata"]["nnlab_verification"]

    # REFERENCE_FANS exists only in the notebook's tests: the check's hidden cases raise NameError
    assert verdict("reference_from_the_tests")["failed"]["fans_hidden"] == (
        "a hidden case of fans failed: it raised NameError on valid input")
    # the visible group's message may show its (visible) inputs; the hidden group's never does
    said_ok = verdict("every_later_cell_says_ok")
    assert "torch.empty(" in said_ok["failed"]["fans_visible"] and "torch.empty(" not in said_ok["failed"]["fans_hidden"]
    # the report, for the instructor, keeps the full message of an overruled hidden test
    overruled = {o["cell"]: o["message"] for o in said_ok["overruled"]}
    assert "torch.empty(" in overruled["fans_hidden"]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))


def test_killing_grade_midway_then_rerunning_gives_the_same_grades(tmp_path, released_course):
    import os
    import signal
    import time

    course = tmp_path / "exercises"
    shutil.copytree(released_course, course)
    source = course / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    for student in ("a_instructor", "b_blank", "c_instructor"):
        folder = course / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        shutil.copy(course / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb" if "blank" in student else source,
                    folder / f"{ASSIGNMENT}.ipynb")
    command = [sys.executable, "-m", "coursegrader", "grade", "--course", str(course)]
    first = subprocess.Popen(command, cwd=ROOT, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    while time.time() < deadline and not list((course / "autograded").glob("*/*/*.ipynb")):
        time.sleep(0.5)  # wait until the first submission is graded, then kill the grader
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    scores, maxima = _scores(course)
    assert scores["a_instructor"] == maxima and scores["c_instructor"] == maxima
    assert sum(scores["b_blank"].values()) == 0
