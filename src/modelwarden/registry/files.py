"""Per-file lists of a recorded assessment, read a window at a time.

A release of 200,000 files records 200,000 hashes (`subject.file_hashes`), and as many entries in
`facts.files` and `scan.files`: a document of tens of megabytes. Validating and rendering all of it
for every view of an assessment costs seconds of CPU and a page of tens of megabytes, so the
dashboard and the API read one window of these lists. The document is decoded to plain JSON values
(fast, no record validation), the lists are cut to the window, and only the rest is validated.
"""

from __future__ import annotations

import itertools
import zlib
from typing import Any

import pydantic_core
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from modelwarden.errors import RegistryError
from modelwarden.model import Assessment

MAX_WINDOW = 10_000
# (where in the document, list or mapping): every per-file list an assessment holds.
FILE_LISTS: tuple[tuple[str, str], ...] = (("subject", "file_hashes"), ("facts", "files"), ("scan", "files"))


class FileWindow(BaseModel):
    """Which part of each per-file list a windowed read holds."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    offset: int = Field(description="Index of the first entry of each list held.")
    limit: int = Field(description="At most this many entries of each list are held.")
    totals: dict[str, int] = Field(
        description="Entries of each list as recorded: `subject.file_hashes`, `facts.files`, `scan.files`."
    )
    complete: bool = Field(description="True when every list is held whole.")


class FileRow(BaseModel):
    """One file of the release, as the report's file table shows it."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    path: str
    """Path relative to the release root."""
    format: str | None = Field(description="The format inspect found (None: known by its hash only).")
    size: int | None = None
    """Size in bytes, when the file was read."""
    sha256: str | None = None
    """SHA-256 of the file, when it was hashed."""


class FileRows(BaseModel):
    """A page of the release's files: `facts.files` in order, then paths known only by their hash."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    total: int
    """Files in all."""
    offset: int
    """Index of the first file returned."""
    limit: int
    """The window's size asked for."""
    items: list[FileRow]
    """The files in the window."""


def decode_raw(blob: bytes, *, ident: int) -> dict[str, Any]:
    """A stored document as plain JSON (not validated), for windowed reads of large ones."""
    try:
        document = pydantic_core.from_json(zlib.decompress(blob))
    except (zlib.error, ValueError) as exc:
        raise RegistryError(f"assessment {ident} is stored but cannot be read back: {exc}") from None
    if not isinstance(document, dict):
        raise RegistryError(f"assessment {ident} is stored but is not a JSON object")
    return document


def _part(document: dict[str, Any], section: str) -> dict[str, Any] | None:
    part = document.get(section)
    return part if isinstance(part, dict) else None


def window(document: dict[str, Any], *, ident: int, offset: int, limit: int) -> tuple[Assessment, FileWindow]:
    """The assessment with each per-file list cut to `[offset, offset + limit)`."""
    cut = dict(document)
    totals: dict[str, int] = {}
    for section, key in FILE_LISTS:
        part = _part(document, section)
        if part is None or not isinstance(part.get(key), dict | list):
            continue
        entries = part[key]
        totals[f"{section}.{key}"] = len(entries)
        if isinstance(entries, dict):
            kept: dict[str, Any] | list[Any] = dict(itertools.islice(entries.items(), offset, offset + limit))
        else:
            kept = entries[offset : offset + limit]
        cut[section] = {**part, key: kept}
    try:
        assessment = Assessment.model_validate(cut)
    except ValidationError as exc:
        raise RegistryError(f"assessment {ident} is stored but cannot be read back: {exc}") from None
    complete = offset == 0 and all(n <= limit for n in totals.values())
    return assessment, FileWindow(offset=offset, limit=limit, totals=totals, complete=complete)


def file_rows(document: dict[str, Any], *, offset: int, limit: int) -> FileRows:
    """The release's files for the report's table (one row per path), a page at a time."""
    facts = _part(document, "facts") or {}
    subject = _part(document, "subject") or {}
    files = [f for f in facts.get("files") or [] if isinstance(f, dict)]
    hashes = subject.get("file_hashes") if isinstance(subject.get("file_hashes"), dict) else {}
    assert isinstance(hashes, dict)
    known = {f.get("path") for f in files}
    hash_only = [p for p in hashes if p not in known]
    total = len(files) + len(hash_only)
    items: list[FileRow] = []
    for f in files[offset : offset + limit]:
        path = str(f.get("path"))
        sha = f.get("sha256") or hashes.get(path)
        items.append(FileRow(path=path, format=f.get("format"), size=f.get("size"), sha256=sha))
    start = max(0, offset - len(files))
    for path in hash_only[start : start + limit - len(items)]:
        items.append(FileRow(path=path, format=None, size=None, sha256=hashes[path]))
    return FileRows(total=total, offset=offset, limit=limit, items=items)
