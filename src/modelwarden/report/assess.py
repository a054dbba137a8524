"""The summary of an `Assessment` every format shows first: a headline, one line per regime, the
questions a person must settle, and the reasons of each classification.

The renderers (`report/text.py`, `markdown.py`, `html.py`) and the drafts build on these, so the
three renderings say the same thing in the same words.
"""

from __future__ import annotations

from dataclasses import dataclass

from modelwarden.model import Assessment, Band, Classification, ParameterCount, RegimeResult

DISCLAIMER = (
    "Draft analysis, not legal advice. Answers marked 'needs review' turn on judgements the law leaves "
    "to people; every answer cites the provision that decides it."
)
WORDS = {
    Classification.YES: "yes",
    Classification.NO: "no",
    Classification.NEEDS_REVIEW: "needs review",
    Classification.INSUFFICIENT_DATA: "insufficient data",
}


def flop(x: float | None) -> str:
    return "—" if x is None else f"{x:.2e}".replace("e+", "e")


def band_text(b: Band | None) -> str:
    if b is None:
        return "insufficient data"
    if b.low == b.high:
        return f"{flop(b.central)} FLOP"
    return f"{flop(b.central)} FLOP (band {flop(b.low)} – {flop(b.high)})"


@dataclass
class Line:
    regime: str
    status: str  # "duties", "none", "review", "data", "not in force"
    text: str


def _summary_line(r: RegimeResult) -> Line:
    cls = ", ".join(f"{k.replace('_', ' ')}: {WORDS[v]}" for k, v in r.classification.items())
    settled = sum(1 for o in r.obligations if not o.conditional_on)
    pending = len(r.obligations) - settled
    # Future duties are listed with the rest (docs/assess.md, "Future duties"); the count says how many.
    later = sum(1 for o in r.obligations if o.status == "not_yet_in_force")
    ahead = f" ({later} not yet in force)" if later and r.in_force else ""
    if r.obligations and r.in_force and pending:
        status = "duties" if settled else "review"
        lead = f"{settled} obligation(s), {pending} more" if settled else f"{pending} obligation(s)"
        text = f"{lead} if the open questions are answered yes{ahead} — {cls}"
    elif r.obligations and r.in_force:
        status = "duties"
        text = f"{len(r.obligations)} obligation(s){ahead} — {cls}"
    elif r.obligations:
        status = "not in force"
        text = f"not in force on this date; {len(r.obligations)} obligation(s) once it applies — {cls}"
    elif any(v is Classification.NEEDS_REVIEW for v in r.classification.values()):
        status, text = "review", f"needs review — {cls}"
    elif any(v is Classification.INSUFFICIENT_DATA for v in r.classification.values()):
        status, text = "data", f"insufficient data — {cls}"
    else:
        status = "none" if r.in_force else "not in force"
        text = ("no obligations — " if r.in_force else "not in force on this date — ") + cls
    return Line(r.instrument, status, text)


def summary(a: Assessment) -> list[Line]:
    return [_summary_line(r) for r in a.regimes.values()]


def active_text(p: ParameterCount) -> str:
    """Active parameters both ways, the convention named (docs/compute.md "Active parameters")."""
    assert p.active is not None
    text = f"{p.active:,} active with the input embedding"
    if p.active_without_input_embedding is not None:
        text += f", {p.active_without_input_embedding:,} without"
    return text


def headline(a: Assessment) -> list[str]:
    c = a.compute
    params = None
    # The count every stage used (older records: the facts' own).
    p = a.parameters if a.parameters is not None else (a.facts.parameters if a.facts is not None else None)
    if p is not None and (p.total or p.active):
        where = "declared in the manifest" if p.source == "manifest" else f"counted from {p.source}"
        params = (f"{p.total:,} parameters" if p.total else "total parameters unknown") + (
            f" ({active_text(p)})" if p.active else ""
        )
        params += f", {where}"
        if p.disagreements:
            params += f"; the manifest disagrees ({len(p.disagreements)}, see warnings)"
        if c.parameters_used and c.parameters_used != (p.active or p.total):
            params += f"; N = {c.parameters_used:,} in the compute estimate"
    elif c.parameters_used:
        params = f"{c.parameters_used:,} parameters used for compute"
    out = [f"{a.subject.name} — assessed as of {a.as_of.isoformat()} (rules {a.ruleset_version})"]
    if params:
        out.append(params)
    if a.openness is not None and (a.openness.licence.name or a.openness.licence.text):
        lic = a.openness.licence
        out.append(f"licence: {lic.name or lic.text} [{lic.kind}]")
    via = f" via {c.method.replace('_', ' ')}" if c.training_flop is not None else ""
    out.append(f"training compute: {band_text(c.training_flop)}{via}")
    if c.cumulative_flop is not None and c.cumulative_flop != c.training_flop:
        out.append(f"cumulative compute: {band_text(c.cumulative_flop)}")
    calls = ", ".join(f"{k}: {v.value.replace('_', ' ')}" for k, v in c.thresholds.items())
    out.append(f"thresholds: {calls}")
    if a.scan is not None:
        worst = [f for f in a.scan.findings if f.severity.value in {"critical", "high", "medium"}]
        out.append(f"scan: {len(a.scan.files)} files, {len(worst)} finding(s) at medium or above")
    else:
        # Not scanned is not clean: say so wherever a scan result would stand.
        out.append("scan: not scanned" + (f" ({a.scan_skipped})" if a.scan_skipped else ""))
    return out


def reasons(r: RegimeResult) -> list[tuple[str, str]]:
    """Each classification with the explanation of the rule that decided it (from the trace)."""
    out = []
    for name in r.classification:
        step = next(
            (
                t
                for t in r.trace
                if (t.rule == name or t.rule.startswith(name + "[")) and t.result != "not evaluable"
            ),
            None,
        )
        out.append((name, (step.explanation or "") if step else ""))
    return out


def questions(a: Assessment) -> list[str]:
    qs = [f"{r.instrument}: {q}" for r in a.regimes.values() for q in r.needs_review]
    qs += [f"compute: {w}" for w in a.compute.warnings]
    return qs
