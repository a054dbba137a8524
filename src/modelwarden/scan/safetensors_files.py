"""safetensors header validation (reference/formats.md "safetensors"; scanners.md techniques 6 and 14).

safetensors cannot run code, but a hostile header can make loaders allocate huge buffers or read out
of bounds, and bytes after the data buffer can hide a second format (a polyglot): those are scanned too.
"""

from __future__ import annotations

import json
import math
import struct
from typing import Any

from modelwarden.scan.context import Buffer, Ctx, Scope, View

HEADER_CAP = 100_000_000  # the reference implementation's limit

# Bits per element. Sub-byte types pack several elements per byte.
DTYPE_BITS = {
    "BOOL": 8,
    "U8": 8,
    "I8": 8,
    "F8_E5M2": 8,
    "F8_E4M3": 8,
    "F8_E8M0": 8,
    "I16": 16,
    "U16": 16,
    "F16": 16,
    "BF16": 16,
    "I32": 32,
    "U32": 32,
    "F32": 32,
    "I64": 64,
    "U64": 64,
    "F64": 64,
    "C64": 64,
    "F4": 4,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
}


def analyse_safetensors(buf: Buffer, scope: Scope, ctx: Ctx) -> None:
    size = len(buf)
    if size < 8:
        ctx.add(scope, "safetensors.header-size", "file is shorter than the 8-byte header length")
        return
    (n,) = struct.unpack("<Q", buf[:8])
    if n > HEADER_CAP or 8 + n > size:
        ctx.add(
            scope,
            "safetensors.header-size",
            f"header length {n} exceeds {'the file' if 8 + n > size else 'the 100 MB cap'} ({size} bytes)",
            offset=0,
            evidence=str(n),
        )
        return
    raw = buf[8 : 8 + n]
    # Counted before json.loads builds an object per entry (1.3M tiny tensors: 1.1 GB, 8 s): every
    # JSON member has a ':' however its key is escaped, and a tensor entry has four.
    tensors, members = raw.count(b'"data_offsets"'), raw.count(b":")
    cap = ctx.limits.max_tensors
    if tensors > cap or members > 4 * cap + 1024:
        ctx.add(
            scope,
            "safetensors.too-many-tensors",
            f"header declares {f'{tensors} tensors' if tensors else f'{members} entries'}, more than the"
            f" {cap} this scanner checks; the tensor entries were not checked",
            offset=8,
        )
        return
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except _Duplicate as exc:
        ctx.add(scope, "safetensors.invalid-header", f"header repeats the key {exc.args[0]!r}", offset=8)
        return
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        ctx.add(scope, "safetensors.invalid-header", f"header is not UTF-8 JSON: {exc}", offset=8)
        return
    if not isinstance(header, dict):
        ctx.add(scope, "safetensors.invalid-header", "header is not a JSON object", offset=8)
        return
    data_start = 8 + n
    data_len = size - data_start
    meta = header.pop("__metadata__", None)
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
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        ctx.add(
            scope, "safetensors.invalid-tensor", f"tensor {name!r} has invalid shape {shape!r}", pointer=where
        )
        return None
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


class _Duplicate(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise _Duplicate(k)
        out[k] = v
    return out
