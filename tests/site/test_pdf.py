"""The whole book as a PDF (`make pdf`: the single-page build printed by Chromium, offline).

Run by `make test` after the forced build, which makes the PDF where Chromium is installed.
The PDF opens, has the length of the whole book, holds every chapter's title in the order of
the table of contents, shows typeset maths rather than TeX source, and the site's first page
links it.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from offline_chromium import CHROMIUM, MISSING

ROOT = Path(__file__).resolve().parents[2]
PDF = ROOT / "_build" / "html" / "book.pdf"

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason=f"{MISSING}: make pdf prints the book with it")


def _titles() -> list[str]:
    """Every page's first heading, in the order of the table of contents."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]] + [chapter["file"] for part in toc["parts"] for chapter in part["chapters"]]
    titles = []
    for name in files:
        heading = next(line for line in (ROOT / f"{name}.md").read_text().splitlines() if line.startswith("# "))
        titles.append(heading[2:].strip())
    return titles


@pytest.fixture(scope="module")
def text() -> str:
    from pypdf import PdfReader

    assert PDF.is_file(), "no _build/html/book.pdf: `make pdf` did not run or failed"
    reader = PdfReader(PDF)
    assert len(reader.pages) > 100, f"the whole book in {len(reader.pages)} pages?"
    return "\n".join(page.extract_text() or "" for page in reader.pages)


def test_the_pdf_holds_every_chapter_in_order(text):
    # each title as a heading: lines of its own (a large title may wrap), not a word in a sentence
    position = 0
    for title in _titles():
        heading = re.compile(r"^[ \t]*" + r"\s+".join(map(re.escape, title.split())) + r"[ \t]*$", re.M)
        found = heading.search(text, position)
        assert found, f"{title!r} is not a heading in the PDF (or not after the chapter before it)"
        position = found.end()


def test_the_pdfs_maths_is_typeset_not_tex_source(text):
    for source in (r"\frac", r"\sqrt", r"\operatorname", "$$"):
        assert source not in text, f"TeX source {source!r} left in the PDF"
    assert "Glorot" in text and "Var" in text  # the initialization chapter and its equations are there


def test_the_sites_first_page_links_the_pdf():
    # the site's first page is its root chapter, book/index.html; the PDF is at the top of the site
    index = (ROOT / "_build" / "html" / "book" / "index.html").read_text()
    assert 'href="../book.pdf"' in index, "the first page does not offer the PDF"


def test_long_code_lines_are_wrapped_not_cut_at_the_margin(text):
    # the longest line of code in a chapter, wider than an A4 page holds; a cut line loses its end
    source = (ROOT / "book" / "batchnorm.md").read_text()
    cells = re.findall(r"```\{code-cell\}[^\n]*\n(.*?)```", source, flags=re.S)
    longest = max((line for cell in cells for line in cell.splitlines() if not line.startswith(("---", "mystnb", "  "))),
                  key=len)
    assert len(longest) > 100
    squeezed = re.sub(r"\s+", "", text)
    assert re.sub(r"\s+", "", longest) in squeezed, f"cut in the PDF: {longest!r}"
