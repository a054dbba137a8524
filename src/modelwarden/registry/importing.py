"""Reading assessment documents back in: `registry import` takes what `assess --format json`,
`registry show --format json` and `registry export` (JSON Lines) write, with the release's facts in
the `inspect --format json` shape (this version) or as the record's own fields (older documents).

One JSON document per file (pretty-printed or not), or JSON Lines: one assessment per line, either
bare or as the export's `{"id", "recorded_at", "digest", "assessment"}` record. A CSV export holds
only the summary columns, so it cannot be turned back into assessments and is refused by name.
Every error names the file and, for JSON Lines, the line.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from pydantic import ValidationError

from modelwarden.errors import UsageError
from modelwarden.model import Assessment
from modelwarden.report.csv import CSV_COLUMNS
from modelwarden.report.json import assessment_fields
from modelwarden.untrusted.io import open_regular

#: One assessment (a single document, or one line of JSON Lines): far above any real one.
MAX_DOCUMENT_BYTES = 64 << 20
#: A whole import is recorded in one transaction, so every document is held in memory until then
#: (about 8 bytes per byte of JSON: 256 MiB of JSON Lines, some 10,000 assessments, take ~2 GB).
MAX_IMPORT_BYTES = 256 << 20
JSON_LINES_SUFFIXES = (".jsonl", ".ndjson")
_CSV_HEADER = ",".join(CSV_COLUMNS[:3]).encode()


def _not_an_assessment(exc: ValidationError) -> str:
    first = exc.errors()[0]
    if first["type"].startswith("json_"):
        return f"not valid JSON: {first['msg'].removeprefix('Invalid JSON: ')}"
    where = ".".join(str(p) for p in first["loc"])
    return f"not an assessment document: {where + ': ' if where else ''}{first['msg']}"


def _record(line: bytes) -> bytes:
    """The assessment inside an export record, re-encoded; a bare document as it is."""
    try:
        value = json.loads(line)
    except RecursionError:
        raise ValueError("not valid JSON: nested too deeply") from None
    except UnicodeDecodeError:
        raise ValueError("not UTF-8 text") from None
    except ValueError as exc:
        raise ValueError(f"not valid JSON: {exc}") from None
    if isinstance(value, dict) and isinstance(value.get("assessment"), dict) and "subject" not in value:
        # Validated from JSON, not from Python objects: the same rules as a document read from a file.
        return json.dumps(assessment_fields(value["assessment"])).encode()
    if isinstance(value, dict) and assessment_fields(value) is not value:
        return json.dumps(assessment_fields(value)).encode()  # facts in the inspect shape
    return line


def _json_lines(fh: IO[bytes], path: Path, read: list[bytes]) -> Iterator[Assessment]:
    total = found = 0
    n = 1
    line = read.pop(0)
    while line:
        total += len(line)
        if total > MAX_IMPORT_BYTES:
            raise UsageError(
                f"over {MAX_IMPORT_BYTES:,} bytes, more than one import records in one transaction: "
                "split the file",
                path=path,
            )
        if len(line) > MAX_DOCUMENT_BYTES:
            raise UsageError(f"line {n}: over {MAX_DOCUMENT_BYTES:,} bytes: not an assessment", path=path)
        if line.strip():
            try:
                document = Assessment.model_validate_json(_record(line))
            except ValueError as exc:  # ValidationError is a ValueError
                reason = _not_an_assessment(exc) if isinstance(exc, ValidationError) else str(exc)
                raise UsageError(f"line {n}: {reason}", path=path) from None
            found += 1
            yield document
        line = read.pop(0) if read else fh.readline(MAX_DOCUMENT_BYTES + 1)
        n += 1
    if not found:
        raise UsageError("no assessments in the file", path=path)


def check_total_size(paths: list[Path]) -> None:
    """Refuse an import whose files add up to more than one transaction should hold (each file is
    also counted as it is read, in case it grows)."""
    total = 0
    for path in paths:
        with contextlib.suppress(OSError):  # unreadable files are reported when they are read
            if path.is_file():
                total += path.stat().st_size
    if total > MAX_IMPORT_BYTES:
        raise UsageError(
            f"the files add up to {total:,} bytes, over the {MAX_IMPORT_BYTES:,} recorded in one "
            "transaction: import them in several runs"
        )


def read_assessments(path: Path) -> Iterator[Assessment]:
    """The assessments in one file, in order; UsageError naming the file (and line) otherwise."""
    try:
        fh = open_regular(path)
    except OSError as exc:
        reason = "is a folder, not a file" if path.is_dir() else exc.strerror
        raise UsageError(f"cannot read: {reason}", path=path) from None
    with fh:
        try:
            first = fh.readline(MAX_DOCUMENT_BYTES + 1)
        except OSError as exc:
            raise UsageError(f"cannot read: {exc.strerror}", path=path) from None
        if path.suffix.lower() == ".csv" or first.startswith(_CSV_HEADER):
            raise UsageError(
                "a CSV export holds only summary columns and cannot be imported: "
                "export with --format jsonl to move assessments between registries",
                path=path,
            )
        if path.suffix.lower() in JSON_LINES_SUFFIXES:
            yield from _json_lines(fh, path, [first])
            return
        second = fh.readline(MAX_DOCUMENT_BYTES + 1) if len(first) <= MAX_DOCUMENT_BYTES else b""
        if second and _is_complete_json(first):
            yield from _json_lines(fh, path, [first, second])
            return
        # One document, on one line or pretty-printed over many (`assess --format json`).
        raw = first + second + fh.read(max(0, MAX_DOCUMENT_BYTES + 1 - len(first) - len(second)))
        if len(raw) > MAX_DOCUMENT_BYTES:
            raise UsageError(f"over {MAX_DOCUMENT_BYTES:,} bytes: not an assessment", path=path)
        try:
            payload = _record(raw)
        except ValueError:
            payload = raw  # pydantic's own message says where the JSON breaks
        try:
            yield Assessment.model_validate_json(payload)
        except ValidationError as exc:
            raise UsageError(_not_an_assessment(exc), path=path) from None


def _is_complete_json(line: bytes) -> bool:
    """Whether the first line is a JSON value on its own: then the file is JSON Lines (a one-line
    document is a one-line JSON Lines file too)."""
    if not line.strip() or len(line) > MAX_DOCUMENT_BYTES:
        return False
    try:
        json.loads(line)
    except (ValueError, RecursionError):
        return False
    return True
