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
import grp
import io
import os
import pwd
import re
import shutil
import stat
import subprocess
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest

from coursegrader import contracts
from coursegrader.hub import DEFAULT_HUB_EXCHANGE, ROLE_CONFIG, HubConfigurationError, hub_class, prepare_exchange, \
    unreachable_by_others
from hub_on_loopback import RECIPE, start_class, why_not_here
from jupyterlab_ui import open_assignment_list, other_hosts, row_in_assignment_list, validate
from offline_chromium import CHROMIUM, FLAGS, MISSING

ROOT = Path(__file__).resolve().parents[2]
ASSIGNMENT = "clipping"  # one of the course's assignments, the quickest to validate and grade


# --------------------------------------------------------------------------- the settings


ME = pwd.getpwuid(os.getuid()).pw_name  # a user and a group that exist on any machine
MY_GROUP = grp.getgrgid(os.getgid()).gr_name


@pytest.fixture
def hub_settings(monkeypatch):
    """No hub setting from the environment but an instructor (this user) and a class group that exist."""
    for setting in (contracts.HUB_INSTRUCTORS, contracts.HUB_PYTHON, contracts.HUB_COURSE, contracts.EXCHANGE,
                    contracts.HUB_CLASS_GROUP):
        monkeypatch.delenv(setting.name, raising=False)
    monkeypatch.setenv("NNLAB_HUB_INSTRUCTORS", ME)
    monkeypatch.setenv("NNLAB_HUB_CLASS_GROUP", MY_GROUP)
    return monkeypatch


def _open_folder() -> Path:
    """A new folder under /tmp that every user may enter (pytest's own tmp_path is closed to others)."""
    base = Path(tempfile.mkdtemp(dir="/tmp"))
    os.chmod(base, 0o755)
    return base


@pytest.fixture
def open_python():
    """An executable called python in a folder every user may enter (as a class's environment is)."""
    base = _open_folder()
    python = base / "bin" / "python"
    python.parent.mkdir()
    python.write_text("#!/bin/sh\n")
    python.chmod(0o755)
    yield python
    shutil.rmtree(base)


def test_a_class_uses_nbgraders_exchange_and_the_hubs_python_unless_told(hub_settings, open_python):
    cls = hub_class("course-101", str(open_python))
    assert cls.exchange == DEFAULT_HUB_EXCHANGE == Path("/usr/local/share/nbgrader/exchange")
    assert cls.python == open_python
    assert cls.instructors == (ME,) and cls.class_group == MY_GROUP
    assert cls.role("anyone else") == "student" and cls.role(ME) == "instructor"
    assert contracts.HUB_CLASS_GROUP.default == "nnlab-class"


def test_each_setting_that_cannot_work_is_refused_by_name(hub_settings, tmp_path, open_python):
    hub_settings.setenv("NNLAB_HUB_INSTRUCTORS", " , ")
    with pytest.raises(HubConfigurationError, match="NNLAB_HUB_INSTRUCTORS names no one: a class needs the instructor"):
        hub_class("c", str(open_python))
    hub_settings.setenv("NNLAB_HUB_INSTRUCTORS", f"{ME}, no-such-user-here")
    with pytest.raises(HubConfigurationError, match="NNLAB_HUB_INSTRUCTORS names 'no-such-user-here'"):
        hub_class("c", str(open_python))
    hub_settings.setenv("NNLAB_HUB_INSTRUCTORS", ME)
    hub_settings.setenv("NNLAB_HUB_CLASS_GROUP", "no-such-group-here")
    with pytest.raises(HubConfigurationError, match="NNLAB_HUB_CLASS_GROUP=no-such-group-here: no such group"):
        hub_class("c", str(open_python))
    hub_settings.setenv("NNLAB_HUB_CLASS_GROUP", MY_GROUP)
    hub_settings.setenv("NNLAB_HUB_PYTHON", str(tmp_path / "no-python"))
    with pytest.raises(HubConfigurationError, match="NNLAB_HUB_PYTHON=.*no-python: not an absolute path to a Python"):
        hub_class("c", str(open_python))
    hub_settings.setenv("NNLAB_EXCHANGE", "relative/exchange")
    hub_settings.delenv("NNLAB_HUB_PYTHON")
    with pytest.raises(HubConfigurationError, match="NNLAB_EXCHANGE=relative/exchange: the exchange must be an absolute"):
        hub_class("c", str(open_python))
    hub_settings.setenv("NNLAB_EXCHANGE", str(tmp_path))
    hub_settings.setenv("NNLAB_HUB_COURSE", "course/exercises")
    with pytest.raises(HubConfigurationError, match="NNLAB_HUB_COURSE=course/exercises: give an absolute path"):
        hub_class("c", str(open_python))


def test_a_python_other_users_cannot_reach_is_refused_whether_its_folder_or_its_interpreter_is_closed(
        hub_settings, open_python):
    base = _open_folder()
    try:
        # a virtual environment in a closed folder, whose python leads to an open interpreter
        environment = base / "closed" / "env"
        (environment / "bin").mkdir(parents=True)
        (environment / "bin" / "python").symlink_to(open_python)
        os.chmod(base / "closed", 0o700)
        hub_settings.setenv("NNLAB_HUB_PYTHON", str(environment / "bin" / "python"))
        with pytest.raises(HubConfigurationError, match=re.escape(f"but {base / 'closed'} is closed to other users")):
            hub_class("c", str(open_python))
        # an open environment whose python leads into a closed folder
        os.chmod(base / "closed", 0o755)
        (base / "closed" / "interpreter").mkdir()
        shutil.copy(open_python, base / "closed" / "interpreter" / "python")
        os.chmod(base / "closed" / "interpreter", 0o700)
        (environment / "bin" / "python").unlink()
        (environment / "bin" / "python").symlink_to(base / "closed" / "interpreter" / "python")
        with pytest.raises(HubConfigurationError, match=re.escape(f"but {base / 'closed' / 'interpreter'} is closed")):
            hub_class("c", str(open_python))
    finally:
        shutil.rmtree(base)


def test_a_students_server_and_an_instructors_get_their_roles_environment(hub_settings, tmp_path, open_python):
    hub_settings.setenv("NNLAB_EXCHANGE", str(tmp_path / "exchange"))
    cls = hub_class("course-101", str(open_python))
    my_home = Path(pwd.getpwnam(ME).pw_dir)
    instructor = cls.server_environment(ME)
    assert instructor["JUPYTER_CONFIG_PATH"] == str(ROLE_CONFIG / "instructor")
    assert instructor["NNLAB_HUB_COURSE"] == str(my_home / "course" / "exercises")
    assert instructor["NNLAB_EXCHANGE"] == str(tmp_path / "exchange")
    assert instructor["NNLAB_HUB_COURSE_ID"] == "course-101"
    assert instructor["PATH"].split(os.pathsep)[0] == str(open_python.parent)
    student = cls.server_environment("a-student")
    assert student["JUPYTER_CONFIG_PATH"] == str(ROLE_CONFIG / "student")
    assert "NNLAB_HUB_COURSE" not in student  # a student's server has no course of the instructor's


def test_the_role_configurations_are_part_of_the_repository():
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    tracked = subprocess.run(["git", "-C", str(ROOT), "ls-files", "hub/jupyter"], capture_output=True, text=True).stdout
    for role in ("student", "instructor"):
        assert f"hub/jupyter/{role}/nbgrader_config.py" in tracked.split(), tracked
    assert "hub/jupyter/student/labconfig/page_config.json" in tracked.split(), tracked


def test_the_exchange_is_open_to_all_and_sticky_and_the_course_folder_is_the_instructors(tmp_path):
    exchange = tmp_path / "a" / "exchange"
    prepare_exchange(exchange)
    assert stat.S_IMODE(exchange.stat().st_mode) == 0o1777
    os.chmod(exchange, 0o700)
    prepare_exchange(exchange)  # a narrowed exchange is opened again (nbgrader refuses one that is not ugo+rwx)
    assert stat.S_IMODE(exchange.stat().st_mode) == 0o1777
    prepare_exchange(exchange, "course-101", owner=ME)
    for name, mode in {"": 0o755, "outbound": 0o755, "inbound": 0o2733, "feedback": 0o711}.items():
        folder = exchange / "course-101" / name
        assert stat.S_IMODE(folder.stat().st_mode) == mode and folder.stat().st_uid == os.getuid(), name
    if os.geteuid() == 0:  # a course folder someone else made first is refused, not used
        os.chown(exchange / "course-101", pwd.getpwnam("nobody").pw_uid, -1)
        with pytest.raises(HubConfigurationError, match="belongs to uid .*, not to the instructor"):
            prepare_exchange(exchange, "course-101", owner=ME)


def test_a_folder_closed_to_others_on_the_way_is_named():
    base = _open_folder()
    try:
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
    app = JupyterHub()
    app.load_config_file(str(RECIPE))
    config = app.config
    assert config.JupyterHub.authenticator_class == "pam"
    assert config.LocalAuthenticator.allowed_groups == {MY_GROUP}  # the students: the class's group
    assert config.Authenticator.allowed_users == {ME}  # and the instructors
    assert config.Authenticator.allow_existing_users is False  # leaving the group ends the access
    assert config.Spawner.cmd == [str(open_python), "-m", "jupyterhub.singleuser"]
    assert Path(config.ConfigurableHTTPProxy.command[0]) == ROOT / "hub" / "node_modules" / ".bin" / "configurable-http-proxy"
    # made when the hub starts: the exchange, and the course's folder, the first instructor's
    assert stat.S_IMODE((tmp_path / "exchange").stat().st_mode) == 0o1777
    from coursegrader.cli import default_course
    from coursegrader.course_config import course_id

    assert (tmp_path / "exchange" / course_id(default_course()) / "inbound").stat().st_uid == os.getuid()
    spawner = SimpleNamespace(user=SimpleNamespace(name=ME), environment={"KEPT": "1"})
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
    started = time.monotonic()
    cls = start_class(course, ASSIGNMENT)  # the instructor's course: this one's configuration and the assignment
    # three students through their servers' APIs; the fourth, later, in a browser
    students, browser_student = cls.students[:3], cls.students[3]
    seen = SimpleNamespace(cls=cls, students=students, browser_student=browser_student,
                           listed={}, fetched={}, validated={}, submitted={}, feedback={}, seconds={})

    def lap(step: str) -> None:  # where the cycle's time goes, printed with the test's output
        nonlocal started
        seen.seconds[step] = round(time.monotonic() - started, 1)
        started = time.monotonic()

    lap("the hub started")
    try:
        solver, idler, second_solver = students
        cls.start_server(cls.instructor)
        code, seen.hand_out = cls.terminal(cls.instructor, "cd ~/course/exercises && python -m coursegrader hand-out")
        assert code == 0, seen.hand_out[-3000:]
        lap("the instructor's server, hand-out")

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
            lap(f"{student}: server, fetch, validate, submit")

        code, seen.grading = cls.terminal(
            cls.instructor, "cd ~/course/exercises && python -m coursegrader grade --timeout 600 "
                            "&& python -m coursegrader return-feedback")
        assert code == 0, seen.grading[-4000:]
        lap("grade and return-feedback")
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
        lap("fetch feedback")
        print(f"the class's cycle, seconds: {seen.seconds}")
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
    # through the hub: the notebook its owner reads, another student's token cannot
    path = f"api/contents/{ASSIGNMENT}/{ASSIGNMENT}.ipynb"
    assert cls.on_server(solver, "GET", path).status_code == 200
    answer = cls.on_server(solver, "GET", path, as_user=idler)
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
    # nor remove or rename what the instructor handed out: the course's folder is the instructor's,
    # and the exchange's sticky bit keeps anyone else from moving it aside
    assert (course).stat().st_uid == pwd.getpwnam(cls.instructor).pw_uid
    assert cls.as_user(idler, "rm", "-rf", str(course / "outbound")).returncode != 0
    assert cls.as_user(idler, "mv", str(course), str(cls.exchange / "taken")).returncode != 0
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

        # an account of the machine outside the class's group is turned away at the login page
        outsider = browser.new_context().new_page()
        outsider.goto(f"{cls.url}/hub/login")
        outsider.fill("#username_input", cls.outsider)
        outsider.fill("#password_input", cls.password)
        outsider.click("#login_submit")
        outsider.wait_for_load_state()
        assert "/hub/login" in outsider.url and f"/user/{cls.outsider}" not in outsider.url, outsider.url
        browser.close()
    assert cls.hub_api("GET", f"users/{cls.outsider}").status_code == 404  # never let in
    assert cls.hub_api("GET", f"users/{student}").status_code == 200  # let in as a member of the class's group
    assert len(list(inbound.iterdir())) == handed_in + 1  # the submission made in the browser
    elsewhere = other_hosts(requests)
    assert not elsewhere, f"the hub's pages asked other hosts for {elsewhere}: a class without internet would miss it"
    assert not problems, problems
