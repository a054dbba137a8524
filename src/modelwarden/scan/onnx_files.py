"""ONNX models: external-data locations and custom operator domains (docs/reference/scanners.md §11).

Checks over the one ONNX reader (artifacts/onnx.py), which walks the ModelProto wire format (graph,
nested subgraphs of If/Loop/Scan, functions, training graphs) without reading initializer bytes. An
external-data `location` that is absolute or climbs out of the model's folder makes the loader read —
or, when re-saving, overwrite — arbitrary files (CVE-2022-25882 and later bypasses); a location that
resolves through a symlink outside the folder is the same thing.
"""

from __future__ import annotations

import os
import posixpath
import re
from pathlib import Path

from modelwarden.artifacts.onnx import looks_like_model, read_model
from modelwarden.artifacts.source import BufferSource
from modelwarden.limits import ONNX_MAX_BYTES
from modelwarden.scan.context import Buffer, Ctx, Scope
from modelwarden.scan.policy import format_policy

__all__ = ["analyse_onnx", "looks_like_model"]


def analyse_onnx(buf: Buffer, scope: Scope, ctx: Ctx) -> None:
    if len(buf) > ONNX_MAX_BYTES:
        # onnx.load refuses it (protobuf's 2 GiB message limit), as inspect does; the walk goes on, since
        # another loader may still read its graph.
        ctx.add(scope, "onnx.malformed", f"{len(buf):,} bytes is beyond protobuf's 2 GiB limit for a model")
    got = read_model(BufferSource(buf, scope.file))
    if got.fatal is not None:
        ctx.add(scope, "onnx.malformed", f"ModelProto does not parse: {got.fatal}")
    policy = format_policy()["onnx"]
    standard = set(policy["standard_domains"])
    runtime = set(policy["runtime_domains"])
    for domain, offset in got.domains.items():
        if domain in standard:
            continue
        if domain in runtime:
            ctx.add(
                scope,
                "onnx.runtime-domain",
                f"operators of the ONNX Runtime domain {domain!r}",
                evidence=domain,
                offset=offset,
            )
        else:
            ctx.add(
                scope,
                "onnx.custom-domain",
                f"operators of the custom domain {domain!r} need a native library",
                evidence=domain,
                offset=offset,
            )
    for tensor, location, offset in got.locations:
        _check_location(tensor, location, offset, scope, ctx)


def _check_location(tensor: str, location: str, offset: int, scope: Scope, ctx: Ctx) -> None:
    reason = _escapes(location)
    if reason:
        ctx.add(
            scope,
            "onnx.external-data-traversal",
            f"initializer {tensor!r} reads its data from {location!r}, which {reason}",
            evidence=location,
            offset=offset,
        )
        return
    folder = scope.path.parent if scope.path is not None else None
    if folder is None:
        return
    target = folder / location
    if target.is_symlink() or any(
        p.is_symlink() for p in target.parents if p != folder and folder in p.parents
    ):
        real = Path(os.path.realpath(target))
        if not real.is_relative_to(Path(os.path.realpath(folder))):
            ctx.add(
                scope,
                "onnx.external-data-traversal",
                f"initializer {tensor!r} reads {location!r}, a symlink to {real} outside the model folder",
                evidence=location,
                offset=offset,
            )
            return
    if not target.exists():
        ctx.add(
            scope,
            "onnx.external-data-missing",
            f"initializer {tensor!r} needs {location!r}, which is not next to the model",
            evidence=location,
            offset=offset,
        )


_DRIVE = re.compile(r"^[A-Za-z]:")
_PATH_MAX = 4096  # Linux's PATH_MAX


def _escapes(location: str) -> str | None:
    if not location:
        return "is empty"
    if len(location.encode()) > _PATH_MAX:
        # No file system opens it; the reader also cuts strings this long, so the part that would
        # climb out of the folder may not even have been read.
        return f"is longer than any file system path ({_PATH_MAX:,} bytes)"
    if "\x00" in location:
        return "contains a NUL byte"
    if location.startswith(("/", "\\")) or _DRIVE.match(location) or location.startswith("~"):
        return "is an absolute path"
    norm = posixpath.normpath(location.replace("\\", "/"))
    if norm == ".." or norm.startswith("../"):
        return "climbs out of the model folder"
    return None
