"""Evaluate rule files "as of" a date, recording which condition decided each answer.

Generic by design: everything about an instrument lives in its YAML file. Classification rules are
tried in order and the first whose condition is true decides; a condition that cannot be evaluated
(a fact it compares is unknown) is recorded in the trace and skipped. Obligations are listed when the
classifications they require are `yes`, or marked conditional when one of them still needs review.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import cel

from modelwarden.model import Citation, Classification, Exemption, Obligation, RegimeResult, TraceStep
from modelwarden.rules.loader import CitationSpec, Compiled, NoteSpec, ObligationSpec, RuleSet

# The words the notes use for each addressee (loader.Addressee).
_ADDRESSEE = {
    "model_provider": "provider of the model",
    "system_provider": "provider of an AI system built on the model (its model provider if it offers one)",
    "developer": "developer of the model",
    "deployer": "deployer (whoever uses the model or system)",
    "service_provider": "provider of the public service built on the model",
}


@dataclass
class _Env:
    """One assessment's facts as CEL values, and the values of fact-only expressions already computed
    (the same condition appears in several files: ~40% of evaluations, benchmarks/assess_bench.py)."""

    ctx: cel.Context
    memo: dict[str, tuple[Any, str | None]] = field(default_factory=dict)


def _run(compiled: Compiled, expr: str, env: _Env) -> tuple[Any, str | None]:
    pure = expr in compiled.pure
    if pure and expr in env.memo:
        return env.memo[expr]
    out: tuple[Any, str | None]
    try:
        out = compiled.programs[expr].execute(env.ctx), None
    except (TypeError, KeyError, ValueError, RuntimeError) as exc:
        out = None, str(exc).splitlines()[0][:160]
    if pure:
        env.memo[expr] = out
    return out


def _citation(spec: CitationSpec, compiled: Compiled) -> Citation:
    return Citation(
        instrument=spec.instrument or compiled.spec.instrument,
        article=spec.article,
        url=spec.url or compiled.spec.url,
    )


def _classify(compiled: Compiled, ctx: _Env, cls: dict[str, str], result: RegimeResult) -> None:
    for name, rules in compiled.spec.classifications.items():
        decided = False
        for i, rule in enumerate(rules):
            value, error = _run(compiled, rule.when, ctx)
            if error is not None:
                result.trace.append(
                    TraceStep(
                        rule=f"{name}[{i}]",
                        expression=rule.when,
                        result="not evaluable",
                        explanation=f"a fact it needs is unknown ({error})",
                    )
                )
                continue
            if value is not True:
                continue
            cls[name] = rule.result
            cite = f" [{rule.cite.article}]" if rule.cite else ""
            detail = _detail(compiled, rule.detail, ctx, result, f"{name}[{i}].detail")
            result.trace.append(
                TraceStep(
                    rule=f"{name}[{i}]",
                    expression=rule.when,
                    result=rule.result,
                    explanation=rule.because + detail + cite,
                )
            )
            if rule.result == "needs_review" and rule.question:
                result.needs_review.append(f"{name}: {rule.question}{detail}")
            decided = True
            break
        if not decided:
            cls[name] = Classification.INSUFFICIENT_DATA.value
            result.trace.append(
                TraceStep(
                    rule=f"{name}", result="insufficient_data", explanation="no rule matched the known facts"
                )
            )
        result.classification[name] = Classification(cls[name])


def _detail(compiled: Compiled, expr: str | None, ctx: _Env, result: RegimeResult, where: str) -> str:
    """The facts that decided a rule (" (a, b)"), or "" when there are none."""
    if expr is None:
        return ""
    value, error = _run(compiled, expr, ctx)
    if error is not None:
        result.trace.append(TraceStep(rule=where, expression=expr, result="not evaluable", explanation=error))
        return ""
    items = (
        [str(v) for v in value] if isinstance(value, list | tuple) else [] if value is None else [str(value)]
    )
    return f" ({', '.join(items)})" if items else ""


def _requirements(requires: Mapping[str, str], cls: Mapping[str, Classification]) -> tuple[bool, list[str]]:
    """(listed?, classifications still needing review)."""
    pending: list[str] = []
    for name in requires:
        got = cls.get(name)
        if got is Classification.YES:
            continue
        if got is Classification.NEEDS_REVIEW:
            pending.append(name)
            continue
        return False, []
    return True, pending


def _text(compiled: Compiled, expr: str | None, ctx: _Env, result: RegimeResult, where: str) -> str | None:
    if expr is None:
        return None
    value, error = _run(compiled, expr, ctx)
    if error is not None:
        result.trace.append(TraceStep(rule=where, expression=expr, result="not evaluable", explanation=error))
        return None
    return None if value is None else str(value)


def _obligation(
    compiled: Compiled, o: ObligationSpec, ctx: _Env, result: RegimeResult, as_of: dt.date
) -> Obligation | None:
    listed, pending = _requirements(o.requires, result.classification)
    if not listed:
        return None
    if o.when is not None:
        value, error = _run(compiled, o.when, ctx)
        if error is not None:
            pending.append(f"condition {o.when!r} could not be evaluated")
        elif value is not True:
            return None
    for n in o.open_if:
        value, error = _run(compiled, n.when, ctx)
        if error is not None or value is True:
            pending.append(n.text)  # an unknown fact the duty turns on: listed, conditional on it
    applies = _text(compiled, o.applies_from, ctx, result, f"{o.id}.applies_from")
    notes = _notes(compiled, o.notes, ctx, result, f"{o.id}.notes")
    if pending:
        notes.append(f"conditional: owed only if confirmed (needs review): {'; '.join(pending)}")
    start = dt.date.fromisoformat(applies) if applies else None
    # Future duties (docs/assess.md): every duty not yet applicable on the as-of date is listed with the
    # date it applies from and status "not_yet_in_force", whether the duty or the whole instrument starts
    # later; `applies_from` is never earlier than the instrument's own start.
    eff_start = compiled.spec.effective.from_
    if start is None or start < eff_start:
        start = eff_start
    status: Literal["in_force", "not_yet_in_force"] = "in_force"
    if start > as_of:
        status = "not_yet_in_force"
        notes.append(f"not yet applicable on {as_of.isoformat()} (applies from {start.isoformat()})")
    if o.applies_to is not None:
        notes.insert(0, f"owed by the {_ADDRESSEE[o.applies_to]}")
    return Obligation(
        id=o.id,
        title=o.title,
        citation=_citation(o.citation, compiled),
        applies_from=start,
        deadline=_text(compiled, o.deadline, ctx, result, f"{o.id}.deadline"),
        note="; ".join(notes) or None,
        conditional_on=pending,
        applies_to=o.applies_to,
        status=status,
    )


def _notes(
    compiled: Compiled,
    specs: Sequence[str | NoteSpec],
    ctx: _Env,
    result: RegimeResult,
    where: str = "notes",
) -> list[str]:
    """Plain notes always; conditional notes when their condition holds (dates, facts)."""
    notes: list[str] = []
    for i, n in enumerate(specs):
        if not isinstance(n, NoteSpec):
            notes.append(n)
            continue
        value, error = _run(compiled, n.when, ctx)
        if error is not None:
            result.trace.append(
                TraceStep(rule=f"{where}[{i}]", expression=n.when, result="not evaluable", explanation=error)
            )
        elif value is True:
            notes.append(n.text)
    return notes


def evaluate_instrument(
    compiled: Compiled, context: _Env, cls: dict[str, str], as_of: dt.date
) -> RegimeResult:
    """Evaluate one instrument; `cls` is the map the context's `cls_` function reads (filled here)."""
    cls.clear()
    spec = compiled.spec
    eff = spec.effective
    in_force = eff.from_ <= as_of and (eff.until is None or as_of < eff.until)
    result = RegimeResult(id=spec.id, instrument=spec.instrument, in_force=in_force)
    result.trace.append(
        TraceStep(
            rule="effective",
            result="in force" if in_force else "not in force",
            explanation=f"applies from {eff.from_.isoformat()}"
            + (f" until {eff.until.isoformat()}" if eff.until else "")
            + f"; as of {as_of.isoformat()}",
        )
    )
    _classify(compiled, context, cls, result)
    result.notes = _notes(compiled, spec.notes, context, result)
    expired = eff.until is not None and as_of >= eff.until
    if expired:
        return result  # a revoked instrument imposes nothing; the trace says why
    obligations = [
        ob for o in spec.obligations if (ob := _obligation(compiled, o, context, result, as_of)) is not None
    ]
    removed: set[str] = set()
    maybe: dict[str, list[str]] = {}  # obligation id -> exemptions that may remove it once reviewed
    for e in spec.exemptions:
        listed, pending = _requirements(e.requires, result.classification)
        if listed and not pending:
            result.exemptions.append(
                Exemption(id=e.id, title=e.title, citation=_citation(e.citation, compiled), removes=e.removes)
            )
            removed |= set(e.removes)
        elif listed:
            # The exemption turns on a question still open: say so on each duty it would switch off, so
            # that a duty is never shown as certain while a pending answer could remove it.
            for oid in e.removes:
                maybe.setdefault(oid, []).append(f"{e.id} ({', '.join(pending)} needs review)")
    result.obligations = [o for o in obligations if o.id not in removed]
    for o in result.obligations:
        if o.id in maybe:
            extra = "an exemption may remove this duty: " + "; ".join(maybe[o.id])
            o.note = "; ".join(filter(None, [o.note, extra]))
    return result


def evaluate(rules: RuleSet, ctx: dict[str, Any], as_of: dt.date) -> dict[str, RegimeResult]:
    """All instruments as of a date. The facts become CEL values once; decisions are read back
    through `cls_` (see loader._CLS)."""
    cls: dict[str, str] = {}
    context = cel.Context(variables=ctx)
    context.add_function("cls_", lambda name: cls.get(name))
    env = _Env(context)
    return {c.spec.id: evaluate_instrument(c, env, cls, as_of) for c in rules.instruments}
