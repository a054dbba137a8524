"""Export recorded assessments as JSON Lines (full documents) or CSV (the summary columns); the
rows are rendered by `report/jsonl.py` and `report/csv.py`.

The file is written beside its destination and renamed into place at the end, so an interrupted
export never leaves a truncated file that looks complete.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Literal, TextIO

from modelwarden.errors import UsageError
from modelwarden.registry.records import StoredAssessment
from modelwarden.report.csv import CSV_COLUMNS, csv_row
from modelwarden.report.jsonl import jsonl_line

Format = Literal["jsonl", "csv"]
FORMATS: tuple[Format, ...] = ("jsonl", "csv")


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
