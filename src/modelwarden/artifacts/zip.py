"""The zip reader — the only one: inspect and scan read every archive (PyTorch, Keras, .npz, any zip)
through it, so inspect describes the very archive scan judged.

It reads archives the way loaders do, and notices where readers disagree.

Python's `zipfile` raises on what PyTorch's reader accepts (bad CRCs, encryption flag bits), and trusts
the central directory where other readers trust local headers — both were used to make scanners skip
malicious pickles (docs/reference/scanners.md §5: CVE-2025-1944, CVE-2025-1945, JFrog 2025). So this
module parses the structures itself, over a memory map, and reports every inconsistency instead of
stopping at the first one: local vs central names, flag bits, data descriptors, bytes that no entry
accounts for (polyglot prefixes, hidden local headers), overlapping entries, truncation. Entry data is
returned zero-copy for stored entries and decompressed under size and ratio caps otherwise.

The listing is the view of Python's zipfile (which numpy, Keras and joblib use) with the last end
record and zip64 locator read as zipfile and PyTorch's reader read them; what other readers see
instead is kept in `alternates` and every disagreement is an `Issue` with `ambiguous` set. The scan
reports those as `zip.ambiguous` findings, inspect as `zip_ambiguous` problems. Bytes come from a
`Buffer`: the scan's memory map, or inspect's `LocalFile` through `SourceBuffer`. The caps are the
`ZipLimits` fields, whose defaults (`ZIP_LIMITS`) are `modelwarden.limits`.
"""

from __future__ import annotations

import bz2
import lzma
import struct
import zlib
from dataclasses import dataclass, field
from typing import Protocol

from modelwarden import limits as caps
from modelwarden.artifacts.problems import ArtifactProblem
from modelwarden.artifacts.source import Buffer, View
from modelwarden.records import Problem


class ZipLimits(Protocol):
    """The caps the reader needs; the scan's `Limits` provides them, inspect passes `ZIP_LIMITS`."""

    @property
    def max_zip_entries(self) -> int:
        """Entries listed from one archive."""
        ...

    @property
    def max_entry_bytes(self) -> int:
        """Decompressed bytes of one member held in memory."""
        ...

    @property
    def bomb_ratio(self) -> int:
        """Compression ratio that makes a member over `bomb_min_bytes` a bomb."""
        ...

    @property
    def bomb_min_bytes(self) -> int:
        """Size under which no ratio makes a member a bomb."""
        ...

    @property
    def bomb_scan_bytes(self) -> int:
        """Prefix of a declared bomb that is inflated."""
        ...


@dataclass(frozen=True)
class ZipCaps:
    """`ZipLimits` with the one table's values: what inspect reads with (the scan's defaults agree)."""

    max_zip_entries: int = caps.MAX_ZIP_ENTRIES
    """Entries listed from one archive."""
    max_entry_bytes: int = caps.MAX_ENTRY_BYTES
    """Decompressed bytes of one member held in memory."""
    bomb_ratio: int = caps.ZIP_BOMB_RATIO
    """Compression ratio that makes a member over `bomb_min_bytes` a bomb."""
    bomb_min_bytes: int = caps.ZIP_BOMB_MIN_BYTES
    """Size under which no ratio makes a member a bomb."""
    bomb_scan_bytes: int = caps.ZIP_BOMB_SCAN_BYTES
    """Prefix of a declared bomb that is inflated."""


ZIP_LIMITS = ZipCaps()

_LOCAL = b"PK\x03\x04"
_CENTRAL = b"PK\x01\x02"
_EOCD = b"PK\x05\x06"
_EOCD64 = b"PK\x06\x06"
_EOCD64_LOC = b"PK\x06\x07"
_DESCRIPTOR = b"PK\x07\x08"

_LOCAL_FMT = struct.Struct("<4sHHHHHIIIHH")  # 30 bytes
_CENTRAL_FMT = struct.Struct("<4sHHHHHHIIIHHHHHII")  # 46 bytes
_EOCD_FMT = struct.Struct("<4sHHHHIIH")  # 22 bytes
_EOCD64_FMT = struct.Struct("<4sQHHIIQQQQ")  # 56 bytes
_EOCD64_LOC_FMT = struct.Struct("<4sIQI")  # 20 bytes

METHODS = {
    0: "stored",
    8: "deflate",
    12: "bzip2",
    14: "lzma",
    9: "deflate64",
    93: "zstd",
    95: "xz",
    99: "aes",
}
ENCRYPTION_FLAGS = 0x0001 | 0x0040 | 0x2000  # traditional, strong encryption, masked local header


@dataclass
class Issue:
    """One structural observation about an archive."""

    rule_id: str
    """The finding's rule (scan/data/rules.yaml)."""
    message: str
    """What was seen, for the report."""
    offset: int | None = None
    """Where in the file, when known."""
    entry: str | None = None
    """The entry concerned, when there is one."""
    ambiguous: str | None = None
    """Set when two readers (two loaders, or a loader and this scanner) read different content here:
    which readers see what. Reported as a critical `zip.ambiguous` finding beside the issue itself."""


@dataclass
class ZipEntry:
    name: str  # as the central directory names it (or the local header, for hidden entries)
    header_offset: int  # absolute offset of the local header
    flags: int
    method: int
    crc: int
    compressed_size: int
    uncompressed_size: int
    local_name: str | None = None
    data_offset: int | None = None
    hidden: bool = False  # found by its local header only
    local_flags: int | None = None  # general-purpose flags of the local header, once read
    unreadable: str | None = None  # why the data cannot be located

    @property
    def encrypted(self) -> bool:
        """Both headers (or the only one read) mark the entry as encrypted."""
        flags = self.flags if self.local_flags is None else self.flags & self.local_flags
        return bool(flags & ENCRYPTION_FLAGS)

    @property
    def is_dir(self) -> bool:
        return self.name.endswith("/")

    @property
    def data_end(self) -> int | None:
        return None if self.data_offset is None else self.data_offset + self.compressed_size


@dataclass
class ZipListing:
    entries: list[ZipEntry] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    cd_start: int | None = None
    eocd_offset: int | None = None
    prefix_end: int = 0  # bytes [0, prefix_end) precede the archive (a polyglot or self-extractor)
    gaps: list[tuple[int, int]] = field(default_factory=list)  # unaccounted byte ranges inside the archive
    trailing: tuple[int, int] | None = None  # bytes after the end record and its comment
    reader: str = ""  # which reader's view this listing is
    alternates: list[ZipListing] = field(default_factory=list)  # what other readers see, when it differs

    def names(self) -> list[str]:
        return [e.name for e in self.entries]


def _decode(raw: bytes, flags: int) -> str:
    # As zipfile: UTF-8 when general-purpose bit 11 is set, else code page 437.
    return raw.decode("utf-8" if flags & 0x800 else "cp437", errors="replace")


@dataclass(frozen=True)
class Directory:
    """Where one reader finds the central directory, from the end record it picked."""

    reader: str
    """Who reads the archive this way ("Python's zipfile", "PyTorch's reader", ...)."""
    eocd: int
    """Offset of the end-of-central-directory record that reader picks."""
    start: int
    """Absolute offset where that reader starts parsing the central directory."""
    size: int
    """Declared size of the central directory."""
    total: int
    """Declared number of entries."""
    zip64: int | None
    """Offset of the zip64 end record that reader uses, if any."""


def read_listing(buf: Buffer, limits: ZipLimits) -> ZipListing:
    """The archive as Python's zipfile reads it (what numpy, Keras, joblib and most loaders use), with
    every reader disagreement recorded and, in `alternates`, the listings other readers would see."""
    listing = ZipListing()
    dirs = _directories(buf)
    usable = [d for d in dirs if _directory_parses(buf, d)]
    if not usable:
        if dirs:
            d = dirs[0]
            listing.eocd_offset = d.eocd
            listing.issues.append(
                Issue(
                    "zip.malformed",
                    "central directory size/offset point outside the file or at no directory",
                    d.eocd,
                )
            )
        else:
            listing.issues.append(
                Issue("zip.malformed", "no end-of-central-directory record: read by local headers")
            )
        _walk_local_headers(buf, 0, len(buf), listing, limits)
        return listing
    main = usable[0]
    _fill(buf, main, listing, limits)
    _ambiguities(buf, dirs, usable, listing)
    seen = {(main.start, main.size)}
    for other in usable[1:]:
        if (other.start, other.size) in seen:
            continue
        seen.add((other.start, other.size))
        alt = ZipListing()
        _fill(buf, other, alt, limits)
        alt.reader = other.reader
        listing.alternates.append(alt)
    return listing


def _fill(buf: Buffer, d: Directory, listing: ZipListing, limits: ZipLimits) -> None:
    listing.eocd_offset = d.eocd
    listing.reader = d.reader
    _, disk, _, _, _, _, _, comment_len = _EOCD_FMT.unpack(buf[d.eocd : d.eocd + 22])
    if disk not in (0, 0xFFFF):
        listing.issues.append(Issue("zip.malformed", f"multi-disk archive (disk {disk})", d.eocd))
    listing.cd_start = d.start
    if d.total > limits.max_zip_entries:
        listing.issues.append(
            Issue("zip.malformed", f"{d.total} entries declared; only {limits.max_zip_entries} read", d.eocd)
        )
    cd_end = d.zip64 if d.zip64 is not None else d.eocd
    concat = d.start - _declared_offset(buf, d)  # bytes prepended (zipfile's correction); 0 for miniz
    _read_central(buf, d.start, min(cd_end, d.start + d.size), concat, listing, limits)
    parsed = len(listing.entries)
    saturated = d.zip64 is None and d.total == 0xFFFF
    if parsed < limits.max_zip_entries and d.total != parsed and not saturated:
        listing.issues.append(
            Issue(
                "zip.malformed",
                f"the end record declares {d.total} entries, the central directory holds {parsed}",
                d.eocd,
                ambiguous=f"Python's zipfile reads the {parsed} entries the directory's size covers;"
                f" PyTorch's reader reads the {d.total} the end record counts",
            )
        )
    for entry in listing.entries:
        _read_local(buf, entry, listing)
    _coverage(buf, listing, limits)
    end = d.eocd + 22 + comment_len
    if end < len(buf):
        listing.trailing = (end, len(buf))
        listing.issues.append(
            Issue(
                "zip.hidden-data",
                f"{len(buf) - end} bytes follow the end-of-central-directory record and its comment",
                end,
            )
        )


def _declared_offset(buf: Buffer, d: Directory) -> int:
    if d.zip64 is not None:
        return int(_EOCD64_FMT.unpack(buf[d.zip64 : d.zip64 + 56])[9])
    return int(_EOCD_FMT.unpack(buf[d.eocd : d.eocd + 22])[6])


def has_archive(buf: Buffer) -> bool:
    """Whether the buffer ends with a plausible zip (an end record whose directory starts with an entry).

    Cheap (reads the last 64 KiB) and strict enough that tensor bytes that happen to contain the end
    record's signature are not taken for an archive.
    """
    return any(d.total > 0 and d.size >= 46 and _directory_parses(buf, d) for d in _directories(buf))


def _end_signatures(buf: Buffer) -> list[int]:
    """Offsets of every end-of-central-directory signature in the last 64 KiB + 22 bytes (where every
    reader looks for it), in file order."""
    size = len(buf)
    window_start = max(0, size - 22 - (1 << 16))  # as zipfile: a 64 KiB comment and the record
    tail = buf[window_start:size]
    found: list[int] = []
    pos = tail.find(_EOCD)
    while pos >= 0:
        found.append(window_start + pos)
        pos = tail.find(_EOCD, pos + 1)
    return found


def _zipfile_eocd(buf: Buffer, sigs: list[int]) -> int | None:
    # zipfile._EndRecData: the last 22 bytes when they are a record without a comment, else the last
    # signature in the window, however long its declared comment (and none when <22 bytes follow it).
    size = len(buf)
    if size >= 22 and buf[size - 22 : size - 18] == _EOCD and buf[size - 2 : size] == b"\0\0":
        return size - 22
    if not sigs or sigs[-1] + 22 > size:
        return None
    return sigs[-1]


def _miniz_eocd(buf: Buffer, sigs: list[int]) -> int | None:
    # miniz (PyTorch's reader) scans backwards for the last signature with a full record after it.
    fits = [s for s in sigs if s + 22 <= len(buf)]
    return fits[-1] if fits else None


def _strict_eocd(buf: Buffer, sigs: list[int]) -> int | None:
    # Readers that check the comment length against the file (Go, libzip, scanners built like them).
    for s in reversed(sigs):
        if s + 22 <= len(buf):
            (comment_len,) = struct.unpack("<H", buf[s + 20 : s + 22])
            if s + 22 + comment_len <= len(buf):
                return s
    return None


def _directories(buf: Buffer) -> list[Directory]:
    """The central directory as each reader locates it; the first is Python's zipfile when it can
    read the file. Readers that agree yield equal entries (deduplicated by the caller)."""
    sigs = _end_signatures(buf)
    out: list[Directory] = []
    for reader, pick, zip64_mode, absolute in (
        ("Python's zipfile", _zipfile_eocd, "adjacent", False),
        ("PyTorch's reader (miniz)", _miniz_eocd, "locator", True),
        ("readers that check the comment length", _strict_eocd, "adjacent", False),
    ):
        eocd = pick(buf, sigs)
        if eocd is None:
            continue
        d = _directory(buf, reader, eocd, zip64_mode=zip64_mode, absolute=absolute)
        if d is not None and d not in out:
            out.append(d)
    return out


def _directory(buf: Buffer, reader: str, eocd: int, *, zip64_mode: str, absolute: bool) -> Directory | None:
    raw = buf[eocd : eocd + 22]
    if len(raw) < 22:
        return None
    _, _, _, _, total, cd_size, cd_offset, _ = _EOCD_FMT.unpack(raw)
    cd_end = eocd
    rec = _zip64_adjacent(buf, eocd) if zip64_mode == "adjacent" else _zip64_located(buf, eocd)
    if rec is not None:
        fields = _EOCD64_FMT.unpack(buf[rec : rec + 56])
        total, cd_size, cd_offset = fields[7], fields[8], fields[9]
        cd_end = rec
    # zipfile corrects offsets for bytes prepended to the archive ("concat"); miniz does not.
    start = cd_offset if absolute else cd_end - cd_size
    return Directory(reader, eocd, start, cd_size, total, rec)


def _directory_parses(buf: Buffer, d: Directory) -> bool:
    if d.start < 0 or d.start + d.size > len(buf):
        return False
    return d.size == 0 or buf[d.start : d.start + 4] == _CENTRAL


def _zip64_adjacent(buf: Buffer, eocd: int) -> int | None:
    # zipfile reads the zip64 record only where it sits right before its locator.
    loc = eocd - 20
    rec = loc - 56
    if rec < 0 or buf[loc : loc + 4] != _EOCD64_LOC or buf[rec : rec + 4] != _EOCD64:
        return None
    return rec


def _zip64_located(buf: Buffer, eocd: int) -> int | None:
    # miniz follows the offset the locator gives.
    loc = eocd - 20
    if loc < 0 or buf[loc : loc + 4] != _EOCD64_LOC:
        return None
    _, _, rec, _ = _EOCD64_LOC_FMT.unpack(buf[loc : loc + 20])
    if rec + 56 > len(buf) or buf[rec : rec + 4] != _EOCD64:
        return None
    return int(rec)


def _ambiguities(buf: Buffer, dirs: list[Directory], usable: list[Directory], listing: ZipListing) -> None:
    main = usable[0]
    # Several end records matter when readers pick different ones; an end record inside an entry (a
    # stored archive in the archive) that no reader picks is just content, scanned as such.
    chosen = sorted({d.eocd for d in usable})
    plausible = [
        s for s in _end_signatures(buf) if any(_directory_parses(buf, d) for d in _record_views(buf, s))
    ]
    if len(chosen) > 1:
        listing.issues.append(
            Issue(
                "zip.ambiguous",
                f"{len(plausible)} end-of-central-directory records (at offsets "
                f"{', '.join(str(p) for p in plausible[:6])}): zip readers differ in which they take",
                plausible[0],
                ambiguous=f"readers pick different end records; Python's zipfile and PyTorch's reader take"
                f" the last, at offset {main.eocd}, others an earlier one",
            )
        )
    distinct = {(d.start, d.size, d.total) for d in usable}
    if len(distinct) > 1:
        views = "; ".join(
            f"{d.reader}: directory at {d.start}, {d.size} bytes"
            + (f", zip64 record at {d.zip64}" if d.zip64 is not None else "")
            for d in usable
        )
        zip64 = any(d.zip64 is not None for d in usable) or _zip64_located(buf, main.eocd) is not None
        listing.issues.append(
            Issue(
                "zip.ambiguous",
                (
                    "zip64 end record disagrees between readers"
                    if zip64
                    else "readers locate different central directories"
                )
                + f": {views}",
                main.eocd,
                ambiguous=views,
            )
        )
    loc = _zip64_located(buf, main.eocd)
    adj = _zip64_adjacent(buf, main.eocd)
    if loc is not None and adj is not None and loc != adj and len(distinct) == 1:
        listing.issues.append(
            Issue(
                "zip.ambiguous",
                f"the zip64 locator points at offset {loc}, but a zip64 record sits at {adj}",
                main.eocd,
                ambiguous="Python's zipfile reads the zip64 record next to the locator, PyTorch's reader"
                " the one the locator names",
            )
        )


def _record_views(buf: Buffer, eocd: int) -> list[Directory]:
    out = []
    for mode, absolute in (("adjacent", False), ("locator", True)):
        d = _directory(buf, "", eocd, zip64_mode=mode, absolute=absolute)
        if d is not None:
            out.append(d)
    return out


def _read_central(
    buf: Buffer, start: int, end: int, concat: int, listing: ZipListing, limits: ZipLimits
) -> None:
    pos = start
    while pos + 46 <= end and len(listing.entries) < limits.max_zip_entries:
        head = buf[pos : pos + 46]
        if head[:4] != _CENTRAL:
            listing.issues.append(Issue("zip.malformed", "central directory entry signature missing", pos))
            return
        (_, _, _, flags, method, _, _, crc, csize, usize, nlen, elen, clen, _, _, _, hoff) = (
            _CENTRAL_FMT.unpack(head)
        )
        name_raw = buf[pos + 46 : pos + 46 + nlen]
        extra = buf[pos + 46 + nlen : pos + 46 + nlen + elen]
        if len(name_raw) < nlen or pos + 46 + nlen + elen + clen > end:
            listing.issues.append(Issue("zip.malformed", "central directory entry truncated", pos))
            return
        usize, csize, hoff = _apply_zip64_extra(extra, usize, csize, hoff)
        listing.entries.append(
            ZipEntry(
                name=_decode(name_raw, flags),
                header_offset=hoff + concat,
                flags=flags,
                method=method,
                crc=crc,
                compressed_size=csize,
                uncompressed_size=usize,
            )
        )
        pos += 46 + nlen + elen + clen


def _apply_zip64_extra(extra: bytes, usize: int, csize: int, hoff: int) -> tuple[int, int, int]:
    i = 0
    while i + 4 <= len(extra):
        tag, length = struct.unpack("<HH", extra[i : i + 4])
        body = extra[i + 4 : i + 4 + length]
        if tag == 0x0001:
            j = 0
            if usize == 0xFFFFFFFF and j + 8 <= len(body):
                (usize,) = struct.unpack("<Q", body[j : j + 8])
                j += 8
            if csize == 0xFFFFFFFF and j + 8 <= len(body):
                (csize,) = struct.unpack("<Q", body[j : j + 8])
                j += 8
            if hoff == 0xFFFFFFFF and j + 8 <= len(body):
                (hoff,) = struct.unpack("<Q", body[j : j + 8])
            break
        i += 4 + length
    return usize, csize, hoff


def _read_local(buf: Buffer, entry: ZipEntry, listing: ZipListing) -> None:
    off = entry.header_offset
    head = buf[off : off + 30]
    if len(head) < 30 or head[:4] != _LOCAL:
        entry.unreadable = "local header missing"
        listing.issues.append(
            Issue("zip.malformed", f"local header of {entry.name!r} missing at offset {off}", off, entry.name)
        )
        return
    (_, _, lflags, lmethod, _, _, lcrc, lcsize, lusize, nlen, elen) = _LOCAL_FMT.unpack(head)
    entry.local_name = _decode(buf[off + 30 : off + 30 + nlen], lflags)
    entry.data_offset = off + 30 + nlen + elen
    if entry.local_name != entry.name:
        listing.issues.append(
            Issue(
                "zip.name-mismatch",
                f"local header names the entry {entry.local_name!r}, the central directory {entry.name!r}",
                off,
                entry.name,
                ambiguous=f"streaming readers name the entry {entry.local_name!r}, directory readers"
                f" {entry.name!r} (Python's zipfile refuses it, PyTorch's reader does not check)",
            )
        )
    if lmethod != entry.method:
        listing.issues.append(
            Issue(
                "zip.malformed",
                f"compression method {lmethod} in the local header, {entry.method} in the central directory",
                off,
                entry.name,
                ambiguous=f"streaming readers decode {entry.name!r} with method {lmethod}, directory readers"
                f" with method {entry.method}",
            )
        )
    entry.local_flags = lflags
    if (lflags ^ entry.flags) & ENCRYPTION_FLAGS:
        # Set in one header only: readers that trust the other header read the data as plain.
        listing.issues.append(
            Issue(
                "zip.flag-bits",
                f"encryption flag bits differ (central 0x{entry.flags:04x}, local 0x{lflags:04x})",
                off,
                entry.name,
                ambiguous=f"the local and central headers of {entry.name!r} disagree on whether it is"
                " encrypted",
            )
        )
    if not lflags & 0x08:
        sizes_differ = (lcsize, lusize) != (
            entry.compressed_size,
            entry.uncompressed_size,
        ) and 0xFFFFFFFF not in (
            lcsize,
            lusize,
        )
        if (lcrc != entry.crc and lcrc != 0) or sizes_differ:
            listing.issues.append(
                Issue(
                    "zip.malformed",
                    f"local header (CRC 0x{lcrc:08x}, {lcsize}/{lusize} bytes) differs from the central"
                    f" directory (CRC 0x{entry.crc:08x}, {entry.compressed_size}/"
                    f"{entry.uncompressed_size} bytes)",
                    off,
                    entry.name,
                    ambiguous=f"streaming readers take {entry.name!r}'s sizes from its local header,"
                    " directory readers from the central directory",
                )
            )
    if entry.data_end is not None and entry.data_end > len(buf):
        entry.unreadable = "data runs past the end of the file"
        listing.issues.append(
            Issue("zip.malformed", f"data of {entry.name!r} runs past the end of the file", off, entry.name)
        )
    elif entry.data_end is not None and lflags & 0x08 and not _descriptor_agrees(buf, entry.data_end, entry):
        # Streaming readers take the sizes from the descriptor, directory readers from the central
        # directory: a disagreement lets the two see different data.
        listing.issues.append(
            Issue(
                "zip.data-descriptor",
                f"data descriptor of {entry.name!r} disagrees with the central directory",
                entry.data_end,
                entry.name,
                ambiguous=f"streaming readers take {entry.name!r}'s sizes from its data descriptor,"
                " directory readers from the central directory",
            )
        )


def _descriptor_agrees(buf: Buffer, pos: int, entry: ZipEntry) -> bool:
    raw = buf[pos : pos + 28]
    if raw[:4] == _DESCRIPTOR:
        raw = raw[4:]
    want = (entry.crc, entry.compressed_size, entry.uncompressed_size)
    if len(raw) >= 12 and struct.unpack("<III", raw[:12]) == want:
        return True
    return len(raw) >= 20 and struct.unpack("<IQQ", raw[:20]) == want


def _descriptor_len(buf: Buffer, pos: int, zip64: bool) -> int:
    if buf[pos : pos + 4] == _DESCRIPTOR:
        return 4 + (20 if zip64 else 12)
    return 20 if zip64 else 12


def _coverage(buf: Buffer, listing: ZipListing, limits: ZipLimits) -> None:
    """Find bytes no entry accounts for: a prefix, gaps (hidden local headers), and overlaps."""
    spans: list[tuple[int, int, ZipEntry]] = []
    for e in listing.entries:
        if e.data_end is None or e.unreadable:
            continue
        end = e.data_end
        if e.flags & 0x08:
            end += _descriptor_len(
                buf, end, e.compressed_size >= 0xFFFFFFFF or e.uncompressed_size >= 0xFFFFFFFF
            )
        spans.append((e.header_offset, end, e))
    spans.sort(key=lambda s: s[0])
    first = spans[0][0] if spans else (listing.cd_start or 0)
    listing.prefix_end = min(first, listing.cd_start or first)
    if listing.prefix_end > 0:
        listing.issues.append(
            Issue(
                "zip.hidden-data",
                f"{listing.prefix_end} bytes precede the first zip entry (a file of another format "
                "with a zip appended)",
                0,
                ambiguous=f"loaders that look at the start of the file (torch.load, numpy.load) read the"
                f" {listing.prefix_end} leading bytes as their own format; zip readers read the archive",
            )
        )
    cursor = listing.prefix_end
    for start, end, e in spans:
        if start < cursor:
            listing.issues.append(
                Issue(
                    "zip.bomb",
                    f"entry {e.name!r} overlaps the previous entry's data",
                    start,
                    e.name,
                    ambiguous=f"the bytes of {e.name!r} also belong to another entry: streaming and"
                    " directory readers split them differently",
                )
            )
        elif start > cursor:
            listing.gaps.append((cursor, start))
        cursor = max(cursor, end)
    cd_start = listing.cd_start if listing.cd_start is not None else len(buf)
    if cd_start > cursor:
        listing.gaps.append((cursor, cd_start))
    known = {e.header_offset for e in listing.entries}
    for gap_start, gap_end in listing.gaps:
        before = len(listing.entries)
        _walk_local_headers(buf, gap_start, gap_end, listing, limits, known=known)
        hidden = len(listing.entries) - before
        listing.issues.append(
            Issue(
                "zip.hidden-data",
                f"{gap_end - gap_start} bytes between entries are not in the central directory"
                + (f", holding {hidden} hidden entr{'y' if hidden == 1 else 'ies'}" if hidden else ""),
                gap_start,
                ambiguous=(
                    f"streaming readers see {hidden} entr{'y' if hidden == 1 else 'ies'} that the central"
                    " directory (what zipfile and PyTorch read) does not list"
                )
                if hidden
                else None,
            )
        )


def _walk_local_headers(
    buf: Buffer,
    start: int,
    end: int,
    listing: ZipListing,
    limits: ZipLimits,
    *,
    known: set[int] | None = None,
) -> None:
    """Entries found by scanning for local headers (as a streaming reader would see them)."""
    view = View(buf, 0, end)
    pos = view.find(_LOCAL, start)
    while 0 <= pos < end and len(listing.entries) < limits.max_zip_entries:
        head = buf[pos : pos + 30]
        if len(head) < 30:
            return
        (_, _, flags, method, _, _, crc, csize, usize, nlen, elen) = _LOCAL_FMT.unpack(head)
        name = _decode(buf[pos + 30 : pos + 30 + nlen], flags)
        data_offset = pos + 30 + nlen + elen
        if known is None or pos not in known:
            entry = ZipEntry(
                name=name,
                header_offset=pos,
                flags=flags,
                method=method,
                crc=crc,
                compressed_size=csize,
                uncompressed_size=usize,
                local_name=name,
                data_offset=data_offset,
                hidden=known is not None,
            )
            if flags & 0x08 and csize == 0:
                entry.compressed_size = _stream_length(buf, data_offset, end, method)
            listing.entries.append(entry)
        nxt = data_offset + max(csize, 0)
        pos = view.find(_LOCAL, max(nxt, pos + 4))


def _stream_length(buf: Buffer, start: int, end: int, method: int) -> int:
    """Compressed length of a deflate stream whose sizes are only in a trailing data descriptor."""
    if method != 8:
        nxt = View(buf, 0, end).find(_LOCAL, start)
        return (nxt if nxt >= 0 else end) - start
    d = zlib.decompressobj(-15)
    pos = start
    try:
        while pos < end and not d.eof:
            chunk = buf[pos : min(end, pos + (1 << 20))]
            d.decompress(chunk, 1 << 16)
            while d.unconsumed_tail and not d.eof:
                d.decompress(d.unconsumed_tail, 1 << 16)
            pos += len(chunk) - len(d.unused_data)
            if d.unused_data:
                break
    except zlib.error:
        # Not a valid deflate stream: the entry ends where the next local header starts.
        nxt = View(buf, 0, end).find(_LOCAL, start)
        return (nxt if nxt >= 0 else end) - start
    return pos - start


# ------------------------------------------------------------------------------------------------------
# Entry data
# ------------------------------------------------------------------------------------------------------


@dataclass
class EntryData:
    data: Buffer | None
    problem: str | None = None  # rule id + message when the data could not be (fully) produced
    rule_id: str | None = None
    truncated: bool = False


def _bomb(size: int, compressed: int, limits: ZipLimits) -> bool:
    return size > limits.bomb_min_bytes and size > limits.bomb_ratio * max(1, compressed)


def entry_data(buf: Buffer, entry: ZipEntry, limits: ZipLimits) -> EntryData:
    """An entry's bytes: stored entries zero-copy, compressed ones inflated under a budget.

    The budget is fixed from the central directory before anything is inflated (loaders such as
    zipfile and PyTorch's reader allocate by the declared size), and the inflation is a bounded stream
    that also stops on the actual ratio: a header that under-declares its size cannot make us hold
    more than the declared size, and one that declares a bomb gets only a short prefix analysed.
    """
    if entry.data_offset is None or entry.unreadable:
        return EntryData(None, entry.unreadable or "local header missing", "zip.malformed")
    start = entry.data_offset
    end = min(len(buf), start + entry.compressed_size)
    if entry.method == 0:
        return EntryData(View(buf, start, end))
    compressed = end - start
    declared = entry.uncompressed_size
    # A hidden entry streamed with a data descriptor has no sizes in its local header.
    declared_known = not (entry.hidden and (entry.flags & 0x08 or declared in (0, 0xFFFFFFFF)))
    over_caps = declared_known and (_bomb(declared, compressed, limits) or declared > limits.max_entry_bytes)
    if over_caps:
        # Judged a bomb before inflating: analyse a prefix only (a payload placed early is still seen).
        budget = min(limits.bomb_scan_bytes, limits.max_entry_bytes)
    elif declared_known:
        budget = declared  # what loaders read; more output means the header lies
    else:
        budget = limits.max_entry_bytes
    try:
        got = _inflate(View(buf, start, end), entry.method, budget, limits)
    except _Unsupported:
        name = METHODS.get(entry.method, f"method {entry.method}")
        return EntryData(None, f"compression {name} is not supported", "zip.unsupported-compression")
    except (zlib.error, lzma.LZMAError, OSError, EOFError, ValueError) as exc:
        return EntryData(None, f"data does not decompress: {exc}", "zip.malformed")
    data = View(got.out)  # no copy of what may be hundreds of megabytes
    produced = len(got.out)
    if over_caps:
        ratio = declared // max(1, compressed)
        return EntryData(
            data,
            f"{compressed} compressed bytes declare {declared} bytes (ratio {ratio}:1), over the"
            f" decompression caps; only the first {produced} bytes were inflated and analysed",
            "zip.bomb",
            truncated=got.stopped,
        )
    if got.ratio_stop:
        ratio = produced // max(1, got.consumed)
        return EntryData(
            data,
            f"{got.consumed} compressed bytes inflate to more than {produced} bytes (ratio {ratio}:1; "
            f"{'declared' if declared_known else 'size not declared'}: {declared} bytes); stopped there",
            "zip.bomb",
            truncated=True,
        )
    if got.stopped and declared_known:
        return EntryData(
            data,
            f"data inflates past the {declared} bytes the central directory declares; analysed up to"
            " the declared size (what loaders read)",
            "zip.malformed",
            truncated=True,
        )
    if got.stopped:
        return EntryData(data, f"stopped at the {budget}-byte decompression cap", "zip.bomb", truncated=True)
    return EntryData(data)


class _Unsupported(Exception):
    pass


_IN_CHUNK = 1 << 16  # compressed bytes fed per step: small, so the ratio check reacts early
_OUT_STEP = 1 << 22  # decompressed bytes produced per step at most


@dataclass
class _Inflated:
    out: bytearray
    consumed: int  # compressed bytes fed to the decompressor
    stopped: bool  # output went past the budget: `out` was cut to the budget
    ratio_stop: bool  # stopped because the actual ratio is a bomb's


class _ZlibStream:
    """zlib's decompressobj with the needs_input / max_length interface of bz2 and lzma."""

    def __init__(self) -> None:
        self._d = zlib.decompressobj(-15)

    @property
    def eof(self) -> bool:
        return self._d.eof

    @property
    def needs_input(self) -> bool:
        return not self._d.unconsumed_tail

    @property
    def pending(self) -> int:
        return len(self._d.unconsumed_tail)

    def decompress(self, data: bytes, max_length: int) -> bytes:
        return self._d.decompress(data or self._d.unconsumed_tail, max_length)


def _inflate(src: View, method: int, budget: int, limits: ZipLimits) -> _Inflated:
    """Inflate at most `budget` bytes (one more to notice an overrun), stopping early on a bomb ratio."""
    dec: _ZlibStream | bz2.BZ2Decompressor | lzma.LZMADecompressor
    if method == 8:
        dec = _ZlibStream()
    elif method == 12:
        dec = bz2.BZ2Decompressor()
    elif method == 14:
        props_len = struct.unpack("<H", src[2:4])[0] if len(src) >= 4 else 0
        props = src[4 : 4 + props_len]
        if len(props) < 5:
            raise ValueError("short LZMA properties")
        d = props[0]
        lc, lp, pb = d % 9, (d // 9) % 5, d // 45
        (dict_size,) = struct.unpack("<I", props[1:5])
        dec = lzma.LZMADecompressor(
            lzma.FORMAT_RAW,
            filters=[{"id": lzma.FILTER_LZMA1, "dict_size": dict_size, "lc": lc, "lp": lp, "pb": pb}],
        )
        src = View(src, 4 + props_len)
    else:
        raise _Unsupported
    out = bytearray()
    pos = 0
    ratio_stop = False
    while not dec.eof and len(out) <= budget:
        room = min(budget + 1 - len(out), _OUT_STEP)
        if dec.needs_input:
            if pos >= len(src):
                # Input used up: drain what the decompressor still holds, then stop.
                more = dec.decompress(b"", room)
                if not more:
                    break
                out += more
                continue
            piece = src[pos : pos + _IN_CHUNK]
            pos += len(piece)
        else:
            piece = b""
        out += dec.decompress(piece, room)
        consumed = pos - (dec.pending if isinstance(dec, _ZlibStream) else 0)
        if _bomb(len(out), consumed, limits):
            ratio_stop = True
            break
    stopped = len(out) > budget
    if stopped:
        del out[budget:]
    consumed = pos - (dec.pending if isinstance(dec, _ZlibStream) else 0)
    return _Inflated(out, consumed, stopped or ratio_stop, ratio_stop)


def crc_ok(data: Buffer, expected: int) -> bool:
    crc = 0
    step = 1 << 22
    for i in range(0, len(data), step):
        crc = zlib.crc32(data[i : i + step], crc)
    return crc == expected


# ------------------------------------------------------------------------------------------------------
# What both readers derive from a listing
# ------------------------------------------------------------------------------------------------------


def visible_files(listing: ZipListing) -> list[ZipEntry]:
    """The entries a directory reader lists (no folders, no entries found only by their local header)."""
    return [e for e in listing.entries if not e.hidden and not e.is_dir]


def torch_root(listing: ZipListing) -> str:
    """The top folder torch's reader reads records from: the folder of the first central directory
    entry (caffe2's inline_container takes the archive's name from it); "" when that entry is at the
    root, which torch refuses ("file in archive is not in a subdirectory")."""
    visible = visible_files(listing)
    return visible[0].name.split("/", 1)[0] if visible and "/" in visible[0].name else ""


def duplicate_names(listing: ZipListing) -> dict[str, int]:
    """Names that more than one entry carries, with their count."""
    counts: dict[str, int] = {}
    for e in listing.entries:
        counts[e.name] = counts.get(e.name, 0) + 1
    return {name: n for name, n in counts.items() if n > 1}


def duplicate_ambiguity(name: str, n: int) -> str:
    """Why duplicate names are ambiguous: each reader takes another copy."""
    return (
        f"{n} entries are named {name!r}: Python's zipfile reads the last copy, PyTorch's reader"
        " the one its sorted lookup finds, extractors the one written last"
    )


def ambiguity_problems(listing: ZipListing, rel: str) -> list[Problem]:
    """Inspect's account of every reader disagreement the scan reports as `zip.ambiguous`: what inspect
    describes is one reader's view, and another loader reads other content. Errors: facts drawn from an
    ambiguous archive cannot be trusted for every loader (fail closed)."""
    messages: list[str] = []
    for issue in listing.issues:
        if issue.ambiguous:
            messages.append(
                issue.message if issue.rule_id == "zip.ambiguous" else f"{issue.message} — {issue.ambiguous}"
            )
    messages += [duplicate_ambiguity(name, n) for name, n in duplicate_names(listing).items()]
    unique = list(dict.fromkeys(messages))
    listed = unique[: caps.MAX_PROBLEMS_PER_FILE]
    problems = [Problem(file=rel, code="zip_ambiguous", message=m) for m in listed]
    if len(unique) > len(listed):
        more = len(unique) - len(listed)
        problems.append(Problem(file=rel, code="zip_ambiguous", message=f"{more} more reader disagreements"))
    return problems


# ------------------------------------------------------------------------------------------------------
# Members as inspect reads them: refused with a problem instead of analysed in part
# ------------------------------------------------------------------------------------------------------


def require_directory(listing: ZipListing) -> None:
    """Refuse an archive no directory reader can open (its entries were found by local headers only):
    loaders cannot load it, so inspect describes nothing of it (the scan still analyses every entry)."""
    if listing.cd_start is None:
        why = next(
            (i.message for i in listing.issues if i.rule_id == "zip.malformed"), "no central directory"
        )
        raise ArtifactProblem("corrupt_zip", f"zip archive is corrupt or truncated ({why})")


def is_bomb(entry: ZipEntry, limits: ZipLimits = ZIP_LIMITS) -> bool:
    """The central directory declares a bomb (the scan inflates only a prefix of such an entry)."""
    return _bomb(entry.uncompressed_size, entry.compressed_size, limits)


def check_member(entry: ZipEntry, *, cap: int, limits: ZipLimits = ZIP_LIMITS) -> None:
    """Raise if the member is password-protected, declares a bomb, or declares more than `cap` bytes."""
    if entry.encrypted:
        raise ArtifactProblem(
            "encrypted_entry", f"entry {entry.name!r} is encrypted (password-protected): not read"
        )
    if is_bomb(entry, limits):
        raise ArtifactProblem(
            "zip_bomb",
            f"entry {entry.name!r} expands {entry.uncompressed_size:,} bytes from {entry.compressed_size:,}"
            f" (ratio {entry.uncompressed_size // max(1, entry.compressed_size):,}:1):"
            " refusing to decompress it",
        )
    if entry.uncompressed_size > cap:
        raise ArtifactProblem(
            "entry_too_large",
            f"entry {entry.name!r} declares {entry.uncompressed_size:,} bytes, over the {cap:,}-byte cap",
        )


def read_member(buf: Buffer, entry: ZipEntry, *, cap: int, limits: ZipLimits = ZIP_LIMITS) -> Buffer:
    """A member's bytes (in place when stored), after `check_member`; never more than `cap` bytes."""
    check_member(entry, cap=min(cap, limits.max_entry_bytes), limits=limits)
    got = entry_data(buf, entry, limits)
    if got.data is None or (got.problem and got.rule_id != "zip.malformed") or got.truncated:
        why = got.problem or "its data cannot be located"
        code = "zip_bomb" if got.rule_id == "zip.bomb" else "corrupt_zip"
        raise ArtifactProblem(code, f"entry {entry.name!r} cannot be read ({why})")
    if len(got.data) > cap:
        raise ArtifactProblem("entry_too_large", f"entry {entry.name!r} expands beyond the {cap:,}-byte cap")
    return got.data


def crc_problem(data: Buffer, entry: ZipEntry, rel: str) -> Problem | None:
    """A warning when a member read whole does not match its CRC-32: PyTorch's reader loads it anyway,
    zipfile (numpy, Keras) refuses it — the scan reports the same as `zip.crc-mismatch`."""
    if crc_ok(data, entry.crc):
        return None
    return Problem(
        file=rel,
        code="crc_mismatch",
        message=f"entry {entry.name!r}: data does not match its CRC-32 (0x{entry.crc:08x}); PyTorch's reader"
        " loads it, zipfile-based loaders refuse it",
        severity="warning",
    )


def member_prefix(buf: Buffer, entry: ZipEntry, n: int) -> bytes:
    """The first `n` bytes of a member (fewer when it is shorter), inflating no more than that."""
    if entry.data_offset is None or entry.unreadable:
        raise ArtifactProblem(
            "corrupt_zip", f"entry {entry.name!r}: {entry.unreadable or 'local header missing'}"
        )
    start = entry.data_offset
    src = View(buf, start, min(len(buf), start + entry.compressed_size))
    if entry.method == 0:
        return src[:n]
    try:
        got = _inflate(src, entry.method, n, ZipCaps(bomb_min_bytes=n + 1))
    except _Unsupported:
        name = METHODS.get(entry.method, f"method {entry.method}")
        raise ArtifactProblem(
            "corrupt_zip", f"entry {entry.name!r}: compression {name} is not supported"
        ) from None
    except (zlib.error, lzma.LZMAError, OSError, EOFError, ValueError) as exc:
        raise ArtifactProblem("corrupt_zip", f"entry {entry.name!r} does not decompress ({exc})") from None
    return bytes(got.out[:n])
