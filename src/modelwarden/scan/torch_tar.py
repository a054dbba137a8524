"""Legacy PyTorch tar checkpoints (torch < 0.4: members `sys_info`, `storages`, `tensors`, `pickle`),
read member by member the way `torch.load` still reads them.

`torch.serialization._legacy_load` tries this format first for any file it can read directly from
offset 0 — whatever the file's first bytes say, as long as `tarfile` accepts it — and then reads:

- `storages`: a pickle (the count), then per storage a pickle `(key, location, storage_type)`
  followed by the raw storage (int64 element count, then count x element size bytes), then a pickle of
  storage views. Every one of those pickles is unpickled by plain `pickle.load`; raw bytes in between
  are skipped exactly (zero bytes are data, not padding, and what follows them is unpickled).
- `tensors`: a pickle (the count), then per tensor a pickle `(key, storage_id, type)` followed by
  int32 ndim, 4 bytes, ndim int64 sizes, ndim int64 strides, an int64 offset.
- `pickle`: the object graph, unpickled with a persistent_load hook.

`tarfile` returns the last member of a name, so that is the one analysed as torch reads it; the
other members (and earlier copies) are scanned by content by the generic tar walk.
"""

from __future__ import annotations

import posixpath
import struct
import tarfile
from dataclasses import dataclass

from modelwarden.artifacts import pickle_vm as vm
from modelwarden.artifacts.detect import (
    is_tar_header as is_tar_header,
)  # moved there: the engine checks every file
from modelwarden.scan import pickles
from modelwarden.scan.context import Buffer, Ctx, Scope

TORCH_MEMBERS = ("storages", "tensors", "pickle")
# Bytes per element of the legacy typed storage classes (torch._utils._element_size of their dtype;
# checked against torch in tests).
_STORAGE_ELEMENT_SIZE = {
    "FloatStorage": 4, "DoubleStorage": 8, "HalfStorage": 2, "BFloat16Storage": 2, "LongStorage": 8,
    "IntStorage": 4, "ShortStorage": 2, "CharStorage": 1, "ByteStorage": 1, "BoolStorage": 1,
    "ComplexFloatStorage": 8, "ComplexDoubleStorage": 16, "QInt8Storage": 1, "QUInt8Storage": 1,
    "QInt32Storage": 4, "QUInt4x2Storage": 1, "QUInt2x4Storage": 1,
}  # fmt: skip
_STORAGE_MODULES = ("torch", "torch.cuda")


@dataclass
class _Cursor:
    """Position in one member, shared by the pickles and raw records read from it."""

    buf: Buffer
    pos: int = 0


def resolve_members(
    last: dict[str, tarfile.TarInfo], members: list[tarfile.TarInfo], scope: Scope, ctx: Ctx
) -> dict[str, tarfile.TarInfo]:
    """The member whose bytes torch reads under each name. torch extracts the member and opens what
    was extracted: a hard link extracts the member it names (its data is read as that name), a
    symbolic link makes torch read whatever file it points to — outside the archive."""
    out: dict[str, tarfile.TarInfo] = {}
    for name, member in last.items():
        if member.isfile():
            out[name] = member
        elif member.islnk():
            target = posixpath.normpath(member.linkname)
            before = members[: members.index(member)]
            found = next((m for m in reversed(before) if posixpath.normpath(m.name) == target), None)
            if found is not None and found.isfile():
                out[name] = found
        elif member.issym():
            ctx.add(
                scope,
                "torch.legacy-tar-unverified",
                f"member {name!r} is a symbolic link to {member.linkname!r}: torch.load extracts it and"
                " unpickles the file it points to, which is not in the archive",
                entry=name,
                evidence=member.linkname,
            )
    return out


def analyse_members(members: dict[str, Buffer], scope: Scope, ctx: Ctx) -> None:
    """The three members torch reads, each as torch reads it (`members` holds the last of each name)."""
    ctx.add(
        scope,
        "torch.legacy-tar",
        "legacy PyTorch tar checkpoint: torch.load unpickles its storages, tensors and pickle members",
    )
    # In torch's order; a missing member makes the load stop there.
    if "storages" not in members:
        return
    _storages(members["storages"], scope.child("storages", name="storages"), ctx)
    if "tensors" not in members:
        return
    _tensors(members["tensors"], scope.child("tensors", name="tensors"), ctx)
    if "pickle" in members:
        pickles.analyse_stream(members["pickle"], scope.child("pickle", name="pickle"), ctx, context="torch")


def _pickle(cur: _Cursor, scope: Scope, ctx: Ctx, what: str) -> vm.PickleTrace | None:
    """One `pickle.load` at the cursor; None when the stream breaks (the loader fails there, after
    running what came before — which judge_trace has reported)."""
    trace = vm.walk(cur.buf, cur.pos, max_ops=ctx.limits.max_pickle_ops)
    pickles.judge_trace(trace, scope, ctx, context="plain")
    if trace.error or not trace.complete:
        return None
    cur.pos = trace.end
    return trace


def _count(trace: vm.PickleTrace | None, scope: Scope, ctx: Ctx, what: str) -> int | None:
    if trace is None:
        return None
    if type(trace.result) is not int or trace.result < 0:
        _ambiguous(scope, ctx, trace.start, f"the {what} count is {pickles.describe(trace.result)}")
        return None
    return int(trace.result)


def _ambiguous(scope: Scope, ctx: Ctx, offset: int, why: str) -> None:
    ctx.add(
        scope,
        "torch.legacy-tar-unverified",
        f"{why}: where torch.load reads the next pickle cannot be computed; the rest is unverified",
        offset=offset,
    )


def _storages(buf: Buffer, scope: Scope, ctx: Ctx) -> None:
    cur = _Cursor(buf)
    count = _count(_pickle(cur, scope, ctx, "storage count"), scope, ctx, "storage")
    if count is None:
        return
    for _ in range(count):
        if cur.pos >= len(buf):
            return  # the loader fails here (end of member): nothing more runs
        args = _pickle(cur, scope, ctx, "storage record")
        if args is None:
            return
        size = _element_size(args.result)
        if size is None:
            _ambiguous(scope, ctx, args.start, f"storage record {pickles.describe(args.result)}")
            return
        raw = buf[cur.pos : cur.pos + 8]
        if len(raw) < 8:
            return
        (numel,) = struct.unpack("<q", raw)
        if numel < 0:
            return  # the loader refuses a negative size
        cur.pos += 8 + numel * size
    if cur.pos < len(buf):
        _pickle(cur, scope, ctx, "storage views")


def _element_size(record: object) -> int | None:
    if not (isinstance(record, tuple) and len(record) == 3):
        return None
    storage_type = record[2]
    if not isinstance(storage_type, vm.Global) or storage_type.module not in _STORAGE_MODULES:
        return None
    return _STORAGE_ELEMENT_SIZE.get(storage_type.name)


def _tensors(buf: Buffer, scope: Scope, ctx: Ctx) -> None:
    cur = _Cursor(buf)
    count = _count(_pickle(cur, scope, ctx, "tensor count"), scope, ctx, "tensor")
    if count is None:
        return
    for _ in range(count):
        if cur.pos >= len(buf) or _pickle(cur, scope, ctx, "tensor record") is None:
            return
        raw = buf[cur.pos : cur.pos + 4]
        if len(raw) < 4:
            return
        (ndim,) = struct.unpack("<i", raw)
        if ndim < 0:
            return  # struct.unpack of a negative count fails: the load stops
        cur.pos += 8 + 16 * ndim + 8
