"""The built site (`_build/html`) in a real browser: Chromium, driven by Playwright, on a
server on this machine's loopback, with every other host unreachable.

Every page loads without a console error, a failed request or a request to another host;
its images load and its maths is typeset by the MathJax the site serves itself. The search
finds a chapter, dark mode switches, and axe-core finds no accessibility problem above "minor" on
the key pages in either mode. Screenshots of the key pages are written to
``_build/screenshots/`` for a reviewer.

Chromium is Debian's (`make test` installs it with apt-get where it can); Playwright's own
browser download is never used. Without Chromium these tests are skipped with a message.
"""
from __future__ import annotations

import functools
import http.server
import importlib.util
import json
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from offline_chromium import CHROMIUM, FLAGS, MISSING

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "_build" / "screenshots"
#: The pages a reader meets first, checked for accessibility and photographed.
KEY_PAGES = {"landing": "book/index.html", "chapter": "book/initialization.html", "exercises": "book/exercises.html"}
#: A term only one chapter explains, and that chapter.
SEARCH = ("Glorot", "book/initialization.html")
# axe-core's rules that a page may not break at these impacts (only "minor" findings may remain)
FAILING_IMPACTS = ("moderate", "serious", "critical")

pytestmark = [
    pytest.mark.skipif(not (SITE / "index.html").is_file(), reason="the site is not built (make book)"),
    pytest.mark.skipif(CHROMIUM is None, reason=f"{MISSING}: the site's browser tests need it"),
    pytest.mark.skipif(importlib.util.find_spec("playwright") is None,
                       reason="Playwright is not installed (pip install -r requirements.txt)"),
]


#: Jupyter Book's top page only redirects to the first chapter page (a meta refresh and nothing
#: else); the browser leaves it at once, so it is checked by its own test, not among the pages.
REDIRECT = "index.html"


def _pages() -> list[str]:
    return sorted(str(p.relative_to(SITE)) for p in SITE.rglob("*.html")
                  if "_static" not in p.parts and "_sources" not in p.parts and p != SITE / REDIRECT)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # the test reports what went wrong, not every request
        pass


@pytest.fixture(scope="module")
def site_url():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(SITE)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    # this run's summary starts empty: no finding of an earlier run is left in it
    (SCREENSHOTS / "summary.json").unlink(missing_ok=True)

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()


TYPESET = """async () => {
    if (!document.querySelector('script[src*="mathjax" i]')) return false;
    for (let i = 0; i < 600 && !(window.MathJax && MathJax.startup && MathJax.startup.promise); i++)
        await new Promise(resolve => setTimeout(resolve, 50));
    await MathJax.startup.promise;
    return true;
}"""


class Visit:
    """One page opened in a fresh context, with everything it asked for and everything that went wrong."""

    def __init__(self, browser, url: str, dark: bool = False):
        self.context = browser.new_context(viewport={"width": 1280, "height": 900},
                                           color_scheme="dark" if dark else "light")
        self.page = self.context.new_page()
        self.requests: list[str] = []
        self.problems: list[str] = []
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.on("requestfailed", lambda request: self.problems.append(f"failed request {request.url}: {request.failure}"))
        self.page.on("response", lambda response: response.status >= 400 and self.problems.append(
            f"HTTP {response.status} for {response.url}"))
        self.page.on("console", lambda message: message.type == "error" and self.problems.append(
            f"console error: {message.text} ({message.location.get('url', '')})"))
        self.page.on("pageerror", lambda error: self.problems.append(f"uncaught error: {error}"))
        self.page.goto(url, wait_until="load")
        # MathJax, on the pages that load it, typesets after the load event: wait until it is
        # done (on a page that redirects, e.g. the site's root, on the page it lands on)
        for attempt in range(3):
            try:
                self.page.evaluate(TYPESET)
                break
            except Exception as error:  # noqa: BLE001 - only a navigation is retried
                if "context was destroyed" not in str(error) or attempt == 2:
                    raise
                self.page.wait_for_load_state("load")

    def elsewhere(self) -> list[str]:
        """Requests to any host but loopback (data: and blob: URLs stay in the page)."""
        return [u for u in self.requests if urlsplit(u).scheme not in ("data", "blob", "about")
                and urlsplit(u).hostname != "127.0.0.1"]

    def close(self) -> None:
        self.context.close()


@pytest.fixture(scope="module")
def visits(browser, site_url):
    """Every page of the site, visited once: {page: (requests, problems, images, maths)}."""
    seen = {}
    for name in _pages():
        visit = Visit(browser, site_url + name)
        images = visit.page.evaluate(
            "() => Array.from(document.images).map(i => [i.getAttribute('src'), i.complete && i.naturalWidth > 0])")
        maths = visit.page.evaluate("""() => Array.from(document.querySelectorAll('.math')).map(
            m => [m.textContent.slice(0, 60), m.querySelector('mjx-container') !== null])""")
        seen[name] = (visit.requests, visit.problems, visit.elsewhere(), images, maths)
        visit.close()
    return seen


def test_the_sites_address_leads_to_the_first_page(browser, site_url):
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(site_url + REDIRECT)
        page.wait_for_url(site_url + "book/index.html")
        page.wait_for_load_state("load")
        assert page.locator("article h1").first.inner_text().startswith("Training neural networks by experiment")
    finally:
        context.close()


def _record(name: str, value) -> None:
    """A line of the reviewer's summary, ``_build/screenshots/summary.json``, next to the screenshots."""
    path = SCREENSHOTS / "summary.json"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    summary = json.loads(path.read_text()) if path.is_file() else {}
    summary[name] = value
    path.write_text(json.dumps(summary, indent=1, sort_keys=True))


def test_every_page_loads_without_errors_and_only_from_loopback(visits):
    _record("pages", {"visited": len(visits), "requests": sum(len(found[0]) for found in visits.values()),
                      "requests_off_loopback": sum(len(found[2]) for found in visits.values()),
                      "problems": sum(len(found[1]) for found in visits.values())})
    assert len(visits) >= 10, sorted(visits)
    problems = {page: found[1] for page, found in visits.items() if found[1]}
    assert not problems, problems
    elsewhere = {page: found[2] for page, found in visits.items() if found[2]}
    assert not elsewhere, f"pages asked another host than loopback: {elsewhere}"
    assert sum(len(found[0]) for found in visits.values()) > len(visits)  # the pages did load what they need


def test_every_image_loads(visits):
    broken = {page: [src for src, loaded in found[3] if not loaded] for page, found in visits.items()}
    assert not {page: srcs for page, srcs in broken.items() if srcs}


def test_maths_is_typeset_by_the_sites_own_mathjax(visits):
    with_maths = {page: found[4] for page, found in visits.items() if found[4]}
    assert "book/initialization.html" in with_maths, "a chapter with equations shows none"
    raw = {page: [text for text, typeset in maths if not typeset] for page, maths in with_maths.items()}
    assert not {page: texts for page, texts in raw.items() if texts}, "maths left as raw TeX"
    mathjax = [u for found in visits.values() for u in found[0] if "mathjax" in u.lower()]
    assert mathjax and all(urlsplit(u).hostname == "127.0.0.1" for u in mathjax)


def test_search_finds_the_chapter_that_explains_a_term(browser, site_url):
    term, chapter = SEARCH
    visit = Visit(browser, f"{site_url}search.html?q={term}")
    try:
        visit.page.wait_for_selector("#search-results li a", timeout=30_000)
        hits = visit.page.eval_on_selector_all("#search-results li a", "links => links.map(a => a.getAttribute('href'))")
        assert any(chapter in (href or "") for href in hits), hits
        assert not visit.problems and not visit.elsewhere()
    finally:
        visit.close()


def _theme(page) -> str:
    return page.evaluate("() => document.documentElement.dataset.theme")


def _background_luminance(page) -> float:
    rgb = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    red, green, blue = [int(v) for v in rgb[rgb.index("(") + 1:rgb.index(")")].split(",")[:3]]
    return (0.2126 * red + 0.7152 * green + 0.0722 * blue) / 255


def test_dark_mode_switches_and_both_modes_are_photographed(browser, site_url):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    visit = Visit(browser, site_url + KEY_PAGES["chapter"])
    try:
        page = visit.page
        assert _theme(page) == "light" and _background_luminance(page) > 0.8
        for _ in range(3):  # the switch cycles through its modes
            if _theme(page) == "dark":
                break
            page.click(".theme-switch-button")
        assert _theme(page) == "dark"
        page.wait_for_timeout(300)  # the colours change with a transition
        assert _background_luminance(page) < 0.3
        page.screenshot(path=str(SCREENSHOTS / "chapter-dark.png"))
        assert not visit.problems
    finally:
        visit.close()
    for label, name in KEY_PAGES.items():
        visit = Visit(browser, site_url + name)
        try:
            visit.page.screenshot(path=str(SCREENSHOTS / f"{label}.png"), full_page=label != "chapter")
        finally:
            visit.close()
    for label in [*KEY_PAGES, "chapter-dark"]:
        assert (SCREENSHOTS / f"{label}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", label


def _axe_script() -> Path:
    spec = importlib.util.find_spec("axe_playwright_python")
    if spec is None or spec.origin is None:
        pytest.skip("axe-core is not installed (pip install -r requirements.txt)")
    return Path(spec.origin).parent / "axe.min.js"


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
@pytest.mark.parametrize("label", sorted(KEY_PAGES))
def test_key_pages_have_no_accessibility_violation_above_minor(browser, site_url, label, dark):
    visit = Visit(browser, site_url + KEY_PAGES[label], dark=dark)
    try:
        page = visit.page
        if dark:
            page.evaluate("() => { document.documentElement.dataset.mode = 'dark'; document.documentElement.dataset.theme = 'dark'; }")
            page.wait_for_timeout(300)
            assert _background_luminance(page) < 0.3
        page.add_script_tag(path=str(_axe_script()))
        result = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
        serious = [f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:5]}"
                   for v in result["violations"] if v["impact"] in FAILING_IMPACTS]
        _record(f"axe {label} {'dark' if dark else 'light'}",
                {"passes": len(result["passes"]), "violations": sorted(f"{v['id']} ({v['impact']})" for v in result["violations"])})
        assert not serious, "\n".join(serious)
        assert len(result["passes"]) > 10, "axe-core ran too few of its rules"
    finally:
        visit.close()


def test_a_chapters_downloads_arrive_in_the_browser_as_notebooks(browser, site_url, tmp_path):
    """Clicking a chapter's two download links saves its notebook and the students' exercise notebook."""
    import nbformat

    visit = Visit(browser, site_url + KEY_PAGES["chapter"])
    try:
        links = visit.page.locator("a.reference.download")
        assert links.count() == 2, "a chapter offers itself and its exercise as downloads"
        saved = {}
        for index in range(links.count()):
            link = links.nth(index)
            with visit.page.expect_download() as arrival:
                link.click()
            download = arrival.value
            assert download.failure() is None, download.failure()
            path = tmp_path / f"{index}-{download.suggested_filename}"
            download.save_as(path)
            saved[link.inner_text().strip()] = path
        assert not visit.problems and not visit.elsewhere()
    finally:
        visit.close()
    for text, path in saved.items():
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
        assert path.suffix == ".ipynb" and any(cell.cell_type == "code" for cell in notebook.cells), text
    [exercise] = [path for text, path in saved.items() if "exercise" in text]
    released = exercise.read_text()
    for marker in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS"):
        assert marker not in released, f"the students' download contains {marker!r}"
    assert "NotImplementedError" in released, "the students' download should hold the unsolved tasks"
