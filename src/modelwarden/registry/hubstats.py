"""The hub view's numbers: the latest assessment of every model, counted by organisation.

One module of aggregation queries over the indexed columns of the latest assessments (never a stored
document): training compute by decade, where each model lies against the legal compute thresholds,
MOF classes and worst scan findings, per organisation. The same SQL runs on SQLite and PostgreSQL.

The organisation of a model is the part of its name before the first "/" (a hub repository id
"org/name", as `modelwarden crawl` records them); a name without "/" (or starting with one) is a
local release and is counted under `LOCAL`. Output is bounded whatever the registry holds: the
`top` largest organisations by model count, the rest folded into one `OTHERS` row, and at most
`list_limit` models listed per threshold (with the full counts beside them).

Fail closed: a model without a compute estimate is counted as `unknown`, never below a threshold; a
band that straddles a line is `straddles` (a person must review it), never above; a threshold call of
"below" contradicted by the recorded band (its low edge already over the line) is counted as
`straddles`, not believed; a model without an openness report is `not_classified`, apart from one that
was classified and reached no MOF class (`no_class`). See docs/registry.md, "Hub view".
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ColumnElement, Select, and_, case, func, literal, null, or_, select
from sqlalchemy.exc import SQLAlchemyError

from modelwarden.errors import RegistryError
from modelwarden.model import ThresholdCall
from modelwarden.registry.models import AssessmentRow
from modelwarden.registry.store import db_reason
from modelwarden.registry.summary import NOT_SCANNED, THRESHOLDS, LicenceClass

LOCAL = "(local)"  # models whose name has no "org/" part
OTHERS = "(others)"  # organisations beyond the top N, folded together
ALL = "(all)"  # the totals row
MAX_TOP = 50
MAX_LIST = 500

THRESHOLD_VALUES: dict[str, float] = {t: float(t) for t in THRESHOLDS}

# Histogram decades: bucket e holds central estimates in [10^e, 10^(e+1)); below 10^LOW_DECADE and
# at or above 10^HIGH_DECADE are folded into the end buckets (the chart's axis spans at most these).
LOW_DECADE = 0
HIGH_DECADE = 40

_ABOVE = (ThresholdCall.NEAR_ABOVE.value, ThresholdCall.CLEARLY_ABOVE.value)
_BELOW = (ThresholdCall.NEAR_BELOW.value, ThresholdCall.CLEARLY_BELOW.value)

Status = Literal["above", "straddles", "below", "unknown"]
STATUSES: tuple[Status, ...] = ("above", "straddles", "below", "unknown")
MOF_KEYS = ("class_1", "class_2", "class_3", "no_class", "not_classified")
SEVERITY_KEYS = ("critical", "high", "medium", "low", "info", "none", "not_scanned")


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class ThresholdCounts(_Record):
    """How many models lie where against one threshold."""

    above: int = 0
    """The compute stage's call is above: the band's low edge is over the line."""
    straddles: int = 0
    """The band straddles the line, or a "below" call is contradicted by the band: needs review."""
    below: int = 0
    """The whole band is on the "not crossed" side of the line."""
    unknown: int = 0
    """No compute estimate (insufficient data, or no call recorded): never counted as below."""


class MofCounts(_Record):
    """Models by Model Openness Framework class."""

    class_1: int = 0
    """Class I — open science."""
    class_2: int = 0
    """Class II — open tooling."""
    class_3: int = 0
    """Class III — open model."""
    no_class: int = 0
    """Classified, and no MOF class reached."""
    not_classified: int = 0
    """No openness report in the assessment: not classified (not the same as no class)."""


class SeverityCounts(_Record):
    """Models by their most serious scan finding."""

    critical: int = 0
    """Worst finding critical."""
    high: int = 0
    """Worst finding high."""
    medium: int = 0
    """Worst finding medium."""
    low: int = 0
    """Worst finding low."""
    info: int = 0
    """Worst finding informational."""
    none: int = 0
    """Scanned, no finding."""
    not_scanned: int = 0
    """No scan ran (e.g. a manifest-only assessment): not the same as no finding."""


class GroupStats(_Record):
    """The counts of one organisation (or of all, or of the organisations folded together)."""

    org: str
    """The organisation (the name's part before "/"), `(local)`, `(others)` or `(all)`."""
    models: int
    """Models (each counted once, by its latest assessment)."""
    organisations: int = 1
    """How many organisations the row covers (more than one for `(all)` and `(others)`)."""
    latest_recorded_at: dt.datetime | None
    """When the most recent of these assessments was recorded (UTC)."""
    compute_unknown: int
    """Models without a training compute estimate."""
    thresholds: dict[str, ThresholdCounts]
    """Threshold ("1e23", "1e25", "1e26") → counts."""
    mof: MofCounts
    """MOF classes."""
    severity: SeverityCounts
    """Worst scan findings."""


class ComputeBucket(_Record):
    """One decade of the training compute histogram (central estimates)."""

    decade: int
    """The bucket holds central estimates from 10^decade up to (not including) 10^(decade+1)."""
    count: int
    """Models in the bucket."""


class ListedModel(_Record):
    """A model at or over a threshold, as listed under it."""

    assessment_id: int
    """Its latest assessment's id."""
    model_id: int
    """The model's id (its page is /models/{model_id})."""
    name: str
    """The model's name (a hub repository id for crawled models)."""
    version: str | None
    """The version or commit assessed."""
    flop_low: float | None
    """The training compute band's low edge."""
    flop_central: float | None
    """The central training compute estimate."""
    flop_high: float | None
    """The band's high edge."""
    call: ThresholdCall | None
    """The compute stage's call at this threshold."""
    status: Literal["above", "straddles"]
    """`above`: above for certain; `straddles`: the band straddles the line (needs review)."""


class ThresholdList(_Record):
    """The models above one threshold, and those whose band straddles it."""

    threshold: str
    """The threshold ("1e23", "1e25", "1e26")."""
    value: float
    """The threshold in FLOP."""
    counts: ThresholdCounts
    """How many models lie where (all of them, not only those listed)."""
    models: list[ListedModel]
    """Above first, then straddling, largest central estimate first; at most `list_limit`."""
    truncated: bool
    """Whether more models are above or straddling than are listed."""


class HubStats(_Record):
    """The hub view: latest assessments counted by organisation, compute, openness and scan."""

    org: str | None
    """The organisation the view is filtered to; None: every organisation."""
    models: int
    """How many models (repositories) the view covers."""
    organisations: int
    """How many organisations they belong to."""
    latest_recorded_at: dt.datetime | None
    """The most recent recording among them: the view is "as of" this instant."""
    totals: GroupStats
    """The counts over every model of the view."""
    top: list[GroupStats]
    """The largest organisations by model count (ties by name), at most `top`."""
    others: GroupStats | None
    """The remaining organisations folded together; None when there are none."""
    compute: list[ComputeBucket] = Field(description="Non-empty decades, lowest first.")
    lists: list[ThresholdList]
    """Per threshold: the models above it and those straddling it."""


def org_expression(dialect: str) -> ColumnElement[str]:
    """The organisation of a row's name, in SQL (the same on SQLite and PostgreSQL)."""
    name = AssessmentRow.name
    pos = func.strpos(name, "/") if dialect == "postgresql" else func.instr(name, "/")
    return case((pos > 1, func.substr(name, 1, pos - 1)), else_=literal(LOCAL))


def _status(threshold: str) -> ColumnElement[str]:
    a = AssessmentRow
    call = getattr(a, f"call_{threshold}")
    value = THRESHOLD_VALUES[threshold]
    return case(
        (or_(call.is_(None), call == ThresholdCall.INSUFFICIENT_DATA.value), literal("unknown")),
        # A "below" call whose band already starts over the line is not believed.
        (and_(call.in_(_BELOW), a.flop_low.is_not(None), a.flop_low > value), literal("straddles")),
        (call.in_(_ABOVE), literal("above")),
        (call.in_(_BELOW), literal("below")),
        else_=literal("straddles"),
    )


def _mof() -> ColumnElement[str]:
    a = AssessmentRow
    return case(
        (a.mof_class == 1, literal("class_1")),
        (a.mof_class == 2, literal("class_2")),
        (a.mof_class == 3, literal("class_3")),
        # licence_class is "unknown" exactly when the assessment has no openness report.
        (a.licence_class == LicenceClass.UNKNOWN.value, literal("not_classified")),
        else_=literal("no_class"),
    )


def _severity() -> ColumnElement[str]:
    a = AssessmentRow
    return case(
        (a.findings <= NOT_SCANNED, literal("not_scanned")),
        (a.worst_severity.is_(None), literal("none")),
        (a.worst_severity >= 4, literal("critical")),
        (a.worst_severity == 3, literal("high")),
        (a.worst_severity == 2, literal("medium")),
        (a.worst_severity == 1, literal("low")),
        else_=literal("info"),
    )


def _decade() -> ColumnElement[int]:
    """The decade of the central estimate: comparisons with powers of ten (no logarithm, which
    SQLite may lack), nested as a binary search so each row costs six comparisons, not forty."""
    c = AssessmentRow.flop_central

    def within(lo: int, hi: int) -> ColumnElement[int]:
        # the decade of a value known to be in [10^lo, 10^hi) (lo: also anything smaller; hi: larger)
        if hi - lo == 1:
            return literal(lo)
        mid = (lo + hi) // 2
        return case((c < 10.0**mid, within(lo, mid)), else_=within(mid, hi))

    return case((c.is_(None), null()), else_=within(LOW_DECADE, HIGH_DECADE + 1))


def _rows(dialect: str, org: str | None) -> Any:
    """The latest assessments with their derived categories, as a subquery (grouping on its columns
    keeps PostgreSQL from seeing two differently bound copies of the same expression)."""
    a = AssessmentRow
    org_col = org_expression(dialect)
    stmt = select(
        a.id,
        a.model_id,
        a.name,
        a.version,
        a.flop_low,
        a.flop_central,
        a.flop_high,
        a.recorded_at,
        *(getattr(a, f"call_{t}") for t in THRESHOLDS),
        org_col.label("org"),
        _decade().label("decade"),
        _mof().label("mof"),
        _severity().label("severity"),
        *(_status(t).label(f"status_{t}") for t in THRESHOLDS),
    ).where(a.is_latest == True)  # noqa: E712 - the partial indexes' exact predicate (see store.LATEST)
    if org is not None:
        stmt = stmt.where(org_col == org)
        if org != LOCAL and dialect == "sqlite":
            # The same rows as a range of names ("org/" up to "org0", "0" following "/" in SQLite's
            # binary order), which the index on the latest assessments' names answers without
            # reading the others. (Not on PostgreSQL, where the order follows the database's
            # collation, which may ignore punctuation: there the exact condition alone decides.)
            stmt = stmt.where(a.name >= f"{org}/", a.name < f"{org}0")
    return stmt.subquery("latest")


_KEYS = ("mof", "severity", *(f"status_{t}" for t in THRESHOLDS), "compute_known")


def _combinations(rows: Any, top: list[str]) -> Select[Any]:
    """One row per (group, MOF, severity, status at each threshold, compute known) with its count and
    latest recording: each category is computed once per assessment, and the answer has at most a few
    thousand rows per group whatever the registry holds. The group is the organisation when it is
    among `top`, else NULL (the others: an organisation's name is never NULL)."""
    group = case((rows.c.org.in_(top), rows.c.org), else_=null()) if top else null()
    keyed = select(
        group.label("grp"),
        rows.c.recorded_at,
        rows.c.mof,
        rows.c.severity,
        *(rows.c[f"status_{t}"] for t in THRESHOLDS),
        case((rows.c.flop_central.is_(None), 0), else_=1).label("compute_known"),
    ).subquery("keyed")  # grouped by its columns, so PostgreSQL sees one expression, not two copies
    keys = [keyed.c.grp, *(keyed.c[k] for k in _KEYS)]
    return select(*keys, func.count().label("n"), func.max(keyed.c.recorded_at).label("last")).group_by(*keys)


def _as_utc(value: dt.datetime | None) -> dt.datetime | None:
    # SQLite returns naive datetimes; what the registry stored was UTC.
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.UTC)


class _Tally:
    """The counts of one group, added up from combination rows."""

    def __init__(self) -> None:
        self.models = 0
        self.last: dt.datetime | None = None
        self.counts: dict[tuple[str, str], int] = {}

    def add(self, row: Any) -> None:
        n = int(row.n)
        self.models += n
        last = _as_utc(row.last)
        if last is not None and (self.last is None or last > self.last):
            self.last = last
        for key in _KEYS:
            self.counts[key, str(row._mapping[key])] = self.counts.get((key, str(row._mapping[key])), 0) + n

    def stats(self, org: str, organisations: int) -> GroupStats:
        def get(key: str, value: str) -> int:
            return self.counts.get((key, value), 0)

        return GroupStats(
            org=org,
            models=self.models,
            organisations=organisations,
            latest_recorded_at=self.last,
            compute_unknown=get("compute_known", "0"),
            thresholds={
                t: ThresholdCounts(**{s: get(f"status_{t}", s) for s in STATUSES}) for t in THRESHOLDS
            },
            mof=MofCounts(**{k: get("mof", k) for k in MOF_KEYS}),
            severity=SeverityCounts(**{k: get("severity", k) for k in SEVERITY_KEYS}),
        )


def _listed(rows: Any, threshold: str, limit: int) -> Select[Any]:
    status = rows.c[f"status_{threshold}"]
    above_first = case((status == "above", 0), else_=1)
    return (
        select(
            rows.c.id,
            rows.c.model_id,
            rows.c.name,
            rows.c.version,
            rows.c.flop_low,
            rows.c.flop_central,
            rows.c.flop_high,
            rows.c[f"call_{threshold}"].label("call"),
            status.label("status"),
        )
        .where(status.in_(("above", "straddles")))
        .order_by(above_first, rows.c.flop_central.desc().nulls_last(), rows.c.name, rows.c.id)
        .limit(limit + 1)  # one more tells whether the list is cut
    )


_CACHE: OrderedDict[tuple[Any, ...], tuple[tuple[Any, ...], HubStats]] = OrderedDict()
_CACHE_SIZE = 64
_CACHE_LOCK = threading.Lock()


def _change_token(engine: Any) -> tuple[Any, ...]:
    """What changes whenever an assessment is recorded or deleted: the count (a delete lowers it)
    and the latest recording time (a save moves it on; the highest id alone would not do, since
    SQLite gives a new row the id of a deleted last one)."""
    a = AssessmentRow
    try:
        with engine.connect() as conn:
            stmt = select(func.count(), func.max(a.id), func.max(a.recorded_at)).select_from(a)
            return tuple(conn.execute(stmt).one())
    except SQLAlchemyError as exc:
        raise RegistryError(f"cannot read the registry: {db_reason(exc)}") from None


def hub_stats(engine: Any, *, org: str | None = None, top: int = 12, list_limit: int = 100) -> HubStats:
    """The hub view over the latest assessments (of one organisation when `org` is given).

    `top` (1..MAX_TOP) organisations are listed by model count, the others folded together;
    `list_limit` (0..MAX_LIST) models are listed per threshold. A view is kept until the registry
    changes (see `_change_token`), so looking again costs one small query."""
    top = max(1, min(top, MAX_TOP))
    list_limit = max(0, min(list_limit, MAX_LIST))
    key = (engine.url.render_as_string(hide_password=False), org, top, list_limit)
    token = _change_token(engine)
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
        if cached is not None and cached[0] == token:
            _CACHE.move_to_end(key)
            return cached[1].model_copy(deep=True)
    view = _compute(engine, org, top, list_limit)
    with _CACHE_LOCK:
        _CACHE[key] = (token, view)
        _CACHE.move_to_end(key)
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return view.model_copy(deep=True)


def _compute(engine: Any, org: str | None, top: int, list_limit: int) -> HubStats:
    rows = _rows(engine.dialect.name, org)
    # The largest organisations, and (a window over the groups) how many there are in all.
    largest = (
        select(rows.c.org, func.count().over().label("orgs"))
        .group_by(rows.c.org)
        .order_by(func.count().desc(), rows.c.org)
        .limit(top)
    )
    try:
        with engine.connect() as conn:
            found = conn.execute(largest).all()
            names = [r.org for r in found]
            organisations = int(found[0].orgs) if found else 0
            tallies: dict[str | None, _Tally] = {}
            total = _Tally()
            for row in conn.execute(_combinations(rows, names)):
                tallies.setdefault(row.grp, _Tally()).add(row)
                total.add(row)
            totals = total.stats(org or ALL, organisations)
            top_rows = [tallies.get(name, _Tally()).stats(name, 1) for name in names]
            rest = tallies.get(None)
            others = rest.stats(OTHERS, organisations - len(names)) if rest is not None else None
            decades = conn.execute(
                select(rows.c.decade, func.count())
                .where(rows.c.decade.is_not(None))
                .group_by(rows.c.decade)
                .order_by(rows.c.decade)
            ).all()
            lists = []
            for t in THRESHOLDS:
                found = conn.execute(_listed(rows, t, list_limit)).all()
                lists.append(
                    ThresholdList(
                        threshold=t,
                        value=THRESHOLD_VALUES[t],
                        counts=totals.thresholds[t],
                        models=[
                            ListedModel(
                                assessment_id=r.id,
                                model_id=r.model_id,
                                name=r.name,
                                version=r.version,
                                flop_low=r.flop_low,
                                flop_central=r.flop_central,
                                flop_high=r.flop_high,
                                call=ThresholdCall(r.call) if r.call is not None else None,
                                status=r.status,
                            )
                            for r in found[:list_limit]
                        ],
                        truncated=len(found) > list_limit,
                    )
                )
    except SQLAlchemyError as exc:
        raise RegistryError(f"cannot read the registry: {db_reason(exc)}") from None
    return HubStats(
        org=org,
        models=totals.models,
        organisations=totals.organisations,
        latest_recorded_at=totals.latest_recorded_at,
        totals=totals,
        top=top_rows,
        others=others,
        compute=[ComputeBucket(decade=int(d), count=int(n)) for d, n in decades],
        lists=lists,
    )
