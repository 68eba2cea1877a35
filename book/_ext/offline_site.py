"""No script for live code (thebe) on the site's pages: nothing from another host, no console error.

- Live code (thebe) is not offered by this course (no launch buttons), yet ``sphinx_thebe``,
  which Jupyter Book always loads, puts its configuration script on every page, twice (the
  second copy stops with "Identifier 'THEBE_JS_URL' has already been declared") along with
  the address of thebe on unpkg.com. Both scripts are left out of every page.
"""
from __future__ import annotations

THEBE_SCRIPT = "sphinx-thebe.js"


def _is_thebe(script) -> bool:
    body = str(getattr(script, "attributes", {}).get("body", ""))
    return str(getattr(script, "filename", "") or "").endswith(THEBE_SCRIPT) or "THEBE_JS_URL" in body


def _drop_thebe(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if scripts:
        context["script_files"] = [s for s in scripts if not _is_thebe(s)]


def setup(app):
    app.connect("html-page-context", _drop_thebe)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
