"""What every format analyser shares: where it is (Scope), where findings go (Sink), the safety limits,
and a zero-copy view over part of a file.

Analysers work on buffers (a memory-mapped file, a slice of it, or bytes decompressed from a container),
never on paths, so that a pickle inside a zip inside a joblib file is analysed by the same code as a
pickle on disk.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from modelwarden import limits as caps
from modelwarden.artifacts.source import Buffer as Buffer
from modelwarden.artifacts.source import View as View
from modelwarden.records import ArtifactFormat, Finding, Location
from modelwarden.scan.rules import rule


@dataclass(frozen=True)
class Limits:
    """Caps on untrusted sizes (docs/reference/scanners.md §14). Exceeding one is a finding, never a crash.

    The defaults are the one table in `modelwarden.limits`, which inspect's readers read too; a field
    exists so that a test or a caller can lower a cap for one scan."""

    max_pickle_ops: int = caps.MAX_PICKLE_OPS
    """Opcodes walked in one pickle."""
    max_pickles_per_stream: int = caps.MAX_PICKLES_PER_STREAM
    """Pickles read one after another from one stream."""
    max_depth: int = caps.MAX_NESTING_DEPTH
    """Containers within containers (zip in zip, nested pickles)."""
    max_entry_bytes: int = caps.MAX_ENTRY_BYTES
    """Decompressed size of one archive member held in memory."""
    max_stream_bytes: int = caps.MAX_STREAM_BYTES
    """Decompressed bytes read from one compressed stream."""
    bomb_ratio: int = caps.ZIP_BOMB_RATIO
    """Compression ratio considered a bomb once the entry exceeds bomb_min_bytes."""
    bomb_min_bytes: int = caps.ZIP_BOMB_MIN_BYTES
    """Size under which no ratio makes an entry a bomb."""
    bomb_scan_bytes: int = caps.ZIP_BOMB_SCAN_BYTES
    """Prefix of a declared bomb that is inflated and analysed."""
    max_zip_entries: int = caps.MAX_ZIP_ENTRIES
    """Entries listed from one archive."""
    max_json_bytes: int = caps.MAX_JSON_BYTES
    """Bytes of one JSON document parsed."""
    max_tensors: int = caps.MAX_TENSORS
    """Tensor entries checked per file."""
    max_template_chars: int = caps.MAX_TEMPLATE_CHARS
    """Characters of one chat template analysed."""
    max_findings_per_rule: int = caps.MAX_FINDINGS_PER_RULE
    """Findings listed per file and rule; the rest are counted."""


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class Scope:
    """The file a finding belongs to and the chain of containers inside it."""

    file: str  # display path (as given on the command line, joined with the path inside a folder)
    entry: str | None = None  # "archive/data.pkl", "x.npz > arr.npy", "data.pkl > nested pickle @ 120"
    path: Path | None = None  # the file on disk, when the buffer is the whole file
    root: Path | None = None  # the release folder, for references to sibling files (ONNX external data)
    depth: int = 0
    name: str = ""  # the innermost name (file or entry name), for name-based hints

    def child(self, entry: str, *, name: str | None = None) -> Scope:
        chain = f"{self.entry} > {entry}" if self.entry else entry
        return replace(self, entry=chain, path=None, depth=self.depth + 1, name=name or entry)


@dataclass
class Sink:
    """Collects findings for one top-level file. Thread-safe; repeated findings are counted, not repeated."""

    limits: Limits = DEFAULT_LIMITS
    findings: list[Finding] = field(default_factory=list)
    _seen: dict[tuple[str, str | None, str | None, str], int] = field(default_factory=dict)
    _per_rule: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(
        self,
        scope: Scope,
        rule_id: str,
        message: str,
        *,
        evidence: str | None = None,
        offset: int | None = None,
        opcode_index: int | None = None,
        pointer: str | None = None,
        entry: str | None = None,
    ) -> None:
        r = rule(rule_id)
        where = scope.entry if entry is None else (f"{scope.entry} > {entry}" if scope.entry else entry)
        key = (rule_id, where, evidence, message if evidence is None else "")
        with self._lock:
            if key in self._seen:
                self._seen[key] += 1
                return
            count = self._per_rule.get(rule_id, 0)
            self._per_rule[rule_id] = count + 1
            if count >= self.limits.max_findings_per_rule:
                return
            self._seen[key] = 1
            self.findings.append(
                Finding(
                    rule_id=rule_id,
                    severity=r.severity,
                    file=scope.file,
                    location=Location(entry=where, offset=offset, opcode_index=opcode_index, pointer=pointer),
                    message=message,
                    evidence=evidence,
                )
            )

    def finish(self) -> list[Finding]:
        """The findings, with repeat counts folded into their messages."""
        out: list[Finding] = []
        for f in self.findings:
            key = (f.rule_id, f.location.entry, f.evidence, f.message if f.evidence is None else "")
            n = self._seen.get(key, 1)
            out.append(f if n == 1 else f.model_copy(update={"message": f"{f.message} ({n} occurrences)"}))
        for rule_id, count in self._per_rule.items():
            extra = count - self.limits.max_findings_per_rule
            if extra > 0 and out:
                first = next(f for f in out if f.rule_id == rule_id)
                out.append(
                    first.model_copy(
                        update={"message": f"{extra} more {rule_id} findings not listed", "evidence": None}
                    )
                )
        return out


class Dispatch(Protocol):
    """Detect a buffer's format(s) by content and run the matching analysers (engine.analyse_buffer)."""

    def __call__(self, buf: Buffer, scope: Scope, ctx: Ctx, /) -> list[ArtifactFormat]: ...


@dataclass
class Ctx:
    """Handed to every analyser: the sink, the limits, and the dispatcher for nested content."""

    sink: Sink
    dispatch: Dispatch
    limits: Limits = DEFAULT_LIMITS
    # Files outside the one being scanned that its content makes a loader read (joblib array files),
    # by real path, once analysed: a file naming itself many times is analysed once.
    loaded_files: set[str] = field(default_factory=set)

    def add(
        self,
        scope: Scope,
        rule_id: str,
        message: str,
        *,
        evidence: str | None = None,
        offset: int | None = None,
        opcode_index: int | None = None,
        pointer: str | None = None,
        entry: str | None = None,
    ) -> None:
        self.sink.add(
            scope,
            rule_id,
            message,
            evidence=evidence,
            offset=offset,
            opcode_index=opcode_index,
            pointer=pointer,
            entry=entry,
        )

    def nested(self, buf: Buffer, scope: Scope) -> list[ArtifactFormat]:
        """Analyse content found inside content, unless the nesting is already too deep."""
        if scope.depth > self.limits.max_depth:
            self.add(
                scope,
                "archive.decompression-limit",
                f"nesting deeper than {self.limits.max_depth} levels was not analysed",
            )
            return []
        return self.dispatch(buf, scope, self)
