"""Export recorded assessments as JSON Lines (full documents) or CSV (the summary columns).

The file is written beside its destination and renamed into place at the end, so an interrupted
export never leaves a truncated file that looks complete.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal, TextIO

from modelwarden.errors import UsageError
from modelwarden.registry.records import StoredAssessment
from modelwarden.registry.summary import THRESHOLDS, AssessmentSummary

Format = Literal["jsonl", "csv"]
FORMATS: tuple[Format, ...] = ("jsonl", "csv")

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


def jsonl_line(stored: StoredAssessment) -> str:
    """`{"id", "recorded_at", "digest", "assessment"}`: the document exactly as recorded."""
    document = stored.assessment.model_dump(mode="json", by_alias=True)
    record = {
        "id": stored.id,
        "recorded_at": stored.recorded_at.isoformat(),
        "digest": stored.digest,
        "assessment": document,
    }
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def _write(rows: Iterable[StoredAssessment], out: TextIO, format: Format) -> int:
    count = 0
    if format == "csv":
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        for stored in rows:
            writer.writerow(csv_row(stored))
            count += 1
    else:
        for stored in rows:
            out.write(jsonl_line(stored) + "\n")
            count += 1
    return count


def write_export(
    rows: Iterable[StoredAssessment], path: str | os.PathLike[str], format: str = "jsonl"
) -> int:
    if format not in FORMATS:
        raise UsageError(f"unknown export format {format!r} (choose jsonl or csv)")
    target = Path(path)
    if target.is_dir():
        raise UsageError("is a folder; give a file name to export to", path=target)
    if not target.parent.is_dir():
        raise UsageError("the folder to export into does not exist", path=target.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            count = _write(rows, out, format)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return count
