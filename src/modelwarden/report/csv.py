"""CSV renderings: recorded assessments, one summary row each (`registry export --format csv`).

Cells that a spreadsheet would run as a formula are written as text (see `csv_cell`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from modelwarden.registry.records import StoredAssessment
from modelwarden.registry.summary import THRESHOLDS, AssessmentSummary

CSV_COLUMNS = (
    "id",
    "name",
    "version",
    "is_latest",
    "as_of",
    "created_at",
    "recorded_at",
    "tool_version",
    "ruleset_version",
    "licence",
    "licence_class",
    "mof_class",
    "osaid_pass",
    "parameters",
    "active_parameters",
    "training_flop_low",
    "training_flop_central",
    "training_flop_high",
    "compute_method",
    *(f"threshold_{t}" for t in THRESHOLDS),
    "worst_severity",
    "findings",
    "duties",
    "needs_review",
    "digest",
)

# Spreadsheet programs run cells that start with these as formulas (CSV injection): a hostile model
# name such as `=HYPERLINK(...)` must arrive as text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, float) else str(value)
    text = value if isinstance(value, str) else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_row(stored: StoredAssessment) -> list[str]:
    s: AssessmentSummary = stored.summary
    band = s.training_flop
    values: list[Any] = [
        s.id,
        s.name,
        s.version,
        s.is_latest,
        s.as_of.isoformat(),
        s.created_at.isoformat(),
        s.recorded_at.isoformat(),
        s.tool_version,
        s.ruleset_version,
        s.licence,
        s.licence_class.value,
        s.mof_class,
        s.osaid_pass,
        s.parameters,
        s.active_parameters,
        band.low if band else None,
        band.central if band else None,
        band.high if band else None,
        s.compute_method,
        *(s.thresholds[t].value if t in s.thresholds else None for t in THRESHOLDS),
        "not scanned" if s.findings < 0 else (s.worst_severity.value if s.worst_severity else None),
        s.findings,
        " ".join(s.duties),
        s.needs_review,
        stored.digest,
    ]
    return [csv_cell(v) for v in values]


def stored_csv(rows: Iterable[StoredAssessment], **_: Any) -> str:
    """The whole CSV document: the header, then one row per recorded assessment."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(CSV_COLUMNS)
    for stored in rows:
        writer.writerow(csv_row(stored))
    return buf.getvalue()
