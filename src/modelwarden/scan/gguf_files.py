"""GGUF files: a bounded walk over the metadata key-values to find and check chat templates.

`gguf.GGUFReader` builds a NumPy view per field and per tensor (slow on 150k-token vocabularies) and
trusts declared counts; the scanner only needs the `tokenizer.chat_template*` strings and a sanity check
of the header, so it walks the key-values itself with every count and length bounded by the file size
(reference/formats.md "GGUF"; scanners.md techniques 10 and 14).
"""

from __future__ import annotations

import struct

from modelwarden.scan.context import Buffer, Ctx, Scope

# GGUF value types: uint8 0, int8 1, uint16 2, int16 3, uint32 4, int32 5, float32 6, bool 7, string 8,
# array 9, uint64 10, int64 11, float64 12.
_FIXED = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_STRING, _ARRAY = 8, 9
_MAX_KV = 1 << 20


class _Malformed(Exception):
    pass


class _Cursor:
    def __init__(self, buf: Buffer, endian: str, len_fmt: str) -> None:
        self.buf, self.pos, self.endian, self.len_fmt = buf, 0, endian, len_fmt
        self.len_size = struct.calcsize(len_fmt)

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.buf):
            raise _Malformed(f"needs {n} bytes at offset {self.pos}, past the end of the file")
        data = self.buf[self.pos : self.pos + n]
        self.pos += n
        return data

    def unpack(self, fmt: str) -> int:
        value: int = struct.unpack(self.endian + fmt, self.take(struct.calcsize(fmt)))[0]
        return value

    def length(self) -> int:
        return self.unpack(self.len_fmt)

    def string(self) -> str:
        return self.take(self.length()).decode("utf-8", errors="replace")

    def skip_value(self, vtype: int) -> None:
        if vtype in _FIXED:
            self.take(_FIXED[vtype])
        elif vtype == _STRING:
            self.take(self.length())
        elif vtype == _ARRAY:
            etype = self.unpack("I")
            count = self.length()
            if etype in _FIXED:
                self.take(count * _FIXED[etype])
            elif etype == _STRING:
                if count > (len(self.buf) - self.pos) // self.len_size:
                    raise _Malformed(f"array of {count} strings cannot fit in the file")
                for _ in range(count):
                    self.take(self.length())
            elif etype == _ARRAY:
                if count > len(self.buf) - self.pos:
                    raise _Malformed(f"array of {count} arrays cannot fit in the file")
                for _ in range(count):
                    self.skip_value(_ARRAY)
            else:
                raise _Malformed(f"unknown array element type {etype}")
        else:
            raise _Malformed(f"unknown value type {vtype}")


def analyse_gguf(buf: Buffer, scope: Scope, ctx: Ctx) -> None:
    head = buf[:24]
    if len(head) < 16:
        ctx.add(scope, "gguf.malformed", "file is shorter than a GGUF header")
        return
    (version,) = struct.unpack("<I", head[4:8])
    endian = "<"
    if version > 0xFFFF:  # a big-endian file (gguf-convert-endian)
        endian = ">"
        (version,) = struct.unpack(">I", head[4:8])
    if version not in (1, 2, 3):
        ctx.add(scope, "gguf.malformed", f"unsupported GGUF version {version}")
        return
    cur = _Cursor(buf, endian, "I" if version == 1 else "Q")
    cur.pos = 8
    templates: list[tuple[str, str, int]] = []
    try:
        n_tensors = cur.length()
        n_kv = cur.length()
        if n_kv > _MAX_KV or n_kv > len(buf) // 8:
            raise _Malformed(f"{n_kv} metadata entries declared")
        if n_tensors > len(buf) // 8:
            raise _Malformed(f"{n_tensors} tensors declared in a {len(buf)}-byte file")
        for _ in range(n_kv):
            key = cur.string()
            vtype = cur.unpack("I")
            at = cur.pos
            if key.startswith("tokenizer.chat_template") and vtype == _STRING:
                templates.append((key, cur.string(), at))
            else:
                cur.skip_value(vtype)
        for _ in range(n_tensors):
            cur.string()
            n_dims = cur.unpack("I")
            if n_dims > 8:
                raise _Malformed(f"tensor with {n_dims} dimensions")
            cur.take(n_dims * cur.len_size)
            cur.take(4 + 8)  # ggml type, data offset
    except _Malformed as exc:
        ctx.add(scope, "gguf.malformed", str(exc), offset=cur.pos)
    for key, text, offset in templates:
        analyse_template(text, scope, ctx, label=f"{key} (metadata value at byte {offset})")


def analyse_template(source: str, scope: Scope, ctx: Ctx, *, label: str) -> None:
    # jinja2 is imported only when a file carries a template: most scans never need it.
    from modelwarden.scan.templates import analyse_template as analyse

    analyse(source, scope, ctx, label=label)
