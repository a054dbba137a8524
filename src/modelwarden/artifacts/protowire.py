"""A bounded protobuf wire-format walker, for the fields of ONNX and SavedModel the readers need.

The `onnx` package (and TensorFlow's protos) parse whole messages into memory, initializer bytes
included; walking the wire format instead reads names, shapes, node ops, domains and external-data
locations while stepping over tensor bytes by their declared lengths, in O(fields). The walker reads
any sliceable bytes: an mmap, or a `source.Window` over a `ByteSource` (only what it slices is
fetched). Hostile input raises `WireError` (never IndexError or a hang); nesting depth is capped by
the callers.
"""

from __future__ import annotations

from collections.abc import Iterator

from modelwarden.artifacts.source import Sliceable as Buffer

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
    """A string field, cut at `limit` bytes, invalid UTF-8 replaced."""
    return buf[a : min(b, a + limit)].decode("utf-8", errors="replace")


def proto_text(buf: Buffer, a: int, b: int) -> str:
    """A proto2 string field as protobuf returns it: whole, and, since proto2 does not check UTF-8,
    invalid bytes kept visible as `\\xNN` escapes (reports and JSON carry them without failing)."""
    return buf[a:b].decode("utf-8", "backslashreplace")


def signed64(value: int) -> int:
    """An int64 varint as a signed value (negative numbers are encoded as 10-byte two's complement)."""
    value &= (1 << 64) - 1
    return value - (1 << 64) if value >> 63 else value


def signed32(value: int) -> int:
    """An int32 varint as protobuf reads it: the low 32 bits, signed."""
    value &= (1 << 32) - 1
    return value - (1 << 32) if value >> 31 else value
