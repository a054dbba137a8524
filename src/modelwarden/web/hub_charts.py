"""Geometry of the hub view's charts, drawn as inline SVG by templates/hub.html (no JavaScript):
a histogram of central training compute by decade against the threshold lines, and 100 % stacked bars
(MOF classes, worst scan findings) per organisation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from modelwarden.registry.hubstats import ComputeBucket, GroupStats, ThresholdCounts
from modelwarden.web.charts import THRESHOLD_LINES, Line, LogChart, Tick, power_label

LABEL_CHARS = 28  # organisation names longer than this are cut in the chart (whole in the table)


@dataclass(frozen=True)
class HistBar:
    """One decade of the compute histogram."""

    x: float
    y: float
    width: float
    height: float
    count: int
    title: str


@dataclass
class Histogram:
    """The compute histogram: a log axis, one bar per non-empty decade, and an `unknown` bar apart."""

    axis: LogChart
    base: float
    """The y of the axis line."""
    bars: list[HistBar] = field(default_factory=list)
    unknown: HistBar | None = None
    """Models without an estimate, drawn beside the axis (never on it)."""


def _cut(text: str, limit: int = LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def histogram(
    buckets: Sequence[ComputeBucket],
    unknown: int,
    counts: Mapping[str, ThresholdCounts] | None = None,
    width: int = 760,
) -> Histogram:
    """Bars of the decades' counts on a log FLOP axis with the threshold lines (their titles with the
    `counts` at each line); the unknowns apart."""
    decades = [b.decade for b in buckets]
    lo = max(0, min([17, *decades]))
    hi = min(41, max([28, *(d + 1 for d in decades)]))
    height, top, gap = 220, 24.0, 64  # `gap`: room right of the axis for the unknown bar
    axis = LogChart(width=width, height=height, left=16.0, right=width - 16.0 - gap, lo=lo, hi=hi)
    step = 1 if hi - lo <= 14 else 2
    axis.ticks = [Tick(axis.x(10.0**e), power_label(e)) for e in range(lo, hi + 1, step)]
    axis.lines = []
    for value, label, title in THRESHOLD_LINES:
        c = (counts or {}).get(f"{value:.0e}".replace("+", ""))
        if c is not None:
            title += f": {c.above:,} above, {c.straddles:,} straddling (review), {c.unknown:,} unknown"
        axis.lines.append(Line(axis.x(value), label, title))
    base = height - 18.0
    peak = max([unknown, *(b.count for b in buckets)]) or 1
    chart = Histogram(axis=axis, base=base)

    def h(count: int) -> float:
        # At least 2 px for a non-empty bar, so one model among thousands still shows.
        return round(max(2.0, count / peak * (base - top)), 1) if count else 0.0

    for b in buckets:
        x0, x1 = axis.x(10.0**b.decade), axis.x(10.0 ** (b.decade + 1))
        span = f"{power_label(b.decade)}–{power_label(b.decade + 1)}"
        chart.bars.append(
            HistBar(
                x=x0 + 1,
                y=base - h(b.count),
                width=max(1.0, round(x1 - x0 - 2, 1)),
                height=h(b.count),
                count=b.count,
                title=f"{b.count:,} model{'' if b.count == 1 else 's'}: central estimate {span} FLOP",
            )
        )
    if unknown:
        chart.unknown = HistBar(
            x=width - 16.0 - gap + 20,
            y=base - h(unknown),
            width=gap - 24,
            height=h(unknown),
            count=unknown,
            title=f"{unknown:,} model{'' if unknown == 1 else 's'} without a compute estimate (unknown)",
        )
    return chart


@dataclass(frozen=True)
class Segment:
    """One part of a stacked bar."""

    key: str
    x: float
    width: float
    count: int
    title: str


@dataclass(frozen=True)
class StackedRow:
    """One organisation's bar."""

    label: str
    """The label drawn (cut to LABEL_CHARS)."""
    org: str
    """The organisation in full."""
    href: str | None
    """The view filtered to it; None for the rows that are not one organisation."""
    y: float
    total: int
    segments: list[Segment]


@dataclass
class Stacked:
    """100 % stacked horizontal bars, one row per organisation, and the legend."""

    width: int
    height: int
    left: float
    right: float
    row_height: float
    legend: list[tuple[str, str]]
    """(key, label) in drawing order."""
    rows: list[StackedRow] = field(default_factory=list)


def stacked(
    groups: Sequence[tuple[GroupStats, str | None]],
    keys: Sequence[tuple[str, str]],
    counts: str,
    width: int = 760,
) -> Stacked:
    """A row per group (with its filter link), each split by `keys` of the group's `counts` record
    (`mof` or `severity`) in proportion to the group's models."""
    row, top = 24.0, 8.0
    chart = Stacked(
        width=width,
        height=int(top * 2 + row * len(groups)),
        left=200.0,
        right=width - 70.0,
        row_height=row - 6,
        legend=list(keys),
    )
    span = chart.right - chart.left
    for i, (group, href) in enumerate(groups):
        record = getattr(group, counts)
        x = chart.left
        segments = []
        for key, label in keys:
            n = int(getattr(record, key))
            if not n:
                continue
            w = round(n / group.models * span, 1) if group.models else 0.0
            segments.append(Segment(key, round(x, 1), w, n, f"{group.org}: {n:,} {label}"))
            x += w
        chart.rows.append(StackedRow(_cut(group.org), group.org, href, top + i * row, group.models, segments))
    return chart
