"""What a student does in JupyterLab's nbgrader interface, for the tests that drive it in Chromium
(the student's path in a local JupyterLab, and on JupyterHub)."""
from __future__ import annotations

import re
import time
from urllib.parse import urlsplit


def other_hosts(requests: list[str]) -> list[str]:
    """The hosts other than loopback that a page asked for (a student without internet would miss them)."""
    return sorted({urlsplit(r).hostname for r in requests if urlsplit(r).scheme in ("http", "https", "ws", "wss")}
                  - {"127.0.0.1"})


def open_assignment_list(page) -> None:
    """Nbgrader > Assignment List, and wait for its list of released assignments."""
    page.locator('#jp-menu-panel div.lm-MenuBar-itemLabel:text("Nbgrader")').click()
    page.locator('#jp-mainmenu-nbgrader li[data-command="nbgrader:open-assignment-list"]').click()
    page.locator("#released_assignments_list").wait_for()


def row_in_assignment_list(page, listing: str, name: str):
    """The row of ``name`` in one of the Assignment List's lists (released, fetched, submitted)."""
    row = page.locator(f"#{listing}_assignments_list > .list_item").filter(
        has=page.locator(".item_name", has_text=re.compile(rf"^\s*{name}\s*$")))
    row.first.wait_for()
    return row.first


def validate(page) -> tuple[str, str]:
    """Press Validate on the open notebook; 'success' or 'error', from the dialog nbgrader shows."""
    page.locator("jp-button.validate-button").click()
    dialog = page.locator(".nbgrader-SuccessDialog, .nbgrader-ErrorDialog")
    dialog.first.wait_for()
    outcome = "success" if page.locator(".nbgrader-SuccessDialog").count() else "error"
    text = dialog.first.inner_text()
    dialog.first.locator("button.jp-Dialog-button").first.click()
    return outcome, text


def cells_of(page, expected: int):
    """The open notebook's cells, once all ``expected`` of them are on the page."""
    cells = page.locator(".jp-NotebookPanel:visible .jp-Notebook .jp-Cell")
    cells.first.wait_for()
    deadline = time.monotonic() + 30
    while cells.count() != expected and time.monotonic() < deadline:  # cells render in batches
        time.sleep(0.2)
    assert cells.count() == expected, f"JupyterLab shows {cells.count()} cells of {expected}"
    return cells
