"""Markdown renderings: an assessment, summary first, then each regime with its citations and trace."""

from __future__ import annotations

from modelwarden.model import Assessment
from modelwarden.report.assess import DISCLAIMER, WORDS, headline, questions, summary
from modelwarden.untrusted.text import document


def assessment_markdown(a: Assessment) -> str:
    """The assessment as one Markdown document (summary first, then each regime and its trace)."""
    lines = [f"# {headline(a)[0]}", ""]
    lines += [f"- {x}" for x in headline(a)[1:]]
    lines += ["", "## Summary", ""]
    lines += [f"- **{line.regime}**: {line.text}" for line in summary(a)]
    qs = questions(a)
    if qs:
        lines += ["", "## Questions a person must settle", ""] + [f"- {q}" for q in qs]
    for r in a.regimes.values():
        lines += [
            "",
            f"## {r.instrument}",
            "",
            f"In force on {a.as_of.isoformat()}: {'yes' if r.in_force else 'no'}",
            "",
        ]
        lines += [f"- {k.replace('_', ' ')}: **{WORDS[v]}**" for k, v in r.classification.items()]
        if r.obligations:
            lines += ["", "| Obligation | Citation | Applies from | Deadline / note |", "|---|---|---|---|"]
            for o in r.obligations:
                when = "; ".join(filter(None, [o.deadline, o.note])).replace("|", "\\|")
                lines.append(
                    f"| `{o.id}` {o.title} | {o.citation.article} | {o.applies_from or ''} | {when} |"
                )
        for e in r.exemptions:
            lines.append(
                f"\nExempt: `{e.id}` {e.title} ({e.citation.article}) removes {', '.join(e.removes)}"
            )
        if r.notes:
            lines += [""] + [f"> {n}" for n in r.notes]
        lines += ["", "<details><summary>Trace</summary>", ""]
        lines += [f"- `{t.rule}` → {t.result}: {t.explanation or ''}" for t in r.trace]
        lines += ["", "</details>"]
    lines += ["", "## Compute", "", f"Method: {a.compute.method}", ""]
    lines += [f"- {f.value} ({f.provenance.describe()})" for f in a.compute.assumptions]
    lines += ["", f"_{DISCLAIMER}_", ""]
    return document("\n".join(lines))
