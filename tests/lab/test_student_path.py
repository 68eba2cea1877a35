"""A student's path through JupyterLab, in a real browser, ending in the instructor's grade.

`make lab`'s set-up (the assignments released to a local exchange, a student workspace that
knows it) serves a real JupyterLab on loopback; Debian's Chromium, driven by Playwright,
does what a student does: opens the Assignment List from the Nbgrader menu, fetches an
assignment, opens its notebook and runs its first cell, presses Validate (which fails on the
unsolved tasks and names the first one), types each answer (code, and the written verdict) into its cell and saves, validates
again (which passes) and submits. The instructor then collects and grades, as `make grade`
does: the submission that went through the browser scores full marks. Nothing JupyterLab
loads may come from another host: a student works offline too. A chapter, opened from the
workspace's `book/` link, is a notebook (jupytext) whose first cells run.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from jupyterlab_ui import cells_of, open_assignment_list, other_hosts, row_in_assignment_list, validate
from offline_chromium import CHROMIUM, FLAGS, MISSING

from coursegrader.cli import grade
from coursegrader.gradebook import cell_scores, max_cell_scores
from coursegrader.releasing import collect, prepare_lab

ROOT = Path(__file__).resolve().parents[2]
#: The assignment the student works on: short to validate and to grade.
ASSIGNMENT = "clipping"
#: The chapter opened as a notebook, and how many of its code cells are run (imports, first example).
CHAPTER, FIRST_CELLS = "initialization", 3
#: Seconds a step of the path may take before the test says which step hung (validation runs
#: the whole notebook in a kernel; a slow machine needs the room).
STEP_TIMEOUT_MS = 180_000

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason=f"{MISSING}: the student's path in JupyterLab needs it"),
    pytest.mark.skipif(importlib.util.find_spec("playwright") is None,
                       reason="Playwright is not installed (pip install -r requirements.txt)"),
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _answers(source: nbformat.NotebookNode) -> dict[int, str]:
    """{cell index: text} for every graded answer cell (code, and the written verdict), the instructor's
    solution without its markers."""
    answers = {}
    for index, cell in enumerate(source.cells):
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and not meta["grade_id"].startswith("challenge"):
            answers[index] = "\n".join(line for line in cell.source.splitlines()
                                       if not re.search(r"### (BEGIN|END) SOLUTION", line))
    assert answers, "the assignment has no answer cells"
    return answers


@pytest.fixture()
def lab(tmp_path, monkeypatch, released_course):
    """JupyterLab on loopback in a student workspace prepared as `make lab` prepares it."""
    course = tmp_path / "exercises"
    shutil.copytree(released_course, course)
    monkeypatch.setenv("NNLAB_EXCHANGE", str(tmp_path / "exchange"))
    monkeypatch.delenv("NNLAB_GRADEBOOK_URL", raising=False)
    workspace = prepare_lab(course, tmp_path / "student")
    (workspace / "book").symlink_to(ROOT / "book")  # as `make lab` links the chapters
    settings = tmp_path / "lab-settings"
    # no question about fetching Jupyter's news (there is no network to fetch it from), and the
    # settings `make lab` installs (lab/overrides.json), here as the user's own
    # every cell in the page, not only those scrolled into view, so the test can reach each one
    plugins = {"@jupyterlab/apputils-extension:notification": {"fetchNews": "false"},
               "@jupyterlab/notebook-extension:tracker": {"windowingMode": "none"},
               **json.loads((ROOT / "lab" / "overrides.json").read_text())}
    for plugin, values in plugins.items():
        package, name = plugin.split(":")
        (settings / package).mkdir(parents=True, exist_ok=True)
        (settings / package / f"{name}.jupyterlab-settings").write_text(json.dumps(values))
    port, token = _free_port(), "student-path-test"
    env = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(settings),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "lab-workspaces"), "NNLAB_PROGRESS": "0",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    log = (tmp_path / "jupyter.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={workspace}", "--ServerApp.port_retries=0",
         *(["--allow-root"] if os.geteuid() == 0 else [])],  # as `make lab` does in a container
        cwd=workspace, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=5):
                break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"JupyterLab did not start: {(tmp_path / 'jupyter.log').read_text()[-3000:]}")
            time.sleep(0.5)
    yield course, workspace, url, token
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
    log.close()


def _run(cell) -> None:
    """Run one cell as a student does (select it, Shift+Enter) and wait for its execution count."""
    page = cell.page
    # the kernel first: a key pressed while the notebook's session is still starting can be lost
    page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").first.wait_for()
    counted = re.compile(r"\[\d+\]")
    for attempt in range(2):
        cell.locator(".jp-InputArea-prompt").click()
        page.keyboard.press("Shift+Enter")
        deadline = time.monotonic() + STEP_TIMEOUT_MS / 2000
        while time.monotonic() < deadline:
            if counted.search(cell.locator(".jp-InputArea-prompt").inner_text()):
                return
            time.sleep(0.2)
    raise AssertionError("the cell never ran: no execution count after two Shift+Enter")


def test_a_student_fetches_runs_validates_solves_and_submits_in_jupyterlab_then_is_graded(lab):
    from playwright.sync_api import expect, sync_playwright

    course, workspace, url, token = lab
    source = nbformat.read(course / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    answers = _answers(source)
    notebook = workspace / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    requests, problems = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(STEP_TIMEOUT_MS)
        page.on("request", lambda request: requests.append(request.url))
        page.on("pageerror", lambda error: problems.append(f"uncaught error: {error}"))
        page.goto(f"{url}/lab?token={token}")

        # the Assignment List (Nbgrader menu) lists the released assignments; Fetch copies one over
        open_assignment_list(page)
        row_in_assignment_list(page, "released", ASSIGNMENT).locator(".item_status button").click()
        row_in_assignment_list(page, "fetched", ASSIGNMENT)
        assert notebook.is_file(), "Fetch did not put the notebook into the student's workspace"

        # open it and run its first code cell (the imports)
        page.goto(f"{url}/lab/tree/{ASSIGNMENT}/{ASSIGNMENT}.ipynb?token={token}")
        cells = cells_of(page, len(source.cells))
        first_code = next(i for i, cell in enumerate(source.cells) if cell.cell_type == "code")
        _run(cells.nth(first_code))
        expect(cells.nth(first_code).locator(".jp-OutputArea-output[data-mime-type*='error']")).to_have_count(0)

        # Validate with the tasks unsolved: it fails, and names the first task's failing test
        outcome, text = validate(page)
        first_task = source.cells[min(answers)].metadata["nbgrader"]["grade_id"]
        assert outcome == "error", f"Validate passed an unsolved notebook: {text}"
        assert first_task in text, f"Validate's report does not name {first_task}: {text[:2000]}"

        # the student writes each answer into its cell and saves; Validate then passes
        for index, code in answers.items():
            if source.cells[index].cell_type == "markdown":  # a rendered answer opens for editing on double-click
                cells.nth(index).locator(".jp-MarkdownOutput").dblclick()
            cells.nth(index).locator(".cm-content").fill(code)
        page.keyboard.press("Control+s")
        saved = nbformat.read(notebook, as_version=4)
        deadline = time.monotonic() + 30
        while any(saved.cells[i].source.strip() != code.strip() for i, code in answers.items()):
            assert time.monotonic() < deadline, "the answers typed into JupyterLab were not saved"
            time.sleep(0.5)
            saved = nbformat.read(notebook, as_version=4)
        outcome, text = validate(page)
        assert outcome == "success", f"Validate failed the solved notebook: {text[:2000]}"

        # Submit hands it in through the exchange
        open_assignment_list(page)
        row_in_assignment_list(page, "fetched", ASSIGNMENT).locator('.item_status button:text("Submit")').click()
        expect(row_in_assignment_list(page, "submitted", ASSIGNMENT)).to_be_visible()
        browser.close()

    elsewhere = other_hosts(requests)
    assert not elsewhere, f"JupyterLab asked other hosts for {elsewhere}: a student without internet would miss it"
    assert not problems, problems

    # the instructor's side, as `make grade` does it: collect, then grade; full marks
    [(student, assignment, status)] = collect(course)
    assert (assignment, status) == (ASSIGNMENT, "collected")
    outcomes = grade(course, timeout=600)
    assert [(o.student, o.status) for o in outcomes if o.assignment == ASSIGNMENT] == [(student, "graded")]
    scores, maxima = cell_scores(course, ASSIGNMENT), max_cell_scores(course, ASSIGNMENT)
    assert sum(maxima.values()) > 0 and scores[student] == maxima, scores[student]
    assert any((course / "feedback" / student / ASSIGNMENT).glob("*.html")), "no feedback for the submission"


def test_a_chapter_opens_in_jupyterlab_as_a_notebook_and_its_first_cells_run(lab):
    """`make lab` opens the chapters' MyST markdown as notebooks (jupytext): code cells that run."""
    import jupytext
    from playwright.sync_api import expect, sync_playwright

    _, _, url, token = lab
    chapter = jupytext.read(ROOT / "book" / f"{CHAPTER}.md")
    code = [i for i, cell in enumerate(chapter.cells) if cell.cell_type == "code"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(STEP_TIMEOUT_MS)
        page.goto(f"{url}/lab/tree/book/{CHAPTER}.md?token={token}")
        assert page.locator(".jp-FileEditor:visible").count() == 0, "the chapter opened as a text file, not a notebook"
        cells = cells_of(page, len(chapter.cells))
        assert "jp-CodeCell" in (cells.nth(code[0]).get_attribute("class") or ""), "the chapter's code is not in code cells"
        for index in code[:FIRST_CELLS]:
            _run(cells.nth(index))
            expect(cells.nth(index).locator(".jp-OutputArea-output[data-mime-type*='error']")).to_have_count(0)
        browser.close()
