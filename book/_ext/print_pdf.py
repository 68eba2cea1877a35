"""The whole book as one PDF: the single-page HTML build, printed by Chromium.

    python book/_ext/print_pdf.py                       # _build/singlehtml -> _build/html/book.pdf
    python book/_ext/print_pdf.py --site DIR --out FILE

`make pdf` (and `make book`, where Chromium is installed) first builds the single page
(``jupyter-book build --builder singlehtml``, from the execution cache, so no chapter runs
again), then runs this. The PDF lands in the site, which links it from its first page. The
page is served on loopback and every other host is unreachable for the browser, so the PDF
is made offline, with the maths typeset by the MathJax the site itself serves. Chromium is
Debian's (``make browser-deps``), driven by Playwright; LaTeX is not needed.

Exits with an error naming the problem when Chromium is missing, the single page was not
built, MathJax did not finish, or the page asked another host for anything.
"""
from __future__ import annotations

import argparse
import functools
import http.server
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit

from offline_chromium import CHROMIUM, FLAGS, MISSING

ROOT = Path(__file__).resolve().parents[2]
# the root of _toc.yml, where the single-page build puts the whole book
ROOT_PAGE = "book/index.html"
# wait until MathJax has typeset the page (it loads after the page's load event)
TYPESET = """async () => {
    for (let i = 0; i < 1200 && !(window.MathJax && MathJax.startup && MathJax.startup.promise); i++)
        await new Promise(resolve => setTimeout(resolve, 50));
    if (!(window.MathJax && MathJax.startup)) return false;
    await MathJax.startup.promise;
    return true;
}"""
PRINT_CSS = "pre, .highlight pre, .output pre { white-space: pre-wrap !important; overflow-wrap: anywhere; }"
FOOTER = ('<div style="font-size: 8px; width: 100%; text-align: center; color: #555;">'
          '<span class="pageNumber"></span> / <span class="totalPages"></span></div>')


class _BookHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the build folder, with the book's single page at the top (``/book.html``): the
    page was written to ``book/index.html`` but its links (``_static/``, ``_images/``) are
    relative to the top of the build."""

    def translate_path(self, path):
        if path.split("?", 1)[0] == "/book.html":
            return str(Path(self.directory) / ROOT_PAGE)
        return super().translate_path(path)

    def log_message(self, *args):
        pass


def print_book(site: Path, out: Path, chromium: str | None = None) -> Path:
    """Print the single page of ``site`` (a single-page build) to ``out``; returns ``out``.

    Jupyter Book's ``index.html`` only redirects to the root chapter's page, which holds the book."""
    from playwright.sync_api import sync_playwright

    chromium = chromium or CHROMIUM
    if chromium is None:
        raise FileNotFoundError(MISSING)
    if not (site / ROOT_PAGE).is_file():
        raise FileNotFoundError(f"no single-page build in {site}: run `jupyter-book build --builder singlehtml .`")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_BookHandler, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    elsewhere: list[str] = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=FLAGS)
            page = browser.new_page()
            page.on("request", lambda request: urlsplit(request.url).scheme in ("http", "https")
                    and urlsplit(request.url).hostname != "127.0.0.1" and elsewhere.append(request.url))
            page.goto(f"http://127.0.0.1:{server.server_address[1]}/book.html", wait_until="load")
            if not page.evaluate(TYPESET):
                raise RuntimeError("MathJax did not load: the PDF would show raw TeX")
            page.emulate_media(media="print")
            # on paper a long code line cannot scroll: wrap it instead of cutting it at the margin
            page.add_style_tag(content=PRINT_CSS)
            out.parent.mkdir(parents=True, exist_ok=True)
            # no outline (bookmarks): Chromium writes some headings into it twice, joined across line breaks
            page.pdf(path=str(out), format="A4", print_background=False, display_header_footer=True,
                     header_template="<span></span>", footer_template=FOOTER,
                     margin={"top": "18mm", "bottom": "18mm", "left": "16mm", "right": "16mm"})
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
    if elsewhere:
        raise RuntimeError(f"the single page asked other hosts for {sorted(set(elsewhere))}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", type=Path, default=ROOT / "_build" / "singlehtml")
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "html" / "book.pdf")
    args = parser.parse_args()
    try:
        out = print_book(args.site, args.out)
    except (FileNotFoundError, RuntimeError) as error:
        sys.exit(f"error: {error}")
    print(f"The book as a PDF: {out} ({out.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
