"""`scan_paths`: walk the given files and folders, analyse every file by content, hash them in parallel.

One process, one memory map per file: each file is read once for analysis (headers and pickles only —
tensor bytes are skipped), in the calling thread, and, when asked, once more sequentially for its
SHA-256 in a thread pool, hashing running concurrently with the analysis (hashlib and file reads release
the GIL). The dispatcher `analyse_buffer` detects a buffer's format(s) from its bytes and is re-entered
for content found inside content (zip members, nested pickles, compressed streams, polyglot prefixes and
suffixes)."""

from __future__ import annotations

import io
import lzma
import mmap
import os
import tarfile
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from modelwarden import __version__
from modelwarden.artifacts.detect import compression_of, detect_bytes, is_tar_header, looks_like_pickle
from modelwarden.artifacts.zip import has_archive
from modelwarden.errors import UsageError
from modelwarden.records import ArtifactFormat, Finding, Problem, ScannedFile, ScanReport
from modelwarden.scan.context import DEFAULT_LIMITS, Buffer, Ctx, Limits, Scope, Sink, View
from modelwarden.untrusted.io import open_regular

if TYPE_CHECKING:
    from modelwarden.hashing import HashCache
    from modelwarden.scan import folders

# Each format's analyser is imported by the branch that needs it, not here: a scan of one pickle
# then loads neither the Keras, NumPy, ONNX, GGUF nor config analysers (nor their data files), which
# was most of `modelwarden scan`'s start-up (docs/scan.md "Where the time goes"). Python caches the module
# after the first file, so a folder pays each import once.

HEAD = 4096
_EXECUTABLE_MAGIC = {
    b"\x7fELF": "ELF executable or shared library",
    b"MZ": "Windows PE executable or DLL",
    b"\xfe\xed\xfa\xce": "Mach-O binary",
    b"\xfe\xed\xfa\xcf": "Mach-O binary",
    b"\xce\xfa\xed\xfe": "Mach-O binary",
    b"\xcf\xfa\xed\xfe": "Mach-O binary",
    b"\xca\xfe\xba\xbe": "Mach-O universal binary or Java class",
}
_UNSCANNABLE_MAGIC = {
    b"7z\xbc\xaf\x27\x1c": "7z archive",
    b"Rar!\x1a\x07": "RAR archive",
    b"\x28\xb5\x2f\xfd": "zstd-compressed data",
    b"MSCF": "CAB archive",
}
_ZIP_KINDS = {
    ArtifactFormat.ZIP,
    ArtifactFormat.NPZ,
    ArtifactFormat.KERAS,
    ArtifactFormat.TORCH_ZIP,
    ArtifactFormat.TORCHSCRIPT,
}
# Formats whose analysers look at the bytes after their own end themselves.
_CHECKS_OWN_TAIL = {ArtifactFormat.PICKLE, ArtifactFormat.JOBLIB, ArtifactFormat.SAFETENSORS}


def analyse_buffer(buf: Buffer, scope: Scope, ctx: Ctx) -> list[ArtifactFormat]:
    """Analyse one buffer as every format it parses as; returns those formats (first = primary)."""
    head = buf[:HEAD]
    fmt = detect_bytes(head, size=len(buf))
    formats = [fmt]
    name = scope.name
    sniffed = False
    if fmt is ArtifactFormat.GGUF:
        from modelwarden.scan import gguf_files

        gguf_files.analyse_gguf(buf, scope, ctx)
    elif fmt is ArtifactFormat.NPY:
        from modelwarden.scan import numpy_files

        numpy_files.analyse_npy(buf, scope, ctx)
    elif fmt in (ArtifactFormat.HDF5, ArtifactFormat.KERAS_H5):
        formats[0] = _hdf5(buf, scope, ctx)
    elif fmt is ArtifactFormat.ZIP:
        from modelwarden.scan import zips

        formats[0] = zips.analyse_zip(buf, scope, ctx)
    elif fmt is ArtifactFormat.TORCH_LEGACY:
        from modelwarden.scan import pickles

        pickles.analyse_torch_legacy(buf, scope, ctx)
    elif fmt is ArtifactFormat.SAFETENSORS:
        from modelwarden.scan import safetensors_files

        safetensors_files.analyse_safetensors(buf, scope, ctx)
    elif fmt in (ArtifactFormat.PICKLE, ArtifactFormat.JOBLIB):
        from modelwarden.scan import pickles

        if compression_of(head):
            formats[0] = ArtifactFormat.JOBLIB
            pickles.analyse_compressed(buf, scope, ctx)
        else:
            pickles.analyse_stream(
                buf, scope, ctx, context="joblib" if fmt is ArtifactFormat.JOBLIB else "plain"
            )
    elif name == "saved_model.pb":
        from modelwarden.scan import savedmodel

        formats[0] = ArtifactFormat.SAVEDMODEL
        savedmodel.analyse_saved_model(buf, scope, ctx)
    elif name == "keras_metadata.pb":
        from modelwarden.scan import savedmodel

        savedmodel.analyse_keras_metadata(buf, scope, ctx)
    elif fmt is ArtifactFormat.ONNX or (name.endswith(".onnx") and _looks_like_onnx(buf)):
        from modelwarden.scan import onnx_files

        formats[0] = ArtifactFormat.ONNX
        onnx_files.analyse_onnx(buf, scope, ctx)
    elif fmt is ArtifactFormat.JSON:
        from modelwarden.scan import configs

        configs.analyse_json(buf, scope, ctx)
    elif fmt is ArtifactFormat.TEXT:
        from modelwarden.scan import configs

        configs.analyse_text(buf, scope, ctx)
        from modelwarden.scan import pickles

        if pickles.executes_as_pickle(buf, ctx):
            formats.append(ArtifactFormat.PICKLE)
            pickles.analyse_stream(buf, scope, ctx)
    else:
        _sniff(buf, head, scope, ctx)
        sniffed = True
    # torch.load tries the legacy tar format first whenever tarfile accepts the file, whatever its
    # first bytes look like (a tar header's name field can hold a pickle).
    if not sniffed and is_tar_header(head[:512]):
        _tar(buf, scope.child("tar archive", name=name), ctx)
    # Polyglots (docs/reference/scanners.md §6): a zip's directory sits at the end of the file, so a file that
    # starts as one format can also be a complete zip to readers that look from the end.
    if formats[0] not in _ZIP_KINDS and has_archive(buf):
        from modelwarden.scan import zips

        if formats[0] in _CHECKS_OWN_TAIL:
            # Its analyser scans the bytes after its own end (the zip among them); what remains to say
            # is that loaders disagree on what this file is.
            zips.report_polyglot(buf, scope, ctx, formats[0].value)
        else:
            formats.append(zips.analyse_zip(buf, scope.child("zip appended to the file", name=name), ctx))
    return formats


def _looks_like_onnx(buf: Buffer) -> bool:
    from modelwarden.scan import onnx_files

    return onnx_files.looks_like_model(buf)


def _hdf5(buf: Buffer, scope: Scope, ctx: Ctx) -> ArtifactFormat:
    from modelwarden.scan import keras_files, pickles

    # A file on disk is opened by path; a member of a container through a file view (no copy).
    source: object = scope.path if scope.path is not None else io.BufferedReader(pickles.BufferIO(buf))
    is_keras = keras_files.analyse_h5(source, scope, ctx, buf=buf)
    return ArtifactFormat.KERAS_H5 if is_keras else ArtifactFormat.HDF5


def _sniff(buf: Buffer, head: bytes, scope: Scope, ctx: Ctx) -> None:
    for magic, what in _EXECUTABLE_MAGIC.items():
        if head.startswith(magic) and (magic != b"MZ" or b"PE\x00\x00" in head[:1024]):
            ctx.add(scope, "folder.executable", f"{what}", evidence=what)
            return
    for magic, what in _UNSCANNABLE_MAGIC.items():
        if head.startswith(magic):
            ctx.add(scope, "archive.unscannable", f"{what}: its content cannot be analysed", evidence=what)
            return
    if (len(head) >= 9 and head[8:9] == b"{") or scope.name.endswith(".safetensors"):
        from modelwarden.scan import safetensors_files

        # A safetensors header whose declared length detection refused (beyond the file or the cap).
        safetensors_files.analyse_safetensors(buf, scope, ctx)
        return
    if (len(head) > 262 and head[257:262] == b"ustar") or is_tar_header(head[:512]):
        _tar(buf, scope, ctx)
        return
    from modelwarden.scan import pickles

    kind = compression_of(head)
    if kind:
        # Compressed, but not a pickle at its start (else detection said joblib): a .gz/.xz of
        # something else. Decompress under the caps and analyse what is inside.
        ctx.add(scope, "archive.nested", f"{kind}-compressed data; its content was scanned")
        stream = pickles._decompressor(kind, buf)
        if stream is None:
            ctx.add(scope, "archive.unscannable", f"{kind} stream cannot be read")
            return
        try:
            data = _read_compressed(stream, len(buf), kind, scope, ctx)
        except (OSError, EOFError, ValueError, RuntimeError, zlib.error, lzma.LZMAError) as exc:
            ctx.add(scope, "archive.unscannable", f"{kind} stream is corrupt: {exc}")
            return
        inner_name = scope.name.rsplit(".", 1)[0] if "." in scope.name else scope.name
        ctx.nested(data, scope.child(f"{kind} content", name=inner_name))
        return
    if looks_like_pickle(head) or pickles.executes_as_pickle(buf, ctx):
        # The second test: headerless pickles that detection's first-opcodes check refuses (a
        # protocol 0 stream broken after its call, STACK_GLOBAL operands at byte 0) still run.
        pickles.analyse_stream(buf, scope, ctx)


def _read_compressed(stream: IO[bytes], packed: int, kind: str, scope: Scope, ctx: Ctx) -> View:
    """A compressed stream's content, inflated in chunks and cut off like a zip bomb entry: past
    the size cap, or past the bomb ratio once over the bomb minimum (a 1 MB .gz of zeros would
    otherwise fill a gigabyte of memory before the size cap noticed)."""
    lim = ctx.limits
    out = bytearray()
    while len(out) <= lim.max_entry_bytes:
        chunk = stream.read(1 << 20)
        if not chunk:
            return View(out)  # shared, not copied
        out += chunk
        if len(out) > lim.bomb_min_bytes and len(out) > lim.bomb_ratio * max(packed, 1):
            ctx.add(
                scope,
                "archive.decompression-limit",
                f"{kind} content expands over {lim.bomb_ratio}:1 from {packed:,} bytes (possible "
                f"decompression bomb); only its first {lim.bomb_scan_bytes:,} bytes were analysed",
            )
            return View(out, 0, lim.bomb_scan_bytes)
    ctx.add(scope, "archive.decompression-limit", f"{kind} content exceeds {lim.max_entry_bytes} bytes")
    return View(out, 0, lim.max_entry_bytes)


def _tar(buf: Buffer, scope: Scope, ctx: Ctx) -> None:
    from modelwarden.scan import pickles, torch_tar

    try:
        with tarfile.open(fileobj=io.BufferedReader(pickles.BufferIO(buf)), mode="r:") as tar:
            members = tar.getmembers()[: ctx.limits.max_zip_entries]
            # What torch.load reads: tarfile.extract/extractfile take the last member of a name.
            last = {m.name: m for m in members if m.name in torch_tar.TORCH_MEMBERS}
            analysed: set[int] = set()  # members read as torch reads them, not again by content
            if "storages" in last:  # read first: its pickles run even if a later member is missing
                resolved = torch_tar.resolve_members(last, members, scope, ctx)
                analysed = {id(m) for m in resolved.values()}
                torch_tar.analyse_members(
                    {k: _tar_member(buf, tar, m, ctx) for k, m in resolved.items()}, scope, ctx
                )
            else:
                ctx.add(scope, "archive.nested", "tar archive; its members were scanned")
            for count, member in enumerate(tar):
                if count >= ctx.limits.max_zip_entries:
                    break
                if member.issym() or member.islnk():
                    target = member.linkname
                    if target.startswith("/") or ".." in target.split("/"):
                        ctx.add(
                            scope,
                            "zip.path-traversal",
                            f"tar link {member.name!r} -> {target!r}",
                            entry=member.name,
                        )
                    continue
                if member.name.startswith("/") or ".." in member.name.split("/"):
                    ctx.add(
                        scope,
                        "zip.path-traversal",
                        f"tar member name {member.name!r} escapes",
                        entry=member.name,
                    )
                if not member.isfile() or id(member) in analysed:
                    continue
                if member.size > ctx.limits.max_entry_bytes:
                    ctx.add(
                        scope,
                        "archive.decompression-limit",
                        f"tar member {member.name!r} is too large",
                        entry=member.name,
                    )
                    continue
                fh = tar.extractfile(member)
                if fh is not None:
                    data = fh.read()
                    ctx.nested(data, scope.child(member.name, name=os.path.basename(member.name)))
    except (tarfile.TarError, OSError, EOFError, ValueError) as exc:
        ctx.add(scope, "zip.malformed", f"tar archive is damaged: {exc}")


def _tar_member(buf: Buffer, tar: tarfile.TarFile, member: tarfile.TarInfo, ctx: Ctx) -> Buffer:
    if not member.issparse():
        # A regular member's bytes are contiguous in the archive: a view, not a copy of gigabytes.
        return View(buf, member.offset_data, member.offset_data + member.size)
    fh = tar.extractfile(member)
    return fh.read(ctx.limits.max_entry_bytes) if fh is not None else b""


# ------------------------------------------------------------------------------------------------------
# Files and folders
# ------------------------------------------------------------------------------------------------------


@dataclass
class _Target:
    path: Path
    display: str
    root: Path | None


def scan_paths(
    paths: Iterable[Path | str],
    *,
    hash_files: bool = True,
    hash_cache: bool = True,
    limits: Limits = DEFAULT_LIMITS,
    workers: int | None = None,
) -> ScanReport:
    """Scan files and folders for unsafe content, executing nothing.

    Raises `UsageError` for a path that is missing or neither a regular file nor a folder; special files
    found inside a folder are reported as problems (not opened). With `hash_cache`, a file whose device,
    inode, size, mtime and ctime are unchanged since an earlier run takes its digest from the cache
    (`modelwarden.hashing.HashCache`) instead of being read again.
    """
    started = time.perf_counter()
    targets: list[_Target] = []
    findings: list[Finding] = []
    problems: list[Problem] = []
    seen: set[str] = set()
    for raw in paths:
        p = Path(raw)
        if not p.exists() and not p.is_symlink():
            raise UsageError("no such file or directory", path=p)
        if p.is_dir():
            from modelwarden.scan import folders

            walked = folders.walk(p)
            problems.extend(walked.problems)
            for issue in walked.issues:
                findings.append(_folder_finding(p, issue, limits))
            for f in walked.files:
                _add_target(targets, seen, _Target(f.path, str(p / f.rel), p))
        elif not p.is_file():
            # Named on the command line like a missing path, so refused like one: a device or FIFO
            # cannot be scanned (reading /dev/zero never ends, a FIFO blocks), and a report of the other
            # paths would read as a pass for this one.
            if not p.exists():
                raise UsageError(f"symbolic link to {os.readlink(p)!r} points to nothing", path=p)
            raise UsageError("not a regular file or folder (device, socket or pipe): not scanned", path=p)
        else:
            _add_target(targets, seen, _Target(p, str(p), p.parent))
    files: dict[str, ScannedFile] = {}
    hashes: dict[str, str | None] = {}
    if hash_files:
        results = _analyse_and_hash(targets, limits, hashes, hash_cache=hash_cache, workers=workers)
    else:
        # Without hashing there is nothing to run in parallel: no thread pool (nor its imports).
        results = [(t, _scan_file(t, limits)) for t in targets]
    for t, (scanned, file_findings, problem) in results:
        if problem is not None:
            problems.append(problem)
        if scanned is not None:
            if hash_files:
                scanned.sha256 = hashes[t.display]
            files[t.display] = scanned
        findings.extend(file_findings)
    rank = {f: i for i, f in enumerate(sorted(files))}
    findings.sort(
        key=lambda f: (
            rank.get(f.file, -1),
            f.file,
            -f.severity.rank,
            f.location.entry or "",
            f.location.offset or 0,
        )
    )
    return ScanReport(
        files=[files[k] for k in sorted(files)],
        findings=findings,
        problems=problems,
        tool_version=__version__,
        duration_seconds=round(time.perf_counter() - started, 3),
    )


def _analyse_and_hash(
    targets: list[_Target],
    limits: Limits,
    hashes: dict[str, str | None],
    *,
    hash_cache: bool,
    workers: int | None,
) -> list[tuple[_Target, tuple[ScannedFile | None, list[Finding], Problem | None]]]:
    """Analyse every target in this thread while worker threads hash them; `hashes` receives the
    digests (None for a file that could not be read), complete when this returns."""
    from modelwarden.hashing import HashCache

    cache = HashCache() if hash_cache else None
    try:
        # Digests the cache already holds are looked up here: an unchanged file re-scanned starts no
        # thread at all.
        todo = []
        for t in targets:
            known = _cached(t.path, cache)
            if known is None:
                todo.append(t)
            else:
                hashes[t.display] = known
        # The analysis runs in this thread, file after file; only hashing runs in other threads.
        # Analysing is Python holding the GIL (page faults on the memory map included), so analysis
        # threads only contend: on a folder of 16 checkpoint shards, 8 of them took 10 ms where one
        # took 6.5 ms and this thread alone 5 ms. SHA-256 releases the GIL while it reads and
        # digests, so files hash in parallel with each other and with the analysis.
        # Biggest files first: the longest hash starts first and overlaps everything else.
        todo.sort(key=lambda t: -_size(t.path))
        count = max(1, min(len(todo), workers or min(8, os.cpu_count() or 1)))
        pool = _HashThreads(todo, cache, hashes, count if todo else 0)
        try:
            return [(t, _scan_file(t, limits)) for t in targets]
        finally:
            pool.join()
    finally:
        if cache is not None:
            cache.close()


def _cached(path: Path, cache: HashCache | None) -> str | None:
    from modelwarden.hashing import cached_digest

    if cache is None:
        return None
    try:
        return cached_digest(path, cache)
    except OSError:
        return None


class _HashThreads:
    """`count` threads hashing `todo` (biggest first) into `hashes`; `join` waits for them and
    re-raises what a thread raised (as a thread pool's `result()` would). No concurrent.futures: its
    import (and logging's) cost more start-up than the rest of hashing."""

    def __init__(
        self, todo: list[_Target], cache: HashCache | None, hashes: dict[str, str | None], count: int
    ) -> None:
        import threading

        self._todo = iter(todo)
        self._lock = threading.Lock()
        self._cache = cache
        self._hashes = hashes
        self._error: BaseException | None = None
        self._threads = [
            threading.Thread(target=self._work, name="modelwarden-sha256", daemon=True) for _ in range(count)
        ]
        for th in self._threads:
            th.start()

    def _work(self) -> None:
        while True:
            with self._lock:
                t = next(self._todo, None)
            if t is None or self._error is not None:
                return
            try:
                self._hashes[t.display] = _sha256(t.path, self._cache)
            except BaseException as exc:  # re-raised in the calling thread by join()
                self._error = exc
                return

    def join(self) -> None:
        for th in self._threads:
            th.join()
        if self._error is not None:
            raise self._error


def _add_target(targets: list[_Target], seen: set[str], t: _Target) -> None:
    key = os.path.realpath(t.path)
    if key not in seen:
        seen.add(key)
        targets.append(t)


def _folder_finding(root: Path, issue: folders.FolderIssue, limits: Limits) -> Finding:
    sink = Sink(limits=limits)
    sink.add(Scope(file=str(root / issue.rel)), issue.rule_id, issue.message, evidence=issue.evidence)
    return sink.findings[0]


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _sha256(path: Path, cache: HashCache | None) -> str | None:
    from modelwarden.hashing import cached_sha256

    try:
        return cached_sha256(path, cache)
    except OSError:
        return None


def _scan_file(t: _Target, limits: Limits) -> tuple[ScannedFile | None, list[Finding], Problem | None]:
    try:
        fh = open_regular(t.path)
    except OSError as exc:
        return (
            None,
            [],
            Problem(file=t.display, code="unreadable", message=f"cannot open: {exc.strerror or exc}"),
        )
    with fh:
        try:
            size = os.fstat(fh.fileno()).st_size
            buf: Buffer = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        except (OSError, ValueError) as exc:
            return None, [], Problem(file=t.display, code="unreadable", message=f"cannot read: {exc}")
        sink = Sink(limits=limits)
        ctx = Ctx(sink=sink, dispatch=analyse_buffer, limits=limits)
        scope = Scope(file=t.display, path=t.path, root=t.root, name=t.path.name)
        formats = [ArtifactFormat.UNKNOWN]
        try:
            formats = analyse_buffer(buf, scope, ctx)
        except Exception as exc:  # a bug in one analyser must not hide the other files
            ctx.add(scope, "scan.incomplete", f"analysis stopped: {type(exc).__name__}: {exc}")
        finally:
            if isinstance(buf, mmap.mmap):
                buf.close()
    scanned = ScannedFile(path=t.display, format=formats[0], size=size, also_scanned_as=formats[1:])
    return scanned, sink.finish(), None


@dataclass
class SourceTarget:
    """A file to scan that is not on this disk (a hub file read by byte ranges)."""

    display: str
    """How findings name the file (`hf://org/name@commit/path`)."""
    name: str
    """Its file name (some formats are recognised by name as well as content)."""
    buffer: Buffer
    """Its bytes as the analysers index them (every slice a read of the source)."""


def scan_sources(
    sources: Iterable[SourceTarget],
    paths: Iterable[tuple[Path, str]] = (),
    *,
    limits: Limits = DEFAULT_LIMITS,
) -> ScanReport:
    """Scan files that are not on this disk (`sources`) with local ones (`paths`: path and display name),
    by the same analysers as `scan_paths`; nothing is hashed (the caller has the host's digests)."""
    started = time.perf_counter()
    results = [_scan_file(_Target(p, display, p.parent), limits) for p, display in paths]
    results += [_scan_source(t, limits) for t in sources]
    files = {s.path: s for s, _f, _p in results if s is not None}
    findings = [f for _s, fs, _p in results for f in fs]
    rank = {f: i for i, f in enumerate(sorted(files))}
    findings.sort(
        key=lambda f: (
            rank.get(f.file, -1),
            f.file,
            -f.severity.rank,
            f.location.entry or "",
            f.location.offset or 0,
        )
    )
    return ScanReport(
        files=[files[k] for k in sorted(files)],
        findings=findings,
        problems=[p for _s, _f, p in results if p is not None],
        tool_version=__version__,
        duration_seconds=round(time.perf_counter() - started, 3),
    )


def _scan_source(t: SourceTarget, limits: Limits) -> tuple[ScannedFile | None, list[Finding], Problem | None]:
    sink = Sink(limits=limits)
    ctx = Ctx(sink=sink, dispatch=analyse_buffer, limits=limits)
    scope = Scope(file=t.display, path=None, root=None, name=t.name)
    formats = [ArtifactFormat.UNKNOWN]
    try:
        formats = analyse_buffer(t.buffer, scope, ctx)
    except Exception as exc:  # a failed remote read included: unverified, never a pass
        ctx.add(scope, "scan.incomplete", f"analysis stopped: {type(exc).__name__}: {exc}"[:400])
    scanned = ScannedFile(path=t.display, format=formats[0], size=len(t.buffer), also_scanned_as=formats[1:])
    return scanned, sink.finish(), None


__all__ = ["SourceTarget", "View", "analyse_buffer", "scan_paths", "scan_sources"]
