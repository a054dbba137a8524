"""safetensors header checks over the shared reader (artifacts/safetensors.py; docs/reference/formats.md
"safetensors"; docs/reference/scanners.md §6 and §14).

safetensors cannot run code, but a hostile header can make loaders allocate huge buffers or read out
of bounds, and bytes after the data buffer can hide a second format (a polyglot): those are scanned too.
"""

from __future__ import annotations

import math
from typing import Any

from modelwarden.artifacts.safetensors import DTYPE_BITS, check_shape, read_header
from modelwarden.artifacts.source import BufferSource
from modelwarden.scan.context import Buffer, Ctx, Scope, View

# The shared reader's fatal problems, as the scan's rules.
_FATAL_RULES = {
    "truncated": "safetensors.header-size",
    "header_too_large": "safetensors.header-size",
    "header_beyond_file": "safetensors.header-size",
    "too_many_tensors": "safetensors.too-many-tensors",
}


def analyse_safetensors(buf: Buffer, scope: Scope, ctx: Ctx) -> None:
    size = len(buf)
    h = read_header(BufferSource(buf, scope.file), max_tensors=ctx.limits.max_tensors)
    if h.fatal is not None:
        rule = _FATAL_RULES.get(h.fatal.code, "safetensors.invalid-header")
        if size < 8:
            ctx.add(scope, rule, h.fatal.message)
        elif rule == "safetensors.header-size":
            ctx.add(scope, rule, h.fatal.message, offset=0, evidence=str(h.header_len))
        else:
            ctx.add(scope, rule, h.fatal.message, offset=8)
        return
    n = h.header_len
    header = h.entries
    data_start = 8 + n
    data_len = size - data_start
    meta = h.metadata
    if meta is not None and (
        not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values())
    ):
        ctx.add(
            scope, "safetensors.metadata", "__metadata__ must map strings to strings", pointer="/__metadata__"
        )
    spans: list[tuple[int, int, str]] = []
    for name, info in header.items():
        span = _tensor(name, info, data_len, scope, ctx)
        if span:
            spans.append(span)
    spans.sort()
    cursor = 0
    for begin, end, name in spans:
        if begin < cursor:
            ctx.add(
                scope,
                "safetensors.overlap",
                f"tensor {name!r} overlaps the previous tensor",
                pointer=f"/{name}",
            )
        elif begin > cursor:
            ctx.add(
                scope,
                "safetensors.overlap",
                f"{begin - cursor} unused bytes before tensor {name!r}",
                pointer=f"/{name}",
            )
        cursor = max(cursor, end)
    if cursor < data_len:
        ctx.add(
            scope,
            "safetensors.trailing-data",
            f"{data_len - cursor} bytes follow the last tensor",
            offset=data_start + cursor,
        )
        tail = View(buf, data_start + cursor, size)
        inner = scope.child(f"bytes after the tensors from byte {data_start + cursor}", name=scope.name)
        ctx.nested(tail, inner)


def _tensor(name: str, info: Any, data_len: int, scope: Scope, ctx: Ctx) -> tuple[int, int, str] | None:
    where = f"/{name}"
    if not isinstance(info, dict):
        ctx.add(scope, "safetensors.invalid-tensor", f"entry {name!r} is not an object", pointer=where)
        return None
    dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
    if dtype not in DTYPE_BITS:
        ctx.add(
            scope, "safetensors.invalid-tensor", f"tensor {name!r} has unknown dtype {dtype!r}", pointer=where
        )
        return None
    checked = check_shape(shape)
    if isinstance(checked, str):
        ctx.add(scope, "safetensors.invalid-tensor", f"tensor {name!r}: {checked}", pointer=where)
        return None
    shape = checked
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
        or not 0 <= offsets[0] <= offsets[1]
    ):
        ctx.add(
            scope,
            "safetensors.invalid-tensor",
            f"tensor {name!r} has invalid data_offsets {offsets!r}",
            pointer=where,
        )
        return None
    begin, end = offsets
    if end > data_len:
        ctx.add(
            scope,
            "safetensors.invalid-tensor",
            f"tensor {name!r} ends at byte {end} of a {data_len}-byte data buffer",
            pointer=where,
        )
        return None
    bits = math.prod(shape) * DTYPE_BITS[dtype]
    need = (bits + 7) // 8
    if need != end - begin:
        ctx.add(
            scope,
            "safetensors.invalid-tensor",
            f"tensor {name!r}: shape {shape} × {dtype} is {need} bytes but its offsets span {end - begin}",
            pointer=where,
        )
    return begin, end, name
