"""Zip containers: PyTorch archives (torch.save, TorchScript), Keras .keras, NumPy .npz, any other zip.

Every entry is analysed by its content, not its name (a pickle under `config.p` is still a pickle:
CVE-2025-1889), except the raw tensor storages a PyTorch archive's `data.pkl` names, which are tensor
bytes and are skipped so that a multi-gigabyte checkpoint costs only its pickle. Structural tricks
found by the one zip reader (`artifacts/zip.py`) are findings (docs/reference/scanners.md §5).
"""

from __future__ import annotations

import posixpath
import re

from modelwarden.artifacts.detect import archive_kind, looks_like_pickle
from modelwarden.artifacts.zip import (
    EntryData,
    ZipEntry,
    ZipListing,
    crc_ok,
    duplicate_ambiguity,
    duplicate_names,
    entry_data,
    read_listing,
    torch_root,
)
from modelwarden.records import ArtifactFormat
from modelwarden.scan import keras_files, pickles
from modelwarden.scan.context import Buffer, Ctx, Scope, View
from modelwarden.scan.policy import load_policy

# Names (relative to the archive's top folder) that torch.save / torch.jit.save write.
_TORCH_PICKLES = {"data.pkl"}
_TORCHSCRIPT_PICKLES = {"data.pkl", "constants.pkl", "bytecode.pkl", "attributes.pkl"}
_TORCH_RECORDS = {
    "version",
    ".data/version",
    "byteorder",
    ".data/serialization_id",
    ".format_version",
    ".storage_alignment",
}
_CRC_ALWAYS_BELOW = 64 << 20  # entries this small get their CRC checked even when not parsed
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")
_OPS_NAMESPACE = re.compile(rb"\bops\.([A-Za-z_][A-Za-z0-9_]*)\.")


def analyse_zip(buf: Buffer, scope: Scope, ctx: Ctx) -> ArtifactFormat:
    listing = read_listing(buf, ctx.limits)
    for issue in listing.issues:
        if issue.rule_id != "zip.ambiguous":
            ctx.add(scope, issue.rule_id, issue.message, offset=issue.offset, entry=issue.entry)
        if issue.ambiguous:
            # Recorded separately so the verdict fails closed whatever the issue's own severity.
            ctx.add(
                scope,
                "zip.ambiguous",
                f"{issue.message} — {issue.ambiguous}" if issue.rule_id != "zip.ambiguous" else issue.message,
                offset=issue.offset,
                entry=issue.entry,
                evidence=issue.ambiguous,
            )
    names = [e.name for e in listing.entries if not e.hidden]
    kind = archive_kind(listing, scope.name)
    _structure(listing, scope, ctx)
    if listing.prefix_end > 0:
        ctx.nested(View(buf, 0, listing.prefix_end), scope.child("bytes before the zip", name=scope.name))
    if listing.trailing is not None:
        start, end = listing.trailing
        ctx.nested(View(buf, start, end), scope.child("bytes after the zip", name=scope.name))
    _alternates(buf, listing, scope, ctx)
    if kind in (ArtifactFormat.TORCH_ZIP, ArtifactFormat.TORCHSCRIPT):
        _torch_archive(buf, listing, scope, ctx, torchscript=kind is ArtifactFormat.TORCHSCRIPT)
    else:
        if kind is ArtifactFormat.ZIP and scope.depth == 0:
            ctx.add(
                scope, "archive.nested", f"zip archive with {len(names)} entries; every entry was scanned"
            )
        for entry in listing.entries:
            if entry.is_dir:
                continue
            if kind is ArtifactFormat.KERAS and entry.name == "config.json" and not entry.hidden:
                _keras_config(buf, entry, scope, ctx)
            else:
                _generic_entry(buf, entry, scope, ctx)
    return kind


def report_polyglot(buf: Buffer, scope: Scope, ctx: Ctx, fmt: str) -> None:
    """A file of another format that zip readers (which look from the end) also open as an archive."""
    listing = read_listing(buf, ctx.limits)
    ctx.add(
        scope,
        "zip.ambiguous",
        f"the file is {fmt} to loaders that read from its start and a zip archive of"
        f" {len(listing.entries)} entries to zip readers (zipfile, Keras, numpy's NpzFile), which look"
        " from its end",
        evidence=f"{fmt} + zip",
    )


def _structure(listing: ZipListing, scope: Scope, ctx: Ctx) -> None:
    for name, n in duplicate_names(listing).items():
        ctx.add(scope, "zip.duplicate-entry", f"{n} entries are named {name!r}", entry=name, evidence=name)
        ctx.add(scope, "zip.ambiguous", duplicate_ambiguity(name, n), entry=name, evidence=name)
    for e in listing.entries:
        for candidate in {e.name, e.local_name or e.name}:
            reason = _traversal(candidate)
            if reason:
                ctx.add(scope, "zip.path-traversal", f"entry name {candidate!r} {reason}", entry=e.name)


def _traversal(name: str) -> str | None:
    if name.startswith(("/", "\\")) or _WINDOWS_DRIVE.match(name):
        return "is absolute"
    parts = re.split(r"[\\/]", name)
    if ".." in parts:
        return "climbs out of the extraction folder with '..'"
    return None


def _read(buf: Buffer, entry: ZipEntry, scope: Scope, ctx: Ctx, *, parse_all: bool) -> Buffer | None:
    """The entry's bytes (or None), reporting decompression problems and CRC mismatches."""
    return _read_entry(buf, entry, scope, ctx, parse_all=parse_all).data


def _read_entry(buf: Buffer, entry: ZipEntry, scope: Scope, ctx: Ctx, *, parse_all: bool) -> EntryData:
    if entry.encrypted:
        return _encrypted_entry(buf, entry, scope, ctx)
    got = entry_data(buf, entry, ctx.limits)
    if got.problem and got.rule_id:
        ctx.add(
            scope, got.rule_id, f"{entry.name!r}: {got.problem}", entry=entry.name, offset=entry.header_offset
        )
    if got.data is None:
        return got
    data = got.data
    if not got.truncated and (parse_all or len(data) <= _CRC_ALWAYS_BELOW) and not crc_ok(data, entry.crc):
        ctx.add(
            scope,
            "zip.crc-mismatch",
            f"{entry.name!r}: data does not match its CRC-32 (0x{entry.crc:08x})",
            entry=entry.name,
            offset=entry.header_offset,
        )
    return got


def _encrypted_entry(buf: Buffer, entry: ZipEntry, scope: Scope, ctx: Ctx) -> EntryData:
    """An entry both headers mark as encrypted: genuinely password-protected (its CRC is that of the
    plain text, so it does not match the stored bytes — not a CRC mismatch), or plain data with the flag
    set to make zipfile-based scanners give up while readers that ignore the flag load it
    (CVE-2025-1945)."""
    got = entry_data(buf, entry, ctx.limits)
    if got.data is not None and not got.truncated and crc_ok(got.data, entry.crc):
        ctx.add(
            scope,
            "zip.flag-bits",
            f"{entry.name!r} is marked encrypted but its data is plain (its CRC-32 matches): readers that"
            " ignore the flag load it",
            entry=entry.name,
            offset=entry.header_offset,
        )
        return got
    ctx.add(
        scope,
        "zip.encrypted",
        f"{entry.name!r} is encrypted (password-protected): its content cannot be scanned",
        entry=entry.name,
        offset=entry.header_offset,
    )
    return EntryData(None)


def _alternates(buf: Buffer, listing: ZipListing, scope: Scope, ctx: Ctx) -> None:
    """Entries only another zip reader sees (another end record or zip64 record): scanned too, so the
    report shows what each reader would load."""
    known = {(e.header_offset, e.name) for e in listing.entries}
    for alt in listing.alternates:
        for entry in alt.entries:
            if entry.is_dir or (entry.header_offset, entry.name) in known:
                continue
            known.add((entry.header_offset, entry.name))
            data = _read(buf, entry, scope, ctx, parse_all=True)
            if data is not None:
                label = f"{entry.name} (as read by {alt.reader})"
                ctx.nested(data, scope.child(label, name=posixpath.basename(entry.name)))


def _keras_config(buf: Buffer, entry: ZipEntry, scope: Scope, ctx: Ctx) -> None:
    """A .keras config.json: the object graph load_model rebuilds. Unlike a release's other JSON files,
    one that does not parse is a finding (keras.malformed): the loader's view of it is unknown."""
    got = _read_entry(buf, entry, scope, ctx, parse_all=True)
    if got.data is None or got.truncated:
        return  # already reported (zip.bomb / zip.malformed): a prefix cut at a cap is not the config
    keras_files.analyse_json_config(got.data, scope.child(entry.name, name="config.json"), ctx)


def _generic_entry(buf: Buffer, entry: ZipEntry, scope: Scope, ctx: Ctx) -> None:
    data = _read(buf, entry, scope, ctx, parse_all=True)
    if data is None:
        return
    label = entry.name + (" (hidden entry)" if entry.hidden else "")
    ctx.nested(data, scope.child(label, name=posixpath.basename(entry.name)))


def _torch_archive(buf: Buffer, listing: ZipListing, scope: Scope, ctx: Ctx, *, torchscript: bool) -> None:
    entries = [e for e in listing.entries if not e.is_dir]
    visible = [e for e in entries if not e.hidden]
    root = torch_root(listing)
    prefix = root + "/"
    outside = [e for e in visible if not e.name.startswith(prefix)]
    if outside:
        ctx.add(
            scope,
            "zip.entry-outside-root",
            f"{len(outside)} entries outside the top folder {root!r} that torch.load reads, e.g. "
            f"{outside[0].name!r}",
            entry=outside[0].name,
        )
    expected_pickles = _TORCHSCRIPT_PICKLES if torchscript else _TORCH_PICKLES
    context = "torchscript" if torchscript else "torch"
    storage_keys: set[str] = set()
    # The object pickles first: they name the storages, which are tensor bytes and need no reading.
    for e in entries:
        rel = e.name[len(prefix) :] if e.name.startswith(prefix) else None
        if rel in expected_pickles:
            data = _read(buf, e, scope, ctx, parse_all=True)
            if data is not None:
                result = pickles.analyse_stream(data, scope.child(e.name, name=rel), ctx, context=context)
                storage_keys |= result.storage_keys()
    storages = {f"{prefix}data/{k}" for k in storage_keys} | {f"{prefix}constants/{k}" for k in storage_keys}
    code_entries = 0
    for e in entries:
        rel = e.name[len(prefix) :] if e.name.startswith(prefix) else None
        if rel in expected_pickles:
            continue
        if e.name in storages and not e.hidden:
            continue  # raw tensor bytes named by the pickle
        if rel is not None and rel in _TORCH_RECORDS and e.compressed_size <= 4096:
            _read(buf, e, scope, ctx, parse_all=True)
            continue
        if torchscript and rel is not None and rel.startswith("code/"):
            code_entries += 1
            _torchscript_code(buf, e, scope, ctx, rel)
            continue
        data = _read(buf, e, scope, ctx, parse_all=False)
        if data is None:
            continue
        child = scope.child(e.name + (" (hidden entry)" if e.hidden else ""), name=posixpath.basename(e.name))
        if looks_like_pickle(data[:64]):
            ctx.add(
                scope,
                "zip.unexpected-pickle",
                f"pickle stored as {e.name!r}, not as the archive's data.pkl",
                entry=e.name,
                evidence=e.name,
            )
            pickles.analyse_stream(data, child, ctx, context=context)
        else:
            ctx.nested(data, child)
    if torchscript:
        ctx.add(
            scope,
            "torch.torchscript-code",
            f"TorchScript archive with {code_entries} code entries: torch.jit.load compiles and runs them",
            entry=f"{prefix}code/",
        )


def _torchscript_code(buf: Buffer, entry: ZipEntry, scope: Scope, ctx: Ctx, rel: str) -> None:
    data = _read(buf, entry, scope, ctx, parse_all=True)
    if data is None:
        return
    raw = data[: len(data)]
    if rel.endswith(".debug_pkl"):
        pickles.analyse_stream(raw, scope.child(entry.name, name=rel), ctx, context="torchscript")
        return
    allowed = load_policy().torchscript_namespaces
    for match in _OPS_NAMESPACE.finditer(raw):
        ns = match.group(1).decode("ascii", "replace")
        if ns not in allowed:
            ctx.add(
                scope,
                "torch.torchscript-custom-op",
                f"TorchScript calls operators in the namespace {ns!r}, which needs a native library",
                entry=entry.name,
                offset=match.start(),
                evidence=f"ops.{ns}",
            )
