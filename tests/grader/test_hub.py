"""A class on JupyterHub (coursegrader/hub.py, hub/jupyterhub_config.py).

The settings and the recipe are checked on their own first. Then a real class runs on
loopback: JupyterHub with configurable-http-proxy, three students and an instructor, each a
Unix account of their own. The instructor hands the assignment out from a terminal of their
JupyterLab; each student lists it, fetches it, works on it (two solve it, one hands in the
released notebook), validates and submits through their own server; the instructor grades and
returns the feedback; each student fetches theirs. Then what keeps students apart is tried.
"""
from __future__ import annotations

import csv
import io
import os
import re
import shutil
import stat
import sys
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest

from coursegrader import contracts
from coursegrader.hub import DEFAULT_HUB_EXCHANGE, ROLE_CONFIG, HubConfigurationError, hub_class, prepare_exchange, \
    unreachable_by_others
from hub_on_loopback import RECIPE, start_class, why_not_here
from jupyterlab_ui import open_assignment_list, row_in_assignment_list, validate
from offline_chromium import CHROMIUM, FLAGS, MISSING

ROOT = Path(__file__).resolve().parents[2]
ASSIGNMENT = "clipping"  # one of the course's assignments, the quickest to validate and grade


# --------------------------------------------------------------------------- the settings


@pytest.fixture
def hub_settings(monkeypatch):
    for setting in (contracts.HUB_INSTRUCTORS, contracts.HUB_PYTHON, contracts.HUB_COURSE, contracts.EXCHANGE,
                    contracts.HUB_CLASS_GROUP):
        monkeypatch.delenv(setting.name, raising=False)
    return monkeypatch


@pytest.fixture
def open_python():
    """An executable called python in a folder every user may enter (as a class's environment is)."""
    import tempfile

    base = Path(tempfile.mkdtemp(dir="/tmp"))
    os.chmod(base, 0o755)
    python = base / "bin" / "python"
    python.parent.mkdir()
    python.write_text("#!/bin/sh\n")
    python.chmod(0o755)
    yield python
    shutil.rmtree(base)


def test_a_class_with_no_settings_uses_nbgraders_exchange_and_the_hubs_python(hub_settings, open_python):
    cls = hub_class("course-101", str(open_python))
    assert cls.exchange == DEFAULT_HUB_EXCHANGE == Path("/usr/local/share/nbgrader/exchange")
    assert cls.python == open_python
    assert cls.instructors == frozenset()
    assert cls.role("anyone") == "student"


def test_each_setting_that_cannot_work_is_refused_by_name(hub_settings, tmp_path, open_python):
    hub_settings.setenv("NNLAB_HUB_INSTRUCTORS", "root, no-such-user-here")
    with pytest.raises(HubConfigurationError, match="NNLAB_HUB_INSTRUCTORS names 'no-such-user-here'"):
        hub_class("c", str(open_python))
    hub_settings.setenv("NNLAB_HUB_INSTRUCTORS", "root")
    hub_settings.setenv("NNLAB_HUB_PYTHON", str(tmp_path / "no-python"))
    with pytest.raises(HubConfigurationError, match="NNLAB_HUB_PYTHON=.*no-python: not an absolute path to a Python"):
        hub_class("c", str(open_python))
    closed = tmp_path / "closed"
    (closed / "bin").mkdir(parents=True)
    shutil.copy(open_python, closed / "bin" / "python")
    os.chmod(closed, 0o700)
    hub_settings.setenv("NNLAB_HUB_PYTHON", str(closed / "bin" / "python"))
    with pytest.raises(HubConfigurationError, match="is closed to other users: install the course where every user"):
        hub_class("c", str(open_python))
    hub_settings.delenv("NNLAB_HUB_PYTHON")
    hub_settings.setenv("NNLAB_EXCHANGE", "relative/exchange")
    with pytest.raises(HubConfigurationError, match="NNLAB_EXCHANGE=relative/exchange: the exchange must be an absolute"):
        hub_class("c", str(open_python))
    hub_settings.setenv("NNLAB_EXCHANGE", str(tmp_path))
    hub_settings.setenv("NNLAB_HUB_COURSE", "course/exercises")
    with pytest.raises(HubConfigurationError, match="NNLAB_HUB_COURSE=course/exercises: give an absolute path"):
        hub_class("c", str(open_python))


def test_a_students_server_and_an_instructors_get_their_roles_environment(hub_settings, tmp_path, open_python):
    hub_settings.setenv("NNLAB_HUB_INSTRUCTORS", "root")
    hub_settings.setenv("NNLAB_EXCHANGE", str(tmp_path / "exchange"))
    cls = hub_class("course-101", str(open_python))
    root_home = Path(os.path.expanduser("~root"))
    instructor = cls.server_environment("root")
    assert instructor["JUPYTER_CONFIG_PATH"] == str(ROLE_CONFIG / "instructor")
    assert instructor["NNLAB_HUB_COURSE"] == str(root_home / "course" / "exercises")
    assert instructor["NNLAB_EXCHANGE"] == str(tmp_path / "exchange")
    assert instructor["NNLAB_HUB_COURSE_ID"] == "course-101"
    assert instructor["PATH"].split(os.pathsep)[0] == str(open_python.parent)
    student = cls.server_environment("a-student")
    assert student["JUPYTER_CONFIG_PATH"] == str(ROLE_CONFIG / "student")
    assert "NNLAB_HUB_COURSE" not in student  # a student's server has no course of the instructor's
    for role in ("student", "instructor"):
        assert (ROLE_CONFIG / role / "nbgrader_config.py").is_file()


def test_the_exchange_is_open_to_all_and_sticky(tmp_path):
    exchange = tmp_path / "a" / "exchange"
    prepare_exchange(exchange)
    assert stat.S_IMODE(exchange.stat().st_mode) == 0o1777
    os.chmod(exchange, 0o700)
    prepare_exchange(exchange)  # a narrowed exchange is opened again (nbgrader refuses one that is not ugo+rwx)
    assert stat.S_IMODE(exchange.stat().st_mode) == 0o1777


def test_a_folder_closed_to_others_on_the_way_is_named():
    import tempfile

    base = Path(tempfile.mkdtemp(dir="/tmp"))
    try:
        os.chmod(base, 0o755)
        (base / "open" / "inside").mkdir(parents=True)
        (base / "closed" / "inside").mkdir(parents=True)
        os.chmod(base / "closed", 0o700)
        assert unreachable_by_others(base / "open" / "inside") is None
        assert unreachable_by_others(base / "closed" / "inside") == base / "closed"
        assert unreachable_by_others(Path("/usr/bin/env")) is None
    finally:
        shutil.rmtree(base)


def test_the_recipe_loads_and_gives_each_server_its_role(hub_settings, tmp_path, open_python):
    from jupyterhub.app import JupyterHub

    hub_settings.setenv("NNLAB_HUB_PYTHON", str(open_python))
    hub_settings.setenv("NNLAB_EXCHANGE", str(tmp_path / "exchange"))
    hub_settings.setenv("NNLAB_HUB_INSTRUCTORS", "root")
    app = JupyterHub()
    app.load_config_file(str(RECIPE))
    config = app.config
    assert config.JupyterHub.authenticator_class == "pam"
    assert config.Spawner.cmd == [str(open_python), "-m", "jupyterhub.singleuser"]
    assert Path(config.ConfigurableHTTPProxy.command[0]) == ROOT / "hub" / "node_modules" / ".bin" / "configurable-http-proxy"
    assert stat.S_IMODE((tmp_path / "exchange").stat().st_mode) == 0o1777  # made when the hub starts
    spawner = SimpleNamespace(user=SimpleNamespace(name="root"), environment={"KEPT": "1"})
    config.Spawner.pre_spawn_hook(spawner)
    assert spawner.environment["KEPT"] == "1"
    assert spawner.environment["JUPYTER_CONFIG_PATH"].endswith("instructor")


# --------------------------------------------------------------------------- a class on a real hub

WHY_NOT = why_not_here()


def _in_their_own_words(solution: nbformat.NotebookNode, student: str) -> nbformat.NotebookNode:
    """The solved notebook with the written answers signed by ``student`` (each one's work differs)."""
    work = nbformat.from_dict(solution)
    for cell in work.cells:
        if cell.cell_type == "markdown" and cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = f"{cell.source}\n\nWritten by {student}."
    return work


@pytest.fixture(scope="module")
def graded_class():
    """The whole cycle of one assignment, once; what each step answered, for the tests below."""
    if WHY_NOT:
        pytest.skip(WHY_NOT)
    course = ROOT / "exercises"
    solution = nbformat.read(course / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    cls = start_class(course, ASSIGNMENT)  # the instructor's course: this one's configuration and the assignment
    # three students through their servers' APIs; the fourth, later, in a browser
    students, browser_student = cls.students[:3], cls.students[3]
    seen = SimpleNamespace(cls=cls, students=students, browser_student=browser_student,
                           listed={}, fetched={}, validated={}, submitted={}, feedback={})
    try:
        solver, idler, second_solver = students
        cls.start_server(cls.instructor)
        code, seen.hand_out = cls.terminal(cls.instructor, "cd ~/course/exercises && python -m coursegrader hand-out")
        assert code == 0, seen.hand_out[-3000:]

        notebook = f"{ASSIGNMENT}/{ASSIGNMENT}.ipynb"
        for student in students:
            cls.start_server(student)
            seen.listed[student] = cls.on_server(student, "GET", f"assignments?course_id={cls.course_id}").json()
            answer = cls.on_server(student, "POST", "assignments/fetch",
                                   data={"course_id": cls.course_id, "assignment_id": ASSIGNMENT})
            seen.fetched[student] = cls.on_server(student, "GET", f"api/contents/{notebook}").json()
            if student != idler:  # the work: the solved notebook, written through the server's contents API
                work = _in_their_own_words(solution, student)
                put = cls.on_server(student, "PUT", f"api/contents/{notebook}",
                                    json={"type": "notebook", "format": "json", "content": work})
                assert put.status_code == 200, put.text
            answer = cls.on_server(student, "POST", "assignments/validate", data={"path": notebook})
            assert answer.status_code == 200, answer.text
            seen.validated[student] = answer.json()
            answer = cls.on_server(student, "POST", "assignments/submit",
                                   data={"course_id": cls.course_id, "assignment_id": ASSIGNMENT})
            assert answer.status_code == 200, answer.text
            seen.submitted[student] = answer.json()

        code, seen.grading = cls.terminal(
            cls.instructor, "cd ~/course/exercises && python -m coursegrader grade --timeout 600 "
                            "&& python -m coursegrader return-feedback")
        assert code == 0, seen.grading[-4000:]
        instructor_course = cls.home(cls.instructor) / "course" / "exercises"
        seen.grades = list(csv.DictReader(io.StringIO((instructor_course / "grades.csv").read_text())))
        feedback = {student: instructor_course / "feedback" / student / ASSIGNMENT / f"{ASSIGNMENT}.html"
                    for student in students}
        missing = [str(path) for path in feedback.values() if not path.is_file()]
        assert not missing, f"no feedback at {missing}; grading said:\n{seen.grading[-4000:]}"
        seen.instructor_feedback = {student: path.read_bytes() for student, path in feedback.items()}
        seen.autograded = {student: nbformat.read(instructor_course / "autograded" / student / ASSIGNMENT /
                                                  f"{ASSIGNMENT}.ipynb", as_version=4) for student in students}
        for student in students:
            answer = cls.on_server(student, "POST", "assignments/fetch_feedback",
                                   data={"course_id": cls.course_id, "assignment_id": ASSIGNMENT})
            assert answer.status_code == 200, answer.text
            folder = cls.home(student) / ASSIGNMENT / "feedback"
            seen.feedback[student] = {path.relative_to(folder): path.read_bytes() for path in folder.rglob("*.html")}
        seen.course = instructor_course
        seen.released = nbformat.read(instructor_course / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
        yield seen
    finally:
        cls.stop()


@pytest.mark.slow
def test_every_student_lists_and_fetches_what_the_instructor_handed_out(graded_class):
    for student, listed in graded_class.listed.items():
        assert listed["success"], listed
        names = {(item["course_id"], item["assignment_id"], item["status"]) for item in listed["value"]}
        assert (graded_class.cls.course_id, ASSIGNMENT, "released") in names, listed
        fetched = graded_class.fetched[student]
        assert fetched.get("type") == "notebook", f"{student} has no fetched notebook: {fetched}"
        # the released notebook: the solutions cleared, as nbgrader generated it
        assert [cell["source"] for cell in fetched["content"]["cells"]] == \
               [cell["source"] for cell in graded_class.released.cells]


@pytest.mark.slow
def test_validate_passes_the_solved_notebook_and_names_the_unfinished_one(graded_class):
    solver, idler, second_solver = graded_class.students
    for student in (solver, second_solver):
        answer = graded_class.validated[student]
        assert answer["success"] and not answer["value"].get("failed"), answer
    unfinished = graded_class.validated[idler]
    assert unfinished["success"], unfinished
    failed = unfinished["value"].get("failed")
    assert failed and any("NotImplementedError" in item.get("error", "") for item in failed), unfinished


def _lost_points(notebook) -> str:
    """The graded cells of an autograded notebook that raised, with their errors: why points were lost."""
    lines = []
    for cell in notebook.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        errors = [out for out in cell.get("outputs", []) if out.get("output_type") == "error"]
        if grade_id and errors:
            lines.append(f"{grade_id}: {errors[0]['ename']}: {errors[0]['evalue']}"[:600])
    from coursegrader.contracts import Verdict

    verdict = Verdict.read(notebook.metadata)
    lines += [f"overruled {item['cell']}: {item['message']}"[:600] for item in verdict.overruled]
    lines += [f"check failed {group}: {message}"[:600] for group, message in verdict.failed.items()]
    if verdict.problem:
        lines.append(f"the independent check's run failed: {verdict.problem[:1500]}")
    return "\n".join(lines) or "(no graded cell raised, no verdict against it)"


@pytest.mark.slow
def test_the_instructor_grades_every_submission_from_the_hub(graded_class):
    solver, idler, second_solver = graded_class.students
    for student in graded_class.students:
        listed = graded_class.submitted[student]
        assert listed["success"] and any(item["status"] == "submitted" for item in listed["value"]), listed
    rows = {row["student_id"]: row for row in graded_class.grades if row["assignment"] == ASSIGNMENT}
    assert set(rows) == set(graded_class.students), graded_class.grading[-3000:]
    # every automatic point; the written answers (markdown cells) wait for the instructor's hand
    source = nbformat.read(ROOT / "exercises" / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    automatic = sum(cell.metadata["nbgrader"]["points"] for cell in source.cells
                    if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade"))
    assert 0 < automatic <= float(rows[solver]["max_score"])
    for student in (solver, second_solver):
        assert float(rows[student]["score"]) == automatic, _lost_points(graded_class.autograded[student])
    # the instructor's formgrader, in their JupyterLab, reads the same course and gradebook
    listed = graded_class.cls.on_server(graded_class.cls.instructor, "GET", "formgrader/api/assignments")
    assert listed.status_code == 200, listed.text[:2000]
    (assignment,) = [item for item in listed.json() if item["name"] == ASSIGNMENT]
    assert assignment["num_submissions"] == 3 and assignment["status"] == "released", assignment
    assert float(rows[idler]["score"]) == 0.0


@pytest.mark.slow
def test_each_student_fetches_their_own_feedback_and_no_one_elses(graded_class):
    for student in graded_class.students:
        fetched = graded_class.feedback[student]
        assert len(fetched) == 1, f"{student} fetched {sorted(map(str, fetched))}"
        (content,) = fetched.values()
        assert content == graded_class.instructor_feedback[student]
        others = [other for other in graded_class.students if other != student]
        assert all(content != graded_class.instructor_feedback[other] for other in others)
        assert not any(f"Written by {other}.".encode() in content for other in others)
    solver, idler, second_solver = graded_class.students
    assert f"Written by {solver}.".encode() in next(iter(graded_class.feedback[solver].values()))


@pytest.mark.slow
def test_one_student_cannot_reach_anothers_work(graded_class):
    cls = graded_class.cls
    solver, idler, _ = graded_class.students
    # through the hub: another student's server refuses this student's token
    answer = cls.on_server(solver, "GET", f"api/contents/{ASSIGNMENT}/{ASSIGNMENT}.ipynb", as_user=idler)
    assert answer.status_code in (403, 404), answer.status_code
    # a student's server has no formgrader; the instructor's has
    assert cls.on_server(idler, "GET", "formgrader").status_code == 404
    assert cls.on_server(cls.instructor, "GET", "formgrader").status_code in (200, 302)
    # on the disk, as that student's Unix user: another's home, the exchange's submissions and feedback
    work = cls.home(solver) / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    assert cls.as_user(solver, "cat", str(work)).returncode == 0  # the owner reads it
    assert cls.as_user(idler, "cat", str(work)).returncode != 0
    course = cls.exchange / cls.course_id
    for folder in ("inbound", "feedback"):
        listing = cls.as_user(idler, "ls", str(course / folder))
        assert listing.returncode != 0 and "Permission denied" in listing.stderr, (folder, listing)
    # nor can they remove what the instructor handed out
    assert cls.as_user(idler, "rm", "-rf", str(course / "outbound")).returncode != 0
    assert (course / "outbound" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").is_file()
    # and the instructor's course (the gradebook, the solutions) is closed to students
    assert cls.as_user(idler, "ls", str(graded_class.course)).returncode != 0


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason=f"{MISSING}: the student's path on the hub in a browser needs it")
def test_in_a_browser_a_student_logs_in_fetches_validates_and_submits_without_a_formgrader(graded_class):
    from playwright.sync_api import expect, sync_playwright

    cls, student = graded_class.cls, graded_class.browser_student
    source = nbformat.read(ROOT / "exercises" / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    first_task = next(cell.metadata["nbgrader"]["grade_id"] for cell in source.cells
                      if cell.metadata.get("nbgrader", {}).get("solution"))
    inbound = cls.exchange / cls.course_id / "inbound"
    handed_in = len(list(inbound.iterdir()))
    requests, problems = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)

        def log_in(user: str):
            page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
            page.set_default_timeout(180_000)
            page.on("request", lambda request: requests.append(request.url))
            page.on("pageerror", lambda error: problems.append(f"{user}: uncaught error: {error}"))
            page.goto(f"{cls.url}/hub/login")
            page.fill("#username_input", user)
            page.fill("#password_input", cls.password)
            page.click("#login_submit")
            page.wait_for_url(re.compile(rf"/user/{user}/lab"))  # the hub starts their server, then JupyterLab
            page.locator("#jp-menu-panel").wait_for()
            return page

        def nbgrader_menu(page) -> set[str]:
            page.locator('#jp-menu-panel div.lm-MenuBar-itemLabel:text("Nbgrader")').click()
            items = page.locator("#jp-mainmenu-nbgrader li[data-command]:visible")  # a command no plugin provides is hidden
            items.first.wait_for()
            commands = {items.nth(i).get_attribute("data-command") for i in range(items.count())}
            page.keyboard.press("Escape")
            return commands

        page = log_in(student)
        menu = nbgrader_menu(page)
        assert "nbgrader:open-assignment-list" in menu and "nbgrader:open-formgrader" not in menu, menu
        open_assignment_list(page)
        row_in_assignment_list(page, "released", ASSIGNMENT).locator(".item_status button").click()
        row_in_assignment_list(page, "fetched", ASSIGNMENT)
        page.goto(f"{cls.url}/user/{student}/lab/tree/{ASSIGNMENT}/{ASSIGNMENT}.ipynb")
        outcome, text = validate(page)  # nothing solved yet: Validate names the first task
        assert outcome == "error" and first_task in text, text[:2000]
        open_assignment_list(page)
        row_in_assignment_list(page, "fetched", ASSIGNMENT).locator('.item_status button:text("Submit")').click()
        expect(row_in_assignment_list(page, "submitted", ASSIGNMENT)).to_be_visible()

        instructor = log_in(cls.instructor)
        assert "nbgrader:open-formgrader" in nbgrader_menu(instructor)
        browser.close()
    assert len(list(inbound.iterdir())) == handed_in + 1  # the submission made in the browser
    elsewhere = sorted({re.sub(r"^\w+://([^/:]+).*", r"\1", r) for r in requests if re.match(r"^(https?|wss?)://", r)}
                       - {"127.0.0.1"})
    assert not elsewhere, f"the hub's pages asked other hosts for {elsewhere}: a class without internet would miss it"
    assert not problems, problems
