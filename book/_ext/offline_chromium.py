"""Debian's Chromium, headless, with every host but loopback unreachable.

One definition for everything that drives the browser: the PDF printer (``print_pdf.py``)
and the tests of the site and of the student's path in JupyterLab. A page that needs the
internet fails to load what it asked for, so the tests see it; Playwright's own browser
download is never used.
"""
from __future__ import annotations

import shutil

#: The browser's path, or None where it is not installed.
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
#: Launch flags: no sandbox (containers run as root), no background traffic, no DNS but loopback.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]
#: What to do about a missing browser.
MISSING = "Chromium is not installed (make browser-deps, or apt-get install chromium)"
