"""The site's pages: nothing from another host, no console error, every part of a page in a landmark.

- Live code (thebe) is not offered by this course (no launch buttons), yet ``sphinx_thebe``,
  which Jupyter Book always loads, puts its configuration script on every page, twice (the
  second copy stops with "Identifier 'THEBE_JS_URL' has already been declared") along with
  the address of thebe on unpkg.com. Both scripts are left out of every page.
- The theme's primary sidebar (the course's title, the search button, the table of contents)
  is a plain ``div``: the title and the search button sit outside every landmark, which
  screen readers use to move around a page (axe-core's ``region`` rule). Each written page
  gets the sidebar marked as a labelled region.
"""
from __future__ import annotations

from pathlib import Path

THEBE_SCRIPT = "sphinx-thebe.js"
SIDEBAR = '<div id="pst-primary-sidebar" class="bd-sidebar-primary bd-sidebar">'
SIDEBAR_AS_REGION = ('<div id="pst-primary-sidebar" class="bd-sidebar-primary bd-sidebar" role="region" '
                     'aria-label="Course navigation">')


def _is_thebe(script) -> bool:
    body = str(getattr(script, "attributes", {}).get("body", ""))
    return str(getattr(script, "filename", "") or "").endswith(THEBE_SCRIPT) or "THEBE_JS_URL" in body


def _drop_thebe(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if scripts:
        context["script_files"] = [s for s in scripts if not _is_thebe(s)]


def _sidebar_as_region(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    for page in Path(app.outdir).rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        if SIDEBAR in text:
            page.write_text(text.replace(SIDEBAR, SIDEBAR_AS_REGION, 1), encoding="utf-8")


def setup(app):
    app.connect("html-page-context", _drop_thebe)
    app.connect("build-finished", _sidebar_as_region)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
