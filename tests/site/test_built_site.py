"""The built site (`_build/html`), read as files: self-contained, its downloads valid, its
images described, its internal links whole, its headings in order.

Run by `make test` after the book is built (``NNLAB_CHECK_SITE=1 pytest tests/site``); the
main test run leaves this folder out, as the site does not exist yet when it starts.
"""
from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "_build" / "html"
pytestmark = pytest.mark.skipif(not (SITE / "index.html").is_file(), reason="the site is not built (make book)")


class Page(HTMLParser):
    """What a page loads (scripts, stylesheets, images, fonts), where it links, and its ids."""

    def __init__(self):
        super().__init__()
        self.loads: list[tuple[str, str]] = []
        self.links: list[str] = []
        self.images: list[dict] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if "id" in attributes:
            self.ids.add(attributes["id"])
        if tag == "script" and attributes.get("src"):
            self.loads.append(("script", attributes["src"]))
        elif tag == "link" and attributes.get("href") and set((attributes.get("rel") or "").split()) & {"stylesheet", "preload", "icon"}:
            self.loads.append(("link", attributes["href"]))
        elif tag == "img":
            self.loads.append(("img", attributes.get("src", "")))
            self.images.append(attributes)
        elif tag == "a" and attributes.get("href"):
            self.links.append(attributes["href"])


def _pages() -> list[Path]:
    return sorted(p for p in SITE.rglob("*.html") if "_static" not in p.parts and "_sources" not in p.parts)


def _parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


#: Pages of the site that teach no experiment: the exercises, the guides for students and
#: instructors, the claims ledger, the sources.
NOT_CHAPTERS = ("book/exercises", "book/for_students", "book/for_instructors", "book/claims_ledger", "book/sources")


def _chapters() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [c["file"] for part in toc["parts"] for c in part["chapters"] if c["file"] not in NOT_CHAPTERS]


def test_every_page_loads_only_what_the_site_itself_serves():
    # A reader offline (or behind a firewall) sees the same page: no script, stylesheet, font or image from another host.
    pages = _pages()
    assert len(pages) >= len(_chapters()) + 3
    foreign = [(page.relative_to(SITE), kind, url) for page in pages for kind, url in _parse(page).loads
               if urlsplit(url).scheme or url.startswith("//")]
    assert not foreign, f"pages load from other hosts: {foreign[:5]}"


def test_mathjax_is_served_from_the_site_with_its_fonts():
    page = _parse(SITE / "book" / "gradient_checking.html")
    scripts = [url for kind, url in page.loads if kind == "script" and "mathjax" in url.lower()]
    assert scripts, "the chapter with maths loads no MathJax"
    for url in scripts:
        assert (SITE / "book" / urlsplit(url).path).resolve().is_file(), url
    assert any((SITE / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff"))
    text = (SITE / "book" / "gradient_checking.html").read_text(encoding="utf-8")
    assert r"\frac{f(x + h e_i) - f(x - h e_i)}{2h}" in text  # the TeX is there for MathJax to render


def test_every_image_exists_and_has_alt_text():
    missing_alt, missing_file = [], []
    for path in _pages():
        page = _parse(path)
        for image in page.images:
            src = image.get("src", "")
            if not image.get("alt", "").strip():
                missing_alt.append((path.name, src))
            if not (path.parent / unquote(urlsplit(src).path)).is_file():
                missing_file.append((path.name, src))
    assert not missing_alt, f"images without alt text: {missing_alt[:5]}"
    assert not missing_file, f"images that do not exist: {missing_file[:5]}"


def test_internal_links_and_their_anchors_resolve():
    broken = []
    parsed: dict[Path, Page] = {}
    for path in _pages():
        for href in _parse(path).links:
            parts = urlsplit(href)
            if parts.scheme or href.startswith(("mailto:", "//")):
                continue
            target = (path.parent / unquote(parts.path)).resolve() if parts.path else path
            if not target.exists():
                broken.append((path.name, href))
                continue
            if parts.fragment and target.suffix == ".html":
                ids = parsed.setdefault(target, _parse(target)).ids
                if unquote(parts.fragment) not in ids:
                    broken.append((path.name, href))
    assert not broken, f"broken internal links: {broken[:8]}"


def _downloads(page: Path) -> list[Path]:
    return [(page.parent / unquote(urlsplit(href).path)).resolve() for href in _parse(page).links if "_downloads/" in href]


#: The chapters the curriculum pairs with no assignment.
CHAPTERS_WITHOUT_AN_EXERCISE = ("book/introduction", "book/losses_and_curves", "book/batch_size",
                                "book/hyperparameter_search", "book/architecture", "book/recipe")


@pytest.mark.parametrize("chapter", _chapters())
def test_every_chapter_offers_its_notebook_and_its_exercise(chapter):
    downloads = _downloads(SITE / f"{chapter}.html")
    names = {p.name for p in downloads}
    assert f"{Path(chapter).name}.ipynb" in names, f"{chapter} does not offer itself as a notebook"
    for path in downloads:
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
        assert notebook.cells
    if chapter not in CHAPTERS_WITHOUT_AN_EXERCISE:
        assert len(downloads) == 2, f"{chapter} should offer its exercise notebook too"


def test_exercise_downloads_are_the_students_version():
    page = SITE / "book" / "exercises.html"
    exercises = _downloads(page)
    assignments = sorted(p.name for p in (ROOT / "exercises" / "source").iterdir() if p.is_dir())
    assert sorted(p.stem for p in exercises) == assignments
    for path in exercises:
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
        text = "\n".join(cell.source for cell in notebook.cells)
        for secret in ("### BEGIN SOLUTION", "### BEGIN HIDDEN TESTS", "Rubric for graders", "*Model answer.*"):
            assert secret not in text, f"{path.name} holds {secret!r}"
        solutions = [c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code"]
        assert solutions and all("raise NotImplementedError()" in c.source for c in solutions), path.name


def _article_headings(path: Path) -> list[int]:
    """The heading levels of a page's article, in order (the theme's print-only copy of the
    title and its "Contents" block lie outside it and are hidden on screen)."""
    text = path.read_text(encoding="utf-8")
    start = text.find('<article class="bd-article"')
    article = text[start:text.find("</article>", start)] if start >= 0 else ""
    return [int(level) for level in re.findall(r"<h([1-6])\b", article)]


def test_every_page_has_one_title_and_headings_in_order():
    # a screen reader lists a page by its headings: one h1, and no level skipped on the way down
    problems = {}
    for path in _pages():
        if path.name in ("genindex.html", "search.html") or path == SITE / "index.html":
            continue  # Sphinx's index and search pages, and the redirect to the first page
        levels = _article_headings(path)
        skipped = [(a, b) for a, b in zip(levels, levels[1:]) if b > a + 1]
        if levels[:1] != [1] or levels.count(1) != 1 or skipped:
            problems[str(path.relative_to(SITE))] = levels
    assert len(_pages()) > 10 and not problems, f"headings out of order (levels in page order): {problems}"


def test_the_bibliography_lists_every_source_and_the_chapters_cite_into_it():
    entries = len(re.findall(r"^@\w+\{", (ROOT / "book" / "references.bib").read_text(), flags=re.M))
    sources = (SITE / "book" / "sources.html").read_text(encoding="utf-8")
    assert entries > 10 and sources.count('class="citation"') == entries, "the sources page does not list every source"
    citing = [name for name in _chapters() if "{cite" in (ROOT / f"{name}.md").read_text()]
    assert len(citing) > 10
    # where each citation leads is checked with the other internal links
    silent = [name for name in citing if 'href="sources.html#' not in (SITE / f"{name}.html").read_text(encoding="utf-8")]
    assert not silent, f"chapters whose citations do not link to the bibliography: {silent}"


#: Sphinx prints straight quotes as typographic ones
TYPOGRAPHIC_QUOTES = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'"})


def test_the_claims_ledger_lists_every_claim_and_links_each_verdict_to_its_chapter():
    from nnlab.claims import load_ledger

    claims = load_ledger()
    page = (SITE / "book" / "claims_ledger.html").read_text(encoding="utf-8")
    body = page[page.index("<tbody>"):page.index("</tbody>")]
    assert body.count("<tr") == len(claims), "the appendix does not have one row per claim"
    links = set(_parse(SITE / "book" / "claims_ledger.html").links)
    for claim in claims.values():
        if claim.tested:
            # the verdict shown in the chapter is the ledger's, at the target the appendix links
            assert f"{claim.chapter}.html#{claim.label}" in links, f"the appendix does not link {claim.id}"
            chapter = (SITE / "book" / f"{claim.chapter}.html").read_text(encoding="utf-8")
            shown = re.search(rf'id="{re.escape(claim.label)}"><strong>Verdict: ([^<]*)\.</strong>', chapter)
            assert shown, f"{claim.chapter}.html does not show the verdict of {claim.id}"
            printed = html.unescape(shown.group(1)).translate(TYPOGRAPHIC_QUOTES)
            assert printed == claim.verdict_text, (claim.id, printed, claim.verdict_text)
