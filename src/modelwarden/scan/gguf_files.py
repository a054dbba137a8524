"""GGUF files: a bounded walk over the metadata key-values to find and check chat templates.

`gguf.GGUFReader` builds a NumPy view per field and per tensor (slow on 150k-token vocabularies) and
trusts declared counts; the scanner only needs the `tokenizer.chat_template*` strings and a sanity check
of the header, so it walks the key-values itself with every count and length bounded by the file size
(reference/formats.md "GGUF"; scanners.md techniques 10 and 14).
"""

from __future__ import annotations

import math
import struct

from modelwarden.scan.context import Buffer, Ctx, Scope

# GGUF value types: uint8 0, int8 1, uint16 2, int16 3, uint32 4, int32 5, float32 6, bool 7, string 8,
# array 9, uint64 10, int64 11, float64 12.
_FIXED = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_STRING, _ARRAY = 8, 9
_MAX_KV = 1 << 20
_DEFAULT_ALIGNMENT = 32
_MAX_DIMS = 4  # GGML_MAX_DIMS: llama.cpp refuses more
_MAX_TENSORS = 1 << 18  # real GGUF files hold a few thousand tensors (DeepSeek-V3 shards ~1,000)
_INT64_MAX = (1 << 63) - 1
_MAX_NESTING = 16


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

    def skip_value(self, vtype: int, depth: int = 0) -> None:
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
                # Arrays of arrays recurse: bound the depth (no real file nests at all).
                if depth >= _MAX_NESTING:
                    raise _Malformed(f"arrays nested more than {_MAX_NESTING} deep")
                for _ in range(count):
                    self.skip_value(_ARRAY, depth + 1)
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
        if n_tensors > _MAX_TENSORS:
            raise _Malformed(
                f"{n_tensors} tensors declared, more than the {_MAX_TENSORS} this scanner checks (real"
                " GGUF files hold a few thousand): the tensor infos were not checked"
            )
        alignment = _DEFAULT_ALIGNMENT
        for _ in range(n_kv):
            key = cur.string()
            vtype = cur.unpack("I")
            at = cur.pos
            if key.startswith("tokenizer.chat_template") and vtype == _STRING:
                templates.append((key, cur.string(), at))
            elif key == "general.alignment":
                if vtype != 4:
                    raise _Malformed(f"general.alignment has value type {vtype}; loaders require uint32 (4)")
                alignment = cur.unpack("I")
                if alignment == 0 or alignment & (alignment - 1):
                    raise _Malformed(f"general.alignment {alignment} is not a power of two")
            else:
                cur.skip_value(vtype)
        # Two passes over the tensor infos: the data section starts after the last one, and every
        # offset counts from there. Nothing per tensor is kept but a hash of its name.
        infos_at = cur.pos
        for _ in range(n_tensors):
            _tensor_info(cur)
        data_start = -(-cur.pos // alignment) * alignment
        cur.pos = infos_at
        seen: set[int] = set()
        for _ in range(n_tensors):
            _check_tensor(_tensor_info(cur), alignment, data_start, len(buf), seen, scope, ctx)
    except _Malformed as exc:
        ctx.add(scope, "gguf.malformed", str(exc), offset=cur.pos)
    for key, text, offset in templates:
        analyse_template(text, scope, ctx, label=f"{key} (metadata value at byte {offset})")


def _tensor_info(cur: _Cursor) -> tuple[str, list[int], int, int, int]:
    at = cur.pos
    name = cur.string()
    n_dims = cur.unpack("I")
    if n_dims > _MAX_DIMS:
        raise _Malformed(f"tensor {name[:80]!r} declares {n_dims} dimensions (at most {_MAX_DIMS})")
    dims = [cur.unpack(cur.len_fmt) for _ in range(n_dims)]
    ggml_type = cur.unpack("I")
    offset = cur.unpack("Q")
    return name, dims, ggml_type, offset, at


def _check_tensor(
    info: tuple[str, list[int], int, int, int],
    alignment: int,
    data_start: int,
    size: int,
    seen: set[int],
    scope: Scope,
    ctx: Ctx,
) -> None:
    """A tensor info must describe bytes a loader can map: a known type, sane dimensions, an aligned
    offset, data inside the file, a name no other tensor has. Loaders compute pointers from these
    values, so a bad one is a refusal at best and an out-of-bounds read at worst (scanners.md 14)."""
    from gguf import GGML_QUANT_SIZES  # the format's vocabulary: block size and bytes per block

    name, dims, ggml_type, offset, at = info
    label = repr(name[:80])

    def bad(problem: str) -> None:
        ctx.add(scope, "gguf.malformed", f"tensor {label}: {problem}", offset=at, evidence=name[:80])

    key = hash(name)  # a 64-bit hash: a false "duplicate" among <= 2**18 names is ~1e-9 likely
    if key in seen:
        bad("name is used by an earlier tensor")
    seen.add(key)
    sizes = GGML_QUANT_SIZES.get(ggml_type)  # type: ignore[call-overload]
    if sizes is None:
        bad(f"unknown ggml type {ggml_type}")
        return
    block, type_size = sizes
    if any(d > _INT64_MAX for d in dims) or math.prod(dims) > _INT64_MAX:
        bad(f"dimensions {dims} overflow a 64-bit element count")
        return
    if dims and dims[0] % block:
        bad(f"first dimension {dims[0]} is not a multiple of the type's block size {block}")
        return
    n_bytes = math.prod(dims) // block * type_size
    if offset % alignment:
        bad(f"data offset {offset} is not a multiple of the alignment {alignment}")
    data_len = max(0, size - data_start)
    if offset > data_len or n_bytes > data_len - offset:
        bad(
            f"data [{offset}, {offset + n_bytes}) runs past the end of the {data_len}-byte data section"
            " (truncated file or out-of-range offset)"
        )


def analyse_template(source: str, scope: Scope, ctx: Ctx, *, label: str) -> None:
    # jinja2 is imported only when a file carries a template: most scans never need it.
    from modelwarden.scan.templates import analyse_template as analyse

    analyse(source, scope, ctx, label=label)
