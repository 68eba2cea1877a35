"""The claims ledger: every claim of the source notes, where it is tested, and its verdict.

One data file, ``nnlab/claims.yml``, holds one row per claim. The chapters read it twice:
an experiment that decides a claim ends with ``settle(claim_id, verdict)``, which fails the
build when the ledger records another verdict, and the chapter's prose shows the verdict
with the ``{verdict}`` role, which prints the ledger's words. The appendix page is
generated from the same file. So a verdict cannot read one way in a chapter and another
in the ledger: there is only one copy of it.

A row (every key required, ``qualifier`` and ``section`` may be null)::

    - id: dropout-trains-faster
      claim: "Dropout makes training converge faster."
      sources: [section_tips]
      passage: "Dropout"
      chapter: dropout
      section: "3. \\"Dropout makes training faster\\""
      verdict: refuted
      qualifier: null
      finding: "Without dropout the MLP reaches the target accuracy first."

The file ships inside the package, so a chapter downloaded from the site and run elsewhere
finds it too.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

#: What an experiment can conclude, and ``not tested`` for a claim no experiment decides
#: (its ``finding`` then says why: too vague, needs a GPU or other data, or not written yet).
VERDICTS = ("confirmed", "refuted", "depends", "not decided", "not tested")
#: The source notes, by their keys in the book's bibliography (``book/references.bib``).
SOURCES = ("training_notes", "dnn_basics_notes", "microsoft_tricks", "cs231n_notes", "section_tips")
FIELDS = ("id", "claim", "sources", "passage", "chapter", "section", "verdict", "qualifier", "finding")
_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


@dataclass(frozen=True)
class Claim:
    """One row of the ledger."""

    id: str
    claim: str  # the claim in the course's words
    sources: tuple[str, ...]  # bibliography keys of the notes that make it
    passage: str  # where in those notes (section, language)
    chapter: str | None  # the chapter (book/<chapter>.md) that tests or discusses it
    section: str | None  # the heading of the section with the experiment; None if untested
    verdict: str  # one of VERDICTS
    qualifier: str | None  # shown after the verdict word ("on MNIST-1D", ": the formula is wrong")
    finding: str  # what the experiment showed, on what it depends, or why it is not tested

    @property
    def tested(self) -> bool:
        """Whether an experiment in a chapter decides this claim (a section and a verdict)."""
        return self.verdict != "not tested"

    @property
    def label(self) -> str:
        """The cross-reference target of the claim's verdict in its chapter."""
        return f"claim-{self.id}"

    @property
    def verdict_text(self) -> str:
        """The verdict as the prose shows it: ``refuted``, ``confirmed on MNIST-1D``,
        ``refuted: the formula is wrong`` (a qualifier may start with its own punctuation)."""
        if not self.qualifier:
            return self.verdict
        joint = "" if self.qualifier[0] in ",:;" else " "
        return f"{self.verdict}{joint}{self.qualifier}"

    def __repr__(self) -> str:
        return f"Claim({self.id!r}, {self.verdict_text!r})"


def _text(row: dict, key: str, where: str, optional: bool = False) -> str | None:
    value = row.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where}: '{key}' must be a non-empty string, got {value!r}")
    return value.strip()


def _claim(row: object, index: int) -> Claim:
    if not isinstance(row, dict):
        raise ValueError(f"row {index + 1}: a claim is a mapping of {', '.join(FIELDS)}; got {row!r}")
    where = f"row {index + 1} ({row.get('id', 'no id')})"
    missing = [key for key in FIELDS if key not in row]
    unknown = [key for key in row if key not in FIELDS]
    if missing or unknown:
        raise ValueError(f"{where}: missing keys {missing}, unknown keys {unknown}")
    claim_id = _text(row, "id", where)
    if not _ID.match(claim_id):
        raise ValueError(f"{where}: an id is lower-case words joined by '-', got {claim_id!r}")
    sources = row["sources"]
    if not isinstance(sources, list) or not sources or any(s not in SOURCES for s in sources):
        raise ValueError(f"{where}: 'sources' must list keys among {SOURCES}, got {sources!r}")
    verdict = _text(row, "verdict", where)
    if verdict not in VERDICTS:
        raise ValueError(f"{where}: verdict must be one of {VERDICTS}, got {verdict!r}")
    section = _text(row, "section", where, optional=True)
    chapter = _text(row, "chapter", where, optional=True)
    if verdict != "not tested" and (section is None or chapter is None):
        raise ValueError(f"{where}: a '{verdict}' verdict needs the chapter and section of its experiment")
    return Claim(
        id=claim_id,
        claim=_text(row, "claim", where),
        sources=tuple(sources),
        passage=_text(row, "passage", where),
        chapter=chapter,
        section=section,
        verdict=verdict,
        qualifier=_text(row, "qualifier", where, optional=True),
        finding=_text(row, "finding", where),
    )


def read_ledger(text: str) -> dict[str, Claim]:
    """Parse and check the ledger's YAML text; the claims by id, in the file's order."""
    import yaml  # installed with Jupyter Book; only the ledger needs it

    rows = yaml.safe_load(text)
    if not isinstance(rows, list) or not rows:
        raise ValueError("the ledger is a YAML list of claims, and it is empty or not a list")
    claims: dict[str, Claim] = {}
    for index, row in enumerate(rows):
        claim = _claim(row, index)
        if claim.id in claims:
            raise ValueError(f"row {index + 1}: the id {claim.id!r} is used twice")
        claims[claim.id] = claim
    return claims


def ledger_path() -> Path:
    """Where the course's ledger lies (inside the installed package)."""
    return Path(str(resources.files("nnlab") / "claims.yml"))


@lru_cache(maxsize=None)
def _ledger(path: str, mtime: float) -> dict[str, Claim]:
    return read_ledger(Path(path).read_text(encoding="utf-8"))


def load_ledger(path: str | Path | None = None) -> dict[str, Claim]:
    """The ledger's claims by id (the course's own file unless ``path`` is given)."""
    path = Path(path) if path is not None else ledger_path()
    return _ledger(str(path), path.stat().st_mtime)


def claim(claim_id: str, path: str | Path | None = None) -> Claim:
    """One claim of the ledger; an unknown id is a ``KeyError`` that names it."""
    claims = load_ledger(path)
    if claim_id not in claims:
        raise KeyError(f"the claims ledger has no claim {claim_id!r}: add its row to {path or ledger_path()}")
    return claims[claim_id]


def settle(claim_id: str, verdict: str, path: str | Path | None = None) -> Claim:
    """Record that the experiment just run (and asserted) decides ``claim_id`` as ``verdict``.

    Called by a chapter right after the asserts that back a verdict: it fails when the
    ledger, which the prose and the appendix print, records another verdict, so that the
    three cannot disagree. Returns the claim.
    """
    if verdict not in VERDICTS[:-1]:
        raise ValueError(f"an experiment settles a claim as one of {VERDICTS[:-1]}, got {verdict!r}")
    found = claim(claim_id, path)
    if found.verdict != verdict:
        raise ValueError(
            f"the experiment settles {claim_id!r} as {verdict!r}, but the claims ledger records "
            f"{found.verdict!r}: correct the ledger or the experiment, so that both say the same"
        )
    return found
