"""The claims ledger: its parser and ``settle`` (against hand-made ledgers), then the course's
own ledger against the chapters (every tested claim settled by its experiment and shown in
its section; no verdict in a chapter that the ledger does not hold)."""
import re
from pathlib import Path

import pytest
import yaml

from nnlab import claims
from nnlab.claims import SOURCES, VERDICTS, load_ledger, read_ledger, settle

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"

ROW = {
    "id": "dropout-trains-faster",
    "claim": "Dropout makes training faster.",
    "sources": ["microsoft_tricks"],
    "passage": "Dropout (Nigerian Pidgin)",
    "chapter": "dropout",
    "section": "3. Faster?",
    "verdict": "refuted",
    "qualifier": None,
    "finding": "Without dropout the target is reached first.",
}


def ledger_text(*rows: dict) -> str:
    return yaml.safe_dump(list(rows), sort_keys=False)


def test_a_row_becomes_a_claim_with_its_label_and_verdict_text():
    found = read_ledger(ledger_text(ROW, {**ROW, "id": "other", "qualifier": "on MNIST-1D", "verdict": "confirmed"}))
    assert list(found) == ["dropout-trains-faster", "other"]
    assert found["dropout-trains-faster"].label == "claim-dropout-trains-faster"
    assert found["dropout-trains-faster"].verdict_text == "refuted"
    assert found["other"].verdict_text == "confirmed on MNIST-1D"
    formula = read_ledger(ledger_text({**ROW, "qualifier": ": the formula is wrong"}))["dropout-trains-faster"]
    assert formula.verdict_text == "refuted: the formula is wrong"
    assert found["other"].tested


@pytest.mark.parametrize(
    "change, message",
    [
        ({"verdict": "maybe"}, "verdict must be one of"),
        ({"sources": ["a_blog"]}, "'sources' must list keys"),
        ({"sources": []}, "'sources' must list keys"),
        ({"id": "Dropout Faster"}, "lower-case words"),
        ({"finding": " "}, "'finding' must be a non-empty string"),
        ({"section": None}, "needs the chapter and section"),
        ({"chapter": None}, "needs the chapter and section"),
        ({"colour": "red"}, "unknown keys ['colour']"),
    ],
)
def test_a_bad_row_is_refused_with_a_message_naming_the_problem(change, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        read_ledger(ledger_text({**ROW, **change}))


def test_a_missing_key_an_empty_ledger_and_a_doubled_id_are_refused():
    with pytest.raises(ValueError, match=re.escape("missing keys ['finding']")):
        read_ledger(ledger_text({k: v for k, v in ROW.items() if k != "finding"}))
    with pytest.raises(ValueError, match="empty or not a list"):
        read_ledger("")
    with pytest.raises(ValueError, match="used twice"):
        read_ledger(ledger_text(ROW, ROW))


def test_an_untested_claim_needs_no_section_but_a_reason():
    untested = read_ledger(ledger_text({**ROW, "section": None, "verdict": "not tested"}))["dropout-trains-faster"]
    assert not untested.tested
    with pytest.raises(ValueError, match="'finding'"):
        read_ledger(ledger_text({**ROW, "section": None, "verdict": "not tested", "finding": None}))


def test_settle_agrees_with_the_ledger_or_fails_naming_both_verdicts(tmp_path):
    path = tmp_path / "claims.yml"
    path.write_text(ledger_text(ROW))
    assert settle("dropout-trains-faster", "refuted", path=path).id == "dropout-trains-faster"
    with pytest.raises(ValueError, match="settles 'dropout-trains-faster' as 'confirmed'.*records 'refuted'"):
        settle("dropout-trains-faster", "confirmed", path=path)
    with pytest.raises(KeyError, match="no claim 'dropout-is-magic'"):
        settle("dropout-is-magic", "confirmed", path=path)
    with pytest.raises(ValueError, match="settles a claim as one of"):
        settle("dropout-trains-faster", "not tested", path=path)


def test_an_edited_ledger_is_read_again(tmp_path):
    path = tmp_path / "claims.yml"
    path.write_text(ledger_text(ROW))
    assert load_ledger(path)["dropout-trains-faster"].verdict == "refuted"
    path.write_text(ledger_text({**ROW, "verdict": "confirmed", "finding": "edited"}))
    import os

    os.utime(path, ns=(1, 1))  # a new mtime even on a coarse clock
    assert load_ledger(path)["dropout-trains-faster"].verdict == "confirmed"


# --- the course's ledger and its chapters -------------------------------------------------

LEDGER = load_ledger()
CHAPTERS = {path.stem: path.read_text(encoding="utf-8") for path in BOOK.glob("*.md")}
ROLE = re.compile(r"\{verdict\}`([^`]+)`")
SETTLE = re.compile(r"""claims\.settle\(\s*["']([^"']+)["']\s*,\s*["']([^"']+)["']""")


def headings(text: str) -> list[str]:
    return [line.lstrip("#").strip() for line in text.splitlines() if re.match(r"#{1,6} ", line)]


def test_the_ledger_ships_with_the_package_and_covers_every_source_note():
    assert claims.ledger_path().is_file()
    per_source = {source: [c for c in LEDGER.values() if source in c.sources] for source in SOURCES}
    assert all(per_source.values()), f"source notes without a claim: {[s for s, c in per_source.items() if not c]}"


@pytest.mark.parametrize("claim_id", [c.id for c in LEDGER.values() if c.tested])
def test_a_tested_claim_is_settled_and_shown_in_the_section_the_ledger_names(claim_id):
    claim = LEDGER[claim_id]
    text = CHAPTERS.get(claim.chapter)
    assert text is not None, f"{claim_id}: the ledger names book/{claim.chapter}.md, which does not exist"
    assert claim.section in headings(text), f"{claim_id}: book/{claim.chapter}.md has no heading {claim.section!r}"
    settled = [verdict for found, verdict in SETTLE.findall(text) if found == claim_id]
    assert settled == [claim.verdict], (
        f"{claim_id}: book/{claim.chapter}.md must settle it once, as {claim.verdict!r}, after the asserts "
        f"of its experiment; found {settled}"
    )
    assert claim_id in ROLE.findall(text), f"{claim_id}: book/{claim.chapter}.md does not show its verdict"


def test_an_untested_claim_says_why():
    for claim in LEDGER.values():
        if not claim.tested:
            assert len(claim.finding.split()) >= 4, f"{claim.id}: say why it is not tested"


def test_every_verdict_in_a_chapter_comes_from_the_ledger():
    for stem, text in CHAPTERS.items():
        assert "**Verdict" not in text, f"book/{stem}.md types a verdict: show the ledger's with {{verdict}}`id`"
        for claim_id in ROLE.findall(text):
            assert claim_id in LEDGER, f"book/{stem}.md shows {claim_id!r}, which the ledger lacks"
        for claim_id, verdict in SETTLE.findall(text):
            assert claim_id in LEDGER, f"book/{stem}.md settles {claim_id!r}, which the ledger lacks"
            assert verdict in VERDICTS


def test_the_verdict_vocabulary_is_what_the_appendix_explains():
    appendix = CHAPTERS["claims_ledger"]
    for verdict in VERDICTS:
        assert f"\n{verdict}\n: " in appendix, f"the appendix does not explain {verdict!r}"
