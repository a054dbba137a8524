"""A bounded protobuf wire-format walker, for the few fields of ONNX and SavedModel the scanner needs.

The `onnx` package (and TensorFlow's protos) parse whole messages into memory, initializer bytes
included; walking the wire format instead lets the scanner read node ops, domains and external-data
locations while skipping tensor bytes, in O(fields) and without the 2 GB protobuf limit. Hostile input
raises `WireError` (never IndexError or a hang); nesting depth is capped by the callers.
"""

from __future__ import annotations

from collections.abc import Iterator

from modelwarden.scan.context import Buffer

VARINT, FIXED64, LEN, FIXED32 = 0, 1, 2, 5


class WireError(ValueError):
    pass


def fields(buf: Buffer, start: int = 0, end: int | None = None) -> Iterator[tuple[int, int, int, int]]:
    """Yield (field number, wire type, a, b) for each field in [start, end).

    For LEN fields (a, b) is the payload's byte range; for numeric fields a is the value and b is 0.
    """
    end = len(buf) if end is None else end
    if end > len(buf) or start < 0:
        raise WireError("message extends past the end of the data")
    pos = start
    while pos < end:
        key, pos = varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise WireError(f"field number 0 at offset {pos}")
        if wire == VARINT:
            value, pos = varint(buf, pos, end)
            yield number, wire, value, 0
        elif wire == LEN:
            length, pos = varint(buf, pos, end)
            if length > end - pos:
                raise WireError(f"length {length} at offset {pos} runs past the message")
            yield number, wire, pos, pos + length
            pos += length
        elif wire == FIXED64:
            if pos + 8 > end:
                raise WireError("truncated fixed64")
            yield number, wire, int.from_bytes(buf[pos : pos + 8], "little"), 0
            pos += 8
        elif wire == FIXED32:
            if pos + 4 > end:
                raise WireError("truncated fixed32")
            yield number, wire, int.from_bytes(buf[pos : pos + 4], "little"), 0
            pos += 4
        else:
            raise WireError(f"unsupported wire type {wire} at offset {pos}")


def varint(buf: Buffer, pos: int, end: int) -> tuple[int, int]:
    chunk = buf[pos : min(end, pos + 10)]
    result = 0
    for i, byte in enumerate(chunk):
        result |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return result, pos + i + 1
    raise WireError(f"unterminated varint at offset {pos}")


def text(buf: Buffer, a: int, b: int, limit: int = 4096) -> str:
    return buf[a : min(b, a + limit)].decode("utf-8", errors="replace")
