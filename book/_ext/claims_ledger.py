"""The claims ledger in the book: the ``{verdict}`` role and the ``{claims-ledger}`` directive.

Both print ``nnlab/claims.yml`` (read by :mod:`nnlab.claims`), the file the chapters'
experiments ``settle`` against, so the verdict a chapter shows, the one its experiment
asserts and the one the appendix lists are the same words.

- ``{verdict}`claim-id``` in a chapter's prose prints "Verdict: refuted." (with the ledger's
  qualifier, if any) and marks the place as the claim's target, which the appendix links.
  The build warns (an error with ``-W``) when the role names an unknown claim or a claim
  the ledger does not call tested, when it stands outside the section the ledger names,
  or in another chapter; and when a tested claim's verdict is shown nowhere.
- The ``claims-ledger`` directive writes the appendix: counts per verdict and per source,
  then one table row per claim, in the order of the table of contents.
"""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from docutils import nodes
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

from nnlab.claims import SOURCES, VERDICTS, load_ledger

logger = logging.getLogger(__name__)

#: Chapters of the curriculum that are not written yet, by the stem the ledger gives them.
PLANNED: dict[str, str] = {}


def _verdict_nodes(doctree):
    return [node for node in doctree.findall(nodes.inline) if "claim_id" in node.attributes]


def _docname_of(chapter: str) -> str:
    return f"book/{chapter}"


def verdict_role(name, rawtext, text, lineno, inliner, options=None, content=None):
    env = inliner.document.settings.env
    claim_id = text.strip()
    claims = load_ledger()
    if claim_id not in claims:
        message = inliner.reporter.error(f"the claims ledger (nnlab/claims.yml) has no claim {claim_id!r}", line=lineno)
        return [inliner.problematic(rawtext, rawtext, message)], [message]
    claim = claims[claim_id]
    label = claim.label
    node = nodes.inline("", "", ids=[label], names=[label], classes=["claim-verdict"])
    node["claim_id"] = claim_id
    node += nodes.strong("", f"Verdict: {claim.verdict_text}.")
    inliner.document.note_explicit_target(node, node)
    env.note_dependency(str(Path(env.srcdir) / "nnlab" / "claims.yml"))
    return [node], []


def _check_placement(app, doctree) -> None:
    """Each verdict shown in its claim's chapter, inside the section the ledger names."""
    env = app.env
    claims = load_ledger()
    shown = env.claim_verdicts_shown if hasattr(env, "claim_verdicts_shown") else {}
    shown.pop(env.docname, None)
    for node in _verdict_nodes(doctree):
        claim = claims[node["claim_id"]]
        where = (env.docname, node.line)
        if not claim.tested:
            logger.warning(f"the verdict of {claim.id!r} is shown, but the ledger says 'not tested'", location=where)
        if _docname_of(claim.chapter or "") != env.docname:
            logger.warning(f"the verdict of {claim.id!r} belongs to the chapter {claim.chapter!r}", location=where)
        parent = node.parent
        while parent is not None and not isinstance(parent, nodes.section):
            parent = parent.parent
        title = _plain_quotes(parent[0].astext()) if parent is not None else ""
        # a heading's roles (a citation) print other text: compare the words before the first role
        expected = _plain_quotes((claim.section or "").split("{", 1)[0]).strip()
        if not title.startswith(expected) or not expected:
            logger.warning(
                f"the verdict of {claim.id!r} stands in the section {title!r}; the ledger says {claim.section!r}",
                location=where,
            )
        shown.setdefault(env.docname, set()).add(claim.id)
    env.claim_verdicts_shown = shown


def _merge(app, env, docnames, other) -> None:
    shown = getattr(env, "claim_verdicts_shown", {})
    shown.update(getattr(other, "claim_verdicts_shown", {}))
    env.claim_verdicts_shown = shown


def _purge(app, env, docname) -> None:
    getattr(env, "claim_verdicts_shown", {}).pop(docname, None)


def _check_every_verdict_shown(app, env) -> None:
    shown = set().union(*getattr(env, "claim_verdicts_shown", {}).values())
    for claim in load_ledger().values():
        if claim.tested and claim.id not in shown:
            logger.warning(
                f"the claim {claim.id!r} is {claim.verdict!r} in the ledger, but no chapter shows its verdict "
                f"(add {{verdict}}`{claim.id}` to the section {claim.section!r} of book/{claim.chapter}.md)"
            )


def _plain_quotes(text: str) -> str:
    # Sphinx prints the headings' straight quotes as typographic ones
    return text.translate(str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'"}))


def _escape(title: str) -> str:
    # a ref's explicit title is plain text: a heading's roles (a citation) are left out, and
    # the angle brackets that delimit the target are escaped
    plain = re.sub(r"\{[^}]+\}`[^`]*`", "", title).replace("`", "")
    return " ".join(plain.split()).replace("<", "\\<").replace(">", "\\>")


class ClaimsLedgerDirective(SphinxDirective):
    """The appendix: every claim of the source notes, its verdict and where it is tested."""

    has_content = False

    def run(self):
        claims = load_ledger()
        self.env.note_dependency(str(Path(self.env.srcdir) / "nnlab" / "claims.yml"))
        rank = {chapter: i for i, chapter in enumerate(self._toc_order())}
        rows = sorted(claims.values(), key=lambda c: (rank.get(c.chapter or "", len(rank)), c.chapter or ""))
        verdicts = Counter(c.verdict for c in claims.values())
        per_source = Counter(s for c in claims.values() for s in c.sources)
        lines = [
            f"The ledger holds **{len(claims)} claims**: "
            + ", ".join(f"{verdicts[v]} {v}" for v in VERDICTS if verdicts[v]) + ". "
            + "Claims per source note: "
            + "; ".join(f"{{cite:t}}`{s}` {per_source[s]}" for s in SOURCES) + ".",
            "",
            "```{list-table}",
            ":header-rows: 1",
            ":widths: 30 18 12 28 12",
            ":class: claims-ledger",
            "",
            "* - Claim",
            "  - Source",
            "  - Verdict",
            "  - Finding",
            "  - Tested in",
        ]
        for claim in rows:
            cited = ", ".join(f"{{cite:t}}`{s}`" for s in claim.sources)
            if claim.tested:
                where = f"{{doc}}`{claim.chapter}`: {{ref}}`{_escape(claim.section)} <{claim.label}>`"
            elif claim.chapter and claim.chapter in PLANNED:
                where = f"*{PLANNED[claim.chapter]}* (to come)"
            elif claim.chapter:
                where = f"{{doc}}`{claim.chapter}`"
            else:
                where = "—"
            lines += [
                f"* - {claim.claim}",
                f"  - {cited}: {claim.passage}",
                f"  - **{claim.verdict_text}**",
                f"  - {claim.finding}",
                f"  - {where}",
            ]
        lines.append("```")
        container = nodes.container(classes=["claims-ledger"])
        self.state.nested_parse(self._string_list(lines), self.content_offset, container)
        return [container]

    def _toc_order(self) -> list[str]:
        import yaml

        toc = yaml.safe_load((Path(self.env.srcdir) / "_toc.yml").read_text())
        files = [chapter["file"] for part in toc.get("parts", []) for chapter in part.get("chapters", [])]
        return [f.removeprefix("book/") for f in files]

    @staticmethod
    def _string_list(lines):
        from docutils.statemachine import StringList

        return StringList(lines, source="nnlab/claims.yml")


def setup(app):
    app.add_role("verdict", verdict_role)
    app.add_directive("claims-ledger", ClaimsLedgerDirective)
    app.connect("doctree-read", _check_placement)
    app.connect("env-merge-info", _merge)
    app.connect("env-purge-doc", _purge)
    app.connect("env-check-consistency", _check_every_verdict_shown)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "env_version": 1}
