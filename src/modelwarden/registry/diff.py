"""Compare two recorded assessments and say what changed.

Typically two versions of one release (or the same release re-assessed with a newer rule set or on a
later date): files, parameters, licence, openness components, findings, compute and threshold calls,
regime classifications and obligations. Each change is a record with a sentence for people.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from modelwarden.model import Assessment, Band, ComponentEvidence, Finding, RegimeResult
from modelwarden.registry.records import StoredAssessment
from modelwarden.registry.summary import AssessmentSummary, remaining_obligations

SECTIONS = (
    "release",
    "files",
    "parameters",
    "licence",
    "openness",
    "findings",
    "compute",
    "thresholds",
    "regimes",
    "obligations",
)


class ChangeKind(StrEnum):
    """How an item differs between two assessments."""

    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"


class Change(BaseModel):
    """One difference between two assessments."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    section: str
    """One of SECTIONS."""
    item: str
    """What changed: "total", a file path, a component id, "eu_ai_act/eu.art55", ..."""
    kind: ChangeKind
    """Added, removed or changed."""
    before: str | None = None
    """The value in the first assessment, as text."""
    after: str | None = None
    """The value in the second assessment, as text."""
    message: str
    """The difference in words."""


class Diff(BaseModel):
    """What changed from assessment `a` to assessment `b`."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    a: AssessmentSummary
    """The earlier (first) assessment."""
    b: AssessmentSummary
    """The later (second) assessment."""
    same_model: bool
    """Whether both assess the same model (name and version)."""
    changes: list[Change]
    """Every difference, grouped by section in the order of SECTIONS."""

    def by_section(self) -> dict[str, list[Change]]:
        """The changes grouped by section, every section present."""
        grouped: dict[str, list[Change]] = {s: [] for s in SECTIONS}
        for change in self.changes:
            grouped.setdefault(change.section, []).append(change)
        return {s: c for s, c in grouped.items() if c}


def compare(
    a: StoredAssessment,
    b: StoredAssessment,
    *,
    files: tuple[Mapping[str, str], Mapping[str, str]] | None = None,
    max_file_changes: int | None = None,
) -> Diff:
    """What changed from `a` to `b`. `files`: each side's file map (`file_map`), when the documents
    were read without their whole file lists; `max_file_changes`: list at most that many file
    changes, then one line counting the rest (a view of two 200,000-file releases stays small)."""
    x, y = a.assessment, b.assessment
    before, after = files if files is not None else (_file_hashes(x), _file_hashes(y))
    changes = _file_changes(before, after)
    if max_file_changes is not None and len(changes) > max_file_changes:
        rest = len(changes) - max_file_changes
        changes = changes[:max_file_changes]
        changes.append(
            Change(
                section="files",
                item="…",
                kind=ChangeKind.CHANGED,
                message=f"… and {rest:,} more file changes (the registry's CLI lists them all)",
            )
        )
    changes = [*_release(x, y), *changes]
    for section in (
        _parameters,
        _licence,
        _openness,
        _findings,
        _compute,
        _thresholds,
        _regimes,
        _obligations,
    ):
        changes.extend(section(x, y))
    return Diff(a=a.summary, b=b.summary, same_model=a.summary.name == b.summary.name, changes=changes)


# ---------------------------------------------------------------------------------------- helpers


def _show(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(_show(v)) for v in value) or "none"
    return str(value)


def _value(section: str, item: str, label: str, before: Any, after: Any) -> list[Change]:
    """One change when a single value differs (None = absent)."""
    if before == after:
        return []
    b, a = _show(before), _show(after)
    if before is None:
        return [Change(section=section, item=item, kind=ChangeKind.ADDED, after=a, message=f"{label}: {a}")]
    if after is None:
        return [
            Change(
                section=section,
                item=item,
                kind=ChangeKind.REMOVED,
                before=b,
                message=f"{label}: no longer {b}",
            )
        ]
    return [
        Change(
            section=section,
            item=item,
            kind=ChangeKind.CHANGED,
            before=b,
            after=a,
            message=f"{label}: {b} → {a}",
        )
    ]


def _mapping(
    section: str,
    before: Mapping[str, str],
    after: Mapping[str, str],
    *,
    added: str,
    removed: str,
    changed: str,
) -> list[Change]:
    """Changes between two keyed collections of display strings; messages are templates over
    `{key}`, `{before}` and `{after}`."""
    out: list[Change] = []
    for key in sorted(before.keys() | after.keys()):
        b, a = before.get(key), after.get(key)
        if b == a:
            continue
        if b is None:
            out.append(
                Change(
                    section=section,
                    item=key,
                    kind=ChangeKind.ADDED,
                    after=a,
                    message=added.format(key=key, after=a),
                )
            )
        elif a is None:
            out.append(
                Change(
                    section=section,
                    item=key,
                    kind=ChangeKind.REMOVED,
                    before=b,
                    message=removed.format(key=key, before=b),
                )
            )
        else:
            out.append(
                Change(
                    section=section,
                    item=key,
                    kind=ChangeKind.CHANGED,
                    before=b,
                    after=a,
                    message=changed.format(key=key, before=b, after=a),
                )
            )
    return out


def _count_change(label: str, item: str, before: int | None, after: int | None) -> list[Change]:
    changes = _value("parameters", item, label, before, after)
    if changes and before and after:
        ratio = after / before
        # Percentages for modest changes; a factor when a percentage would round to ±100% or explode.
        changes[0].message += f" ({(ratio - 1) * 100:+.1f}%)" if 0.5 < ratio < 2 else f" (×{ratio:.3g})"
    return changes


def _band(band: Band | None) -> str | None:
    if band is None:
        return None
    return f"{band.central:.3g} FLOP ({band.low:.3g}–{band.high:.3g})"


def _fact(value: Any) -> Any:
    return None if value is None else value.value


# ---------------------------------------------------------------------------------------- sections


def _release(x: Assessment, y: Assessment) -> list[Change]:
    s = "release"
    return [
        *_value(s, "name", "model", x.subject.name, y.subject.name),
        *_value(s, "version", "version", x.subject.version, y.subject.version),
        *_value(s, "as_of", "as-of date", x.as_of.isoformat(), y.as_of.isoformat()),
        *_value(s, "tool_version", "modelwarden version", x.tool_version, y.tool_version),
        *_value(s, "ruleset_version", "rule-set version", x.ruleset_version, y.ruleset_version),
    ]


def _file_hashes(a: Assessment) -> dict[str, str]:
    found = dict(a.subject.file_hashes)
    for f in a.facts.files if a.facts else []:
        found.setdefault(f.path, f.sha256 or f"{f.size:,} bytes")
    return found


def file_map(document: Mapping[str, Any]) -> dict[str, str]:
    """`_file_hashes` of a document as plain JSON values (no record validation)."""
    subject = document.get("subject") if isinstance(document.get("subject"), dict) else {}
    facts = document.get("facts") if isinstance(document.get("facts"), dict) else {}
    hashes = subject.get("file_hashes") if isinstance(subject, dict) else None
    found = {str(k): str(v) for k, v in hashes.items()} if isinstance(hashes, dict) else {}
    for f in facts.get("files") or [] if isinstance(facts, dict) else []:
        if isinstance(f, dict) and isinstance(f.get("path"), str):
            size = f.get("size")
            found.setdefault(f["path"], f.get("sha256") or f"{size:,} bytes")
    return found


def _file_changes(before: Mapping[str, str], after: Mapping[str, str]) -> list[Change]:
    return _mapping(
        "files",
        before,
        after,
        added="file added: {key}",
        removed="file removed: {key}",
        changed="file changed: {key} ({before:.12} → {after:.12})",
    )


def _parameters(x: Assessment, y: Assessment) -> list[Change]:
    px = x.parameters or (x.facts.parameters if x.facts else None)  # the count the stages used
    py = y.parameters or (y.facts.parameters if y.facts else None)
    s = "parameters"
    out = [
        *_count_change("parameters", "total", px.total if px else None, py.total if py else None),
        *_count_change("active parameters", "active", px.active if px else None, py.active if py else None),
    ]
    out += _mapping(
        s,
        {k: f"{v:,}" for k, v in (px.breakdown if px else {}).items()},
        {k: f"{v:,}" for k, v in (py.breakdown if py else {}).items()},
        added="component {key}: {after} parameters (new)",
        removed="component {key}: gone (was {before} parameters)",
        changed="component {key}: {before} → {after} parameters",
    )
    fx, fy = x.facts, y.facts
    out += _value(
        s,
        "architecture",
        "architecture",
        _fact(fx.architecture) if fx else None,
        _fact(fy.architecture) if fy else None,
    )
    out += _value(
        s,
        "context_length",
        "context length",
        _fact(fx.context_length) if fx else None,
        _fact(fy.context_length) if fy else None,
    )
    return out


def _licence_name(a: Assessment) -> str | None:
    lic = a.facts.license if a.facts else None
    return (lic.id or lic.name) if lic else None


def _licence(x: Assessment, y: Assessment) -> list[Change]:
    s = "licence"
    out = _value(s, "licence", "licence", _licence_name(x), _licence_name(y))
    out += _mapping(
        s,
        {f.path: f.identified_as or "unidentified text" for f in (x.facts.license_files if x.facts else [])},
        {f.path: f.identified_as or "unidentified text" for f in (y.facts.license_files if y.facts else [])},
        added="licence file added: {key} ({after})",
        removed="licence file removed: {key}",
        changed="licence file {key}: {before} → {after}",
    )
    ox, oy = x.openness, y.openness
    out += _value(
        s,
        "eu_foss_licence",
        "EU AI Act free and open-source licence",
        ox.eu_foss_licence.verdict if ox else None,
        oy.eu_foss_licence.verdict if oy else None,
    )
    out += _value(
        s, "osaid", "OSI OSAID 1.0 pass", ox.osaid.pass_ if ox else None, oy.osaid.pass_ if oy else None
    )
    return out


def _component(c: ComponentEvidence) -> str:
    if not c.present:
        return "not published"
    licence = c.licence or "no licence found"
    openness = {True: "open", False: "not open", None: "openness unknown"}[c.open]
    return f"published, {licence}, {openness}"


def _openness(x: Assessment, y: Assessment) -> list[Change]:
    s = "openness"
    ox, oy = x.openness, y.openness
    out = _value(
        s,
        "mof_class",
        "MOF class",
        _mof(ox.mof.class_) if ox else None,
        _mof(oy.mof.class_) if oy else None,
    )
    out += _mapping(
        s,
        {k: _component(v) for k, v in (ox.components if ox else {}).items()},
        {k: _component(v) for k, v in (oy.components if oy else {}).items()},
        added="component {key}: {after}",
        removed="component {key}: no longer assessed (was {before})",
        changed="component {key}: {before} → {after}",
    )
    out += _value(
        s,
        "release_level",
        "release level",
        ox.release_level if ox else None,
        oy.release_level if oy else None,
    )
    return out


def _mof(value: int | None) -> str:
    return {1: "Class I (open science)", 2: "Class II (open tooling)", 3: "Class III (open model)"}.get(
        value or 0, "unclassified"
    )


def _finding_key(f: Finding) -> str:
    return f"{f.rule_id} in {f.file}: {f.evidence or f.message}"


def _findings(x: Assessment, y: Assessment) -> list[Change]:
    def keyed(a: Assessment) -> dict[str, str]:
        return {_finding_key(f): f.severity.value for f in (a.scan.findings if a.scan else [])}

    return _mapping(
        "findings",
        keyed(x),
        keyed(y),
        added="new {after} finding: {key}",
        removed="resolved {before} finding: {key}",
        changed="finding {key}: severity {before} → {after}",
    )


def _compute(x: Assessment, y: Assessment) -> list[Change]:
    s = "compute"
    cx, cy = x.compute, y.compute
    return [
        *_value(s, "training_flop", "training compute", _band(cx.training_flop), _band(cy.training_flop)),
        *_value(
            s, "cumulative_flop", "cumulative compute", _band(cx.cumulative_flop), _band(cy.cumulative_flop)
        ),
        *_value(s, "method", "compute method", cx.method, cy.method),
    ]


def _thresholds(x: Assessment, y: Assessment) -> list[Change]:
    return _mapping(
        "thresholds",
        {k: v.value for k, v in x.compute.thresholds.items()},
        {k: v.value for k, v in y.compute.thresholds.items()},
        added="threshold {key}: {after}",
        removed="threshold {key}: no longer called (was {before})",
        changed="threshold {key}: {before} → {after}",
    )


def _regime_fields(regimes: Mapping[str, RegimeResult]) -> dict[str, str]:
    found: dict[str, str] = {}
    for rid, r in regimes.items():
        found[f"{rid}/in_force"] = "in force" if r.in_force else "not in force"
        for field, value in r.classification.items():
            found[f"{rid}/{field}"] = value.value
    return found


def _regimes(x: Assessment, y: Assessment) -> list[Change]:
    out = _mapping(
        "regimes",
        _regime_fields(x.regimes),
        _regime_fields(y.regimes),
        added="{key}: {after}",
        removed="{key}: no longer assessed (was {before})",
        changed="{key}: {before} → {after}",
    )
    out += _keyed_lists(
        "regimes",
        x.regimes,
        y.regimes,
        lambda r: {q: "open question" for q in r.needs_review},
        added="{key}: new question for review",
        removed="{key}: question no longer raised",
    )
    return out


def _obligation_map(r: RegimeResult) -> dict[str, str]:
    if not r.in_force:
        return {}
    keep = set(remaining_obligations(r))
    return {
        o.id: f"{o.title} ({o.citation.instrument} {o.citation.article})"
        + (f", deadline {o.deadline}" if o.deadline else "")
        + (f", from {o.applies_from.isoformat()}" if o.applies_from else "")
        for o in r.obligations
        if o.id in keep
    }


def _obligations(x: Assessment, y: Assessment) -> list[Change]:
    out = _keyed_lists(
        "obligations",
        x.regimes,
        y.regimes,
        _obligation_map,
        added="new obligation {key}: {after}",
        removed="obligation no longer applies: {key} ({before})",
        changed="obligation {key}: {before} → {after}",
    )
    out += _keyed_lists(
        "obligations",
        x.regimes,
        y.regimes,
        lambda r: {e.id: e.title for e in r.exemptions},
        added="exemption now applies: {key} ({after})",
        removed="exemption no longer applies: {key} ({before})",
    )
    return out


def _keyed_lists(
    section: str,
    x: Mapping[str, RegimeResult],
    y: Mapping[str, RegimeResult],
    items: Callable[[RegimeResult], dict[str, str]],
    *,
    added: str,
    removed: str,
    changed: str = "{key}: {before} → {after}",
) -> list[Change]:
    def flat(regimes: Mapping[str, RegimeResult]) -> dict[str, str]:
        return {f"{rid}/{k}": v for rid, r in regimes.items() for k, v in items(r).items()}

    return _mapping(section, flat(x), flat(y), added=added, removed=removed, changed=changed)
