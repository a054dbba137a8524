"""Geometry for the dashboard's charts, computed here and drawn as inline SVG by the templates (no
JavaScript, nothing fetched): training compute against the legal thresholds on a log scale, and the
release's openness components as a grid by Model Openness Framework class.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from modelwarden.model import Band, ComponentEvidence

# The compute lines drawn on every chart (docs/reference/regulation.md §0): strict ">" except Korea's "≥".
THRESHOLD_LINES: tuple[tuple[float, str, str], ...] = (
    (1e23, "10²³", "EU GPAI indicator (GPAI Guidelines §2.1 para 17)"),
    (1e25, "10²⁵", "EU systemic risk presumed (AI Act Art. 51(2))"),
    (1e26, "10²⁶", "California SB 53 / New York RAISE frontier model; Korea AI Basic Act (≥)"),
)

SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def power_label(exponent: int) -> str:
    """ "10²⁵" for 25."""
    return f"10{str(exponent).translate(SUPERSCRIPT)}"


@dataclass(frozen=True)
class Tick:
    """An axis tick: position and label."""

    x: float
    label: str


@dataclass(frozen=True)
class Line:
    """A vertical threshold line of the compute chart."""

    x: float
    label: str
    title: str


@dataclass(frozen=True)
class BandMark:
    """One compute band drawn as a bar with its central mark."""

    label: str
    y: float
    x_low: float
    x_high: float
    x_central: float
    title: str


@dataclass(frozen=True)
class Dot:
    """One assessment as a point, linking to its page."""

    x: float
    y: float
    title: str
    href: str


@dataclass
class LogChart:
    """A horizontal log-scale FLOP chart: its geometry, ticks, lines, bands and dots."""

    width: int
    height: int
    left: float
    right: float
    lo: int  # exponent of the axis start
    hi: int
    ticks: list[Tick] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    bands: list[BandMark] = field(default_factory=list)
    dots: list[Dot] = field(default_factory=list)

    def x(self, value: float) -> float:
        """The horizontal position of a FLOP value on the axis (clipped to its range)."""
        exponent = math.log10(max(value, 10.0**self.lo))
        span = self.hi - self.lo
        return round(self.left + (min(exponent, self.hi) - self.lo) / span * (self.right - self.left), 1)


def _axis(values: Iterable[float], width: int, height: int) -> LogChart:
    """An axis from 10^17 to 10^28, widened to show every value (within 10^0..10^40)."""
    finite = [v for v in values if v > 0 and math.isfinite(v)]
    lo = min([17, *(math.floor(math.log10(v)) for v in finite)])
    hi = max([28, *(math.ceil(math.log10(v)) for v in finite)])
    lo, hi = max(lo, 0), min(hi, 40)
    chart = LogChart(width=width, height=height, left=16.0, right=width - 16.0, lo=lo, hi=hi)
    step = 1 if hi - lo <= 14 else 2
    chart.ticks = [Tick(chart.x(10.0**e), power_label(e)) for e in range(lo, hi + 1, step)]
    chart.lines = [Line(chart.x(v), label, title) for v, label, title in THRESHOLD_LINES]
    return chart


def _band_title(label: str, band: Band) -> str:
    return f"{label}: {band.central:.3g} FLOP (band {band.low:.3g} – {band.high:.3g})"


def compute_chart(bands: Sequence[tuple[str, Band]], width: int = 720) -> LogChart | None:
    """One row per band (training, cumulative, modification) against the threshold lines."""
    if not bands:
        return None
    row = 30
    chart = _axis((v for _, b in bands for v in (b.low, b.high, b.central)), width, 52 + row * len(bands))
    for i, (label, band) in enumerate(bands):
        chart.bands.append(
            BandMark(
                label=label,
                y=40 + i * row,
                x_low=chart.x(band.low),
                x_high=max(chart.x(band.high), chart.x(band.low) + 2),
                x_central=chart.x(band.central),
                title=_band_title(label, band),
            )
        )
    return chart


def strip_chart(points: Sequence[tuple[str, float | None, str]], width: int = 720) -> LogChart | None:
    """Each listed model's central training compute as a dot (models without an estimate are left out)."""
    known = [(name, v, href) for name, v, href in points if v is not None and v > 0 and math.isfinite(v)]
    if not known:
        return None
    chart = _axis((v for _, v, _ in known), width, 70)
    for i, (name, value, href) in enumerate(known):
        # A small vertical jitter by position keeps neighbours apart.
        chart.dots.append(Dot(chart.x(value), 26 + (i % 5) * 6, f"{name}: {value:.3g} FLOP", href))
    return chart


# Model Openness Framework components by the class where each first appears (docs/reference/openness.md §1.2).
MOF_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "Class III — open model",
        (
            "model_architecture",
            "model_parameters_final",
            "evaluation_results",
            "model_card",
            "data_card",
            "technical_report",
            "sample_outputs",
        ),
    ),
    (
        "Class II — open tooling",
        ("training_code", "inference_code", "evaluation_code", "evaluation_data", "supporting_libraries"),
    ),
    (
        "Class I — open science",
        (
            "datasets",
            "data_preprocessing_code",
            "model_parameters_intermediate",
            "research_paper",
            "model_metadata",
        ),
    ),
)


@dataclass(frozen=True)
class Cell:
    """One MOF component in the openness grid: its state, licence and evidence count."""

    id: str
    label: str
    state: str  # open | restricted | unknown | absent
    licence: str | None
    evidence: int


@dataclass(frozen=True)
class Group:
    """A titled row of the openness grid."""

    title: str
    cells: list[Cell]


def _cell(component_id: str, c: ComponentEvidence) -> Cell:
    if not c.present:
        state = "absent"
    elif c.open is True:
        state = "open"
    elif c.open is False:
        state = "restricted"
    else:
        state = "unknown"
    label = component_id.replace("_", " ")
    return Cell(component_id, label, state, c.licence, len(c.evidence))


def openness_grid(components: dict[str, ComponentEvidence]) -> list[Group]:
    """The MOF components grouped as the report shows them."""
    groups: list[Group] = []
    seen: set[str] = set()
    for title, ids in MOF_GROUPS:
        cells = [_cell(cid, components[cid]) for cid in ids if cid in components]
        seen.update(ids)
        if cells:
            groups.append(Group(title, cells))
    other = [_cell(cid, c) for cid, c in sorted(components.items()) if cid not in seen]
    if other:
        groups.append(Group("Other components", other))
    return groups
