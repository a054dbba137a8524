"""The summary of an assessment that the registry indexes: one function from `Assessment` to the
values of the filter and list columns, and the records the API returns for lists.

Only the typed contract (`modelwarden.model`) is read here; no stage is re-run.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, computed_field

from modelwarden.model import Assessment, Band, RegimeResult, Severity, ThresholdCall, YesNoReview
from modelwarden.registry.errors import InvalidAssessment

# The legal thresholds the assess stage calls (issue "assess", JSON contract `compute.thresholds`):
# EU GPAI indicator 1e23, EU systemic-risk presumption 1e25, US/CA/NY/KR frontier 1e26
# (docs/reference/regulation.md §0).
THRESHOLDS: tuple[str, ...] = ("1e23", "1e25", "1e26")

# Indexed text columns are bounded so that a hostile name cannot blow an index row (PostgreSQL
# refuses B-tree entries above ~2.7 kB); the exact value always stays in the stored document.
NAME_LIMIT = 400
TEXT_LIMIT = 200


class LicenceClass(StrEnum):
    """What the EU AI Act Art. 53(2) licence test of the openness stage concluded.

    `open`: a free and open-source licence in the Act's sense; `not_open`: not (custom terms,
    non-commercial, no licence); `needs_review`: a clause a human must judge (docs/reference/openness.md §5);
    `unknown`: the assessment has no openness report.
    """

    OPEN = "open"
    NOT_OPEN = "not_open"
    NEEDS_REVIEW = "needs_review"
    UNKNOWN = "unknown"


LICENCE_CLASS_LABELS = {
    LicenceClass.OPEN: "open (FOSS)",
    LicenceClass.NOT_OPEN: "not open",
    LicenceClass.NEEDS_REVIEW: "needs review",
    LicenceClass.UNKNOWN: "unknown",
}


def column_text(value: str, limit: int = TEXT_LIMIT) -> str:
    """A string fit for an indexed column: valid UTF-8 (no lone surrogates), no NUL (PostgreSQL text
    cannot hold it), bounded length."""
    value = value.encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd")
    return value if len(value) <= limit else value[: limit - 1] + "…"


_INT64 = 2**63


def _bounded(label: str, value: int | None, low: int = -_INT64, high: int = _INT64 - 1) -> int | None:
    if value is not None and not low <= value <= high:
        raise InvalidAssessment(f"{label} {value} is out of range ({low}..{high})")
    return value


def model_key(name: str) -> str:
    """The registry's key for a model name (the same normalisation on save and on lookup)."""
    return column_text(name, NAME_LIMIT)


def remaining_obligations(regime: RegimeResult) -> list[str]:
    """Obligation ids not switched off by one of the regime's exemptions."""
    removed = {oid for ex in regime.exemptions for oid in ex.removes}
    return [o.id for o in regime.obligations if o.id not in removed]


def duties(assessment: Assessment) -> dict[str, int]:
    """Regime id -> number of obligations in force on the as-of date (regimes with none are left out)."""
    found: dict[str, int] = {}
    for regime_id, regime in assessment.regimes.items():
        if not regime.in_force:
            continue
        count = len(remaining_obligations(regime))
        if count:
            found[regime_id] = count
    return found


def licence_class(assessment: Assessment) -> LicenceClass:
    """The licence column: the EU free-and-open-source licence verdict, or unknown."""
    if assessment.openness is None:
        return LicenceClass.UNKNOWN
    verdict = assessment.openness.eu_foss_licence.verdict
    return {
        YesNoReview.YES: LicenceClass.OPEN,
        YesNoReview.NO: LicenceClass.NOT_OPEN,
        YesNoReview.NEEDS_REVIEW: LicenceClass.NEEDS_REVIEW,
    }[YesNoReview(verdict)]


def licence_id(assessment: Assessment) -> str | None:
    """The licence shown in lists: the card's id or name, else the openness stage's."""
    lic = assessment.facts.license if assessment.facts else None
    if lic is not None and (lic.id or lic.name):
        return lic.id or lic.name
    # A manifest-only assessment (a planned run) has no card: the openness stage's release licence.
    summary = assessment.openness.licence if assessment.openness else None
    if summary is not None and (summary.id or summary.text):
        return summary.id or summary.text
    return None


# `findings` of an assessment whose files were not scanned: never 0, which would read as clean.
NOT_SCANNED = -1


def worst_severity(assessment: Assessment) -> Severity | None:
    """The most serious scan finding's severity; None when there is none."""
    if assessment.scan is None or not assessment.scan.findings:
        return None
    return max((Severity(f.severity) for f in assessment.scan.findings), key=lambda s: s.rank)


@dataclass(frozen=True)
class Columns:
    """The indexed column values of one assessment row (see `models.AssessmentRow`)."""

    name: str
    version: str | None
    as_of: dt.date
    created_at: dt.datetime
    tool_version: str
    ruleset_version: str
    licence: str | None
    licence_class: str
    mof_class: int | None
    osaid_pass: bool | None
    parameters: int | None
    active_parameters: int | None
    flop_low: float | None
    flop_central: float | None
    flop_high: float | None
    compute_method: str
    call_1e23: str | None
    call_1e25: str | None
    call_1e26: str | None
    worst_severity: int | None
    findings: int
    duty_regimes: str
    needs_review: int


def columns(assessment: Assessment) -> Columns:
    """The indexed column values of an assessment."""
    a = assessment
    # The count the assessment's stages used (files over manifest, decided once); older records: facts.
    params = a.parameters if a.parameters is not None else (a.facts.parameters if a.facts else None)
    band = a.compute.training_flop
    calls = {t: a.compute.thresholds.get(t) for t in THRESHOLDS}
    worst = worst_severity(a)
    version = a.subject.version
    licence = licence_id(a)
    return Columns(
        name=model_key(a.subject.name),
        version=column_text(version) if version is not None else None,
        as_of=a.as_of,
        created_at=_aware(a.created_at),
        tool_version=column_text(a.tool_version),
        ruleset_version=column_text(a.ruleset_version),
        licence=column_text(licence).lower() if licence is not None else None,
        licence_class=licence_class(a).value,
        mof_class=_bounded("MOF class", a.openness.mof.class_ if a.openness else None, 1, 3),
        osaid_pass=a.openness.osaid.pass_ if a.openness else None,
        parameters=_bounded("parameter count", params.total if params else None),
        active_parameters=_bounded("active parameter count", params.active if params else None),
        flop_low=band.low if band else None,
        flop_central=band.central if band else None,
        flop_high=band.high if band else None,
        compute_method=column_text(a.compute.method),
        call_1e23=_call(calls["1e23"]),
        call_1e25=_call(calls["1e25"]),
        call_1e26=_call(calls["1e26"]),
        worst_severity=worst.rank if worst else None,
        findings=len(a.scan.findings) if a.scan else NOT_SCANNED,
        duty_regimes=" ".join(sorted(column_text(r, 64) for r in duties(a))),
        needs_review=sum(len(r.needs_review) for r in a.regimes.values()),
    )


def _call(call: ThresholdCall | None) -> str | None:
    return ThresholdCall(call).value if call is not None else None


def _aware(value: dt.datetime) -> dt.datetime:
    # A naive timestamp is taken as UTC, so that SQLite and PostgreSQL sort and return the same instant.
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


_SEVERITY_BY_RANK = {s.rank: s for s in Severity}


class AssessmentSummary(BaseModel):
    """One row of a list: what the dashboard table and `registry list` show, without the document."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    id: int
    """The registry's id of the assessment."""
    model_id: int
    """The registry's id of the model (name + version)."""
    name: str
    """The model's name."""
    version: str | None
    """The model's version or Hub revision."""
    is_latest: bool
    """Whether this is the latest assessment of the model."""
    as_of: dt.date
    """The date the law was applied as of."""
    created_at: dt.datetime
    """When the assessment was made (UTC)."""
    recorded_at: dt.datetime
    """When the registry recorded it (UTC)."""
    tool_version: str
    """The modelwarden version that made it."""
    ruleset_version: str
    """The rule set's version and digest."""
    licence: str | None
    """The release licence as written."""
    licence_class: LicenceClass
    """The licence's class (osi, open_data, restricted, non_commercial, ...)."""
    mof_class: int | None
    """The MOF class (1, 2, 3); None: no class."""
    osaid_pass: bool | None
    """Whether it meets the OSI Open Source AI Definition; None: not assessed."""
    parameters: int | None
    """Total parameters (the decided count)."""
    active_parameters: int | None
    """Active parameters per token, for mixture-of-experts."""
    training_flop: Band | None
    """Training compute band."""
    compute_method: str
    """How the training compute was obtained."""
    thresholds: dict[str, ThresholdCall]
    """Threshold ("1e23", "1e25", "1e26") → where the band lies."""
    worst_severity: Severity | None
    """The most serious scan finding; None: none found or not scanned."""
    findings: int
    """Number of scan findings; NOT_SCANNED (-1) when the files were not scanned."""
    duties: list[str]
    """Instrument ids with at least one duty."""
    needs_review: int
    """Questions needing a person, over all instruments."""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def scan(self) -> Literal["scanned", "not scanned"]:
        """ "not scanned" when the assessment ran no safety scan (never shown as "none")."""
        return "not scanned" if self.findings < 0 else "scanned"


def severity_from_rank(rank: int | None) -> Severity | None:
    """The severity stored as a rank; None stays None."""
    return _SEVERITY_BY_RANK.get(rank) if rank is not None else None
