"""GGUF (llama.cpp): the one header reader behind inspect and scan (docs/reference/formats.md "GGUF").

Layout: magic `GGUF`, version, tensor count, key-value count, typed key-values, tensor infos (name,
dims, ggml type, offset), then aligned tensor data (`general.alignment`, default 32). Dimensions are
logical element counts even for block-quantised types, so product(dims) is a tensor's parameter
count. Shapes are reported row-major (ggml stores the innermost dimension first).

`read_header` walks the header through a `ByteSource`, reading only header bytes (tensor data is
never touched, long arrays are stepped over by their declared lengths), so the same walk serves a
local file and, later, byte ranges of a remote one. It refuses what llama.cpp's own reader
(ggml/src/gguf.cpp) refuses, with the caps of `modelwarden.limits`, and never raises for a bad
file: a problem that stops the walk is `GGUFHeader.fatal`, a refusal that leaves the rest readable
is one of `GGUFHeader.defects`. Inspect (`read`) turns these into problems, scan
(`scan/gguf_files.py`) into findings: the two cannot disagree on what the file holds.

The `gguf` package supplies the vocabulary (quantisation types and their block sizes); the walk is
our own because `gguf.GGUFReader` builds a NumPy view per element of every metadata array (seconds
for a 128k-token vocabulary) and trusts declared counts. Long arrays (the vocabulary) are summarised
by their length; `tokenizer.chat_template*` strings are kept whole for the scan (a template is code
an inference server renders). Tests check this walk against `GGUFReader` on files it wrote.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelwarden.artifacts.problems import ArtifactProblem
from modelwarden.artifacts.source import ByteSource, LocalFile, Window
from modelwarden.limits import (
    GGUF_MAX_ARRAY_KEPT,
    GGUF_MAX_DIMS,
    GGUF_MAX_KV,
    GGUF_MAX_NAME_BYTES,
    GGUF_MAX_STRING_KEPT,
    GGUF_MAX_TEMPLATE_BYTES,
    GGUF_MAX_TENSORS,
)

if TYPE_CHECKING:
    from modelwarden.model import ArtifactInfo, Problem, TensorInfo

DEFAULT_ALIGNMENT = 32
HEADER_BYTES = 24  # magic, version, tensor count, key-value count
_INT64_MAX = (1 << 63) - 1
# Smallest encodings: a key-value (8-byte key length, 4-byte type, a 1-byte value) and a tensor info
# (8-byte name length, 4-byte n_dims, 4-byte type, 8-byte offset). A count beyond what the file can
# hold at that size is refused before any loop runs.
_MIN_KV_BYTES, _MIN_TENSOR_INFO_BYTES = 13, 24

# GGUF value types and their struct codes: uint8 0, int8 1, uint16 2, int16 3, uint32 4, int32 5,
# float32 6, bool 7, string 8, array 9, uint64 10, int64 11, float64 12.
_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_STRING, _ARRAY, _UINT32 = 8, 9, 4


@dataclass
class GGUFDefect:
    """Something llama.cpp refuses, where in the file it is, and inspect's problem code for it."""

    code: str
    """Inspect's problem code (truncated, invalid_gguf, too_many_entries, absurd_shape, ...)."""
    message: str
    """What is wrong, naming the key or tensor."""
    offset: int
    """Byte offset in the file where the reader found it."""


@dataclass
class GGUFTensorInfo:
    """One tensor info as declared in the header."""

    name: str
    """The tensor's name."""
    dims: list[int]
    """Element counts in ggml order (innermost first)."""
    ggml_type: int
    """The raw ggml type number (may be unknown)."""
    offset: int
    """Data offset relative to the start of the data section."""
    at: int
    """Byte offset of this tensor info in the file."""


@dataclass
class GGUFHeader:
    """Everything the header declares, as far as it could be read."""

    size: int
    """File size in bytes."""
    version: int = 0
    """GGUF version (2 or 3 once accepted)."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """Key-values: scalars, short strings and arrays kept, long ones as {"string_length"}/{"array_length"}."""
    templates: list[tuple[str, str | None, int, int]] = field(default_factory=list)
    """(key, text, offset, length in bytes) of every `tokenizer.chat_template*` string: the text whole,
    or None beyond GGUF_MAX_TEMPLATE_BYTES (not read)."""
    alignment: int = DEFAULT_ALIGNMENT
    """The data alignment in force (the default when general.alignment is refused)."""
    tensors: list[GGUFTensorInfo] = field(default_factory=list)
    """Tensor infos read (all of them unless `fatal`)."""
    header_end: int = 0
    """End of the last byte read of the header (the last tensor info when complete)."""
    data_start: int = 0
    """Start of the aligned data section (meaningful only without `fatal`)."""
    fatal: GGUFDefect | None = None
    """The problem that stopped the walk; what follows it was not read."""
    defects: list[GGUFDefect] = field(default_factory=list)
    """Refusals that left the rest readable (duplicate keys, a bad general.alignment)."""


class _Stop(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class _Cursor:
    """A bounds-checked position in the source: nothing is read before its length is checked."""

    def __init__(self, win: Window) -> None:
        self.win = win
        self.size = len(win)
        self.pos = 0
        self.order = "<"

    def take(self, n: int, what: str) -> int:
        if n < 0 or self.pos + n > self.size:
            raise _Stop(
                "truncated", f"{what} at byte {self.pos:,} runs past the end of the {self.size:,}-byte file"
            )
        start = self.pos
        self.pos += n
        return start

    def read(self, n: int, what: str) -> bytes:
        start = self.take(n, what)
        return self.win.bytes_at(start, n)

    def skip_strings(self, n: int, what: str) -> None:
        """Step over `n` strings (a vocabulary): their lengths are read, their bytes are not."""
        pos, size, fmt, win = self.pos, self.size, self.order + "Q", self.win
        for _ in range(n):
            if pos + 8 > size:
                break
            (length,) = struct.unpack(fmt, win.bytes_at(pos, 8))
            if length > size - pos - 8:
                break
            pos += 8 + length
        else:
            self.pos = pos
            return
        self.pos = pos
        raise _Stop("truncated", f"{what} at byte {pos:,} runs past the end of the {size:,}-byte file")

    def scalar(self, code: str, what: str) -> Any:
        return struct.unpack(self.order + code, self.read(struct.calcsize(code), what))[0]

    def string(self, what: str) -> str:
        """A key or tensor name: read whole, up to GGUF_MAX_NAME_BYTES."""
        length = self.scalar("Q", what)
        if length > GGUF_MAX_NAME_BYTES and self.pos + length <= self.size:
            raise _Stop("invalid_gguf", f"{what} at byte {self.pos:,} is {length:,} bytes long")
        return self.read(length, what).decode("utf-8", errors="replace")


def read_header(src: ByteSource) -> GGUFHeader:
    """Walk a GGUF header through `src`. Never raises for a bad file (see `GGUFHeader.fatal`)."""
    win = Window(src)
    h = GGUFHeader(size=src.size)
    cur = _Cursor(win)
    try:
        _walk(cur, h)
    except _Stop as stop:
        h.fatal = GGUFDefect(stop.code, stop.message, cur.pos)
    h.header_end = cur.pos
    if h.fatal is None:
        h.data_start = -(-cur.pos // h.alignment) * h.alignment
    return h


def _walk(cur: _Cursor, h: GGUFHeader) -> None:
    if h.size < HEADER_BYTES:
        raise _Stop("truncated", f"file is {h.size} bytes, too short for a GGUF header")
    if cur.read(4, "magic") != b"GGUF":
        raise _Stop("invalid_gguf", "not a GGUF file (bad magic)")
    version = cur.scalar("I", "version")
    if version & 0xFFFF == 0:  # written on a big-endian machine (llama.cpp's own test)
        cur.order = ">"
        version = struct.unpack(">I", struct.pack("<I", version))[0]
    if version not in (2, 3):  # llama.cpp: "GGUFv1 is no longer supported", later ones unknown
        raise _Stop("unsupported_version", f"GGUF version {version} is not supported (2 and 3 are)")
    h.version = version
    n_tensors = cur.scalar("Q", "tensor count")
    n_kv = cur.scalar("Q", "key-value count")
    if n_tensors > GGUF_MAX_TENSORS or n_kv > GGUF_MAX_KV:
        raise _Stop(
            "too_many_entries",
            f"header declares {n_tensors:,} tensors and {n_kv:,} keys (at most {GGUF_MAX_TENSORS:,} "
            f"tensors and {GGUF_MAX_KV:,} keys are read)",
        )
    room = h.size - HEADER_BYTES
    if n_kv * _MIN_KV_BYTES + n_tensors * _MIN_TENSOR_INFO_BYTES > room:
        raise _Stop(
            "truncated",
            f"header declares {n_tensors:,} tensors and {n_kv:,} keys, more than the {h.size:,}-byte "
            "file can hold",
        )
    seen: set[str] = set()
    for _ in range(n_kv):
        _key_value(cur, h, seen)
    for _ in range(n_tensors):
        h.tensors.append(_tensor_info(cur))


def _key_value(cur: _Cursor, h: GGUFHeader, seen: set[str]) -> None:
    at = cur.pos
    key = cur.string("metadata key")
    vtype = cur.scalar("I", f"type of {key!r}")
    if key in seen:  # llama.cpp: "duplicate key"; the last value is the one reported
        h.defects.append(
            GGUFDefect("invalid_gguf", f"key {key[:80]!r} appears twice (llama.cpp refuses)", at)
        )
    seen.add(key)
    value_at = cur.pos
    if key.startswith("tokenizer.chat_template") and vtype == _STRING:
        length = cur.scalar("Q", f"value of {key!r}")
        if length > GGUF_MAX_TEMPLATE_BYTES:
            cur.take(length, f"value of {key!r}")
            h.templates.append((key, None, value_at, length))
            h.metadata[key] = {"string_length": length}
            return
        text = cur.read(length, f"value of {key!r}").decode("utf-8", errors="replace")
        h.templates.append((key, text, value_at, length))
        h.metadata[key] = text if length <= GGUF_MAX_STRING_KEPT else {"string_length": length}
        return
    h.metadata[key] = _value(cur, vtype, key)
    if key == "general.alignment":
        _alignment(h, vtype, h.metadata[key], value_at)


def _alignment(h: GGUFHeader, vtype: int, value: Any, at: int) -> None:
    # llama.cpp reads it with gguf_get_val_u32 (asserting the type) and refuses 0 or a non-power of 2.
    if vtype != _UINT32:
        message = f"general.alignment has value type {vtype}; llama.cpp requires uint32 ({_UINT32})"
    elif value == 0 or value & (value - 1):
        message = f"general.alignment {value!r} is invalid (not a power of two)"
    else:
        h.alignment = value
        return
    h.defects.append(GGUFDefect("invalid_gguf", message, at))
    h.alignment = DEFAULT_ALIGNMENT


def _value(cur: _Cursor, vtype: int, key: str) -> Any:
    if vtype in _SCALARS:
        return cur.scalar(_SCALARS[vtype], f"value of {key!r}")
    if vtype == _STRING:
        return _kept_string(cur, f"value of {key!r}")
    if vtype == _ARRAY:
        return _array(cur, key)
    raise _Stop("invalid_gguf", f"key {key!r} has unknown value type {vtype}")


def _kept_string(cur: _Cursor, what: str) -> str | dict[str, int]:
    """A string value, or its length alone beyond GGUF_MAX_STRING_KEPT (its bytes are not read)."""
    length = cur.scalar("Q", what)
    if length > GGUF_MAX_STRING_KEPT:
        cur.take(length, what)
        return {"string_length": length}
    return cur.read(length, what).decode("utf-8", errors="replace")


def _array(cur: _Cursor, key: str) -> Any:
    itype = cur.scalar("I", f"item type of {key!r}")
    n = cur.scalar("Q", f"length of {key!r}")
    if itype in _SCALARS:
        code = _SCALARS[itype]
        width = struct.calcsize(code)
        if n > GGUF_MAX_ARRAY_KEPT:
            cur.take(n * width, f"array {key!r}")
            return {"array_length": n}
        return list(struct.unpack(f"{cur.order}{n}{code}", cur.read(n * width, f"array {key!r}")))
    if itype == _STRING:
        if n * 8 > cur.size - cur.pos:
            raise _Stop("truncated", f"array {key!r} declares {n:,} strings, more than the file holds")
        if n > GGUF_MAX_ARRAY_KEPT:
            cur.skip_strings(n, f"item of {key!r}")
            return {"array_length": n}
        return [_kept_string(cur, f"item of {key!r}") for _ in range(n)]
    if itype == _ARRAY:
        raise _Stop("invalid_gguf", f"key {key!r} is an array of arrays: llama.cpp refuses nested arrays")
    raise _Stop("invalid_gguf", f"array {key!r} has unsupported item type {itype}")


def _tensor_info(cur: _Cursor) -> GGUFTensorInfo:
    at = cur.pos
    name = cur.string("tensor name")
    n_dims = cur.scalar("I", f"dimensions of {name!r}")
    if n_dims > GGUF_MAX_DIMS:
        raise _Stop(
            "absurd_shape",
            f"tensor {name[:80]!r} declares {n_dims:,} dimensions (llama.cpp refuses more than "
            f"{GGUF_MAX_DIMS}, GGML_MAX_DIMS)",
        )
    dims = [cur.scalar("Q", f"shape of {name!r}") for _ in range(n_dims)]
    qtype = cur.scalar("I", f"type of {name!r}")
    offset = cur.scalar("Q", f"offset of {name!r}")
    return GGUFTensorInfo(name, dims, qtype, offset, at)


def loader_checks(h: GGUFHeader) -> list[tuple[GGUFTensorInfo, str, str]]:
    """(tensor, kind, problem) for every tensor info llama.cpp would refuse, in file order.

    A loader computes pointers from these values, so a bad one is a refusal at best and an
    out-of-bounds read at worst (docs/reference/scanners.md §14). Kinds: duplicate, unknown_type,
    overflow, block, unaligned, out_of_range. Meaningful only for a header read without `fatal`.
    """
    from gguf import GGML_QUANT_SIZES  # the format's vocabulary: block size and bytes per block

    out: list[tuple[GGUFTensorInfo, str, str]] = []
    seen: set[int] = set()
    data_len = max(0, h.size - h.data_start)
    for t in h.tensors:
        key = hash(t.name)  # a 64-bit hash: a false "duplicate" among <= 250,000 names is ~1e-9 likely
        if key in seen:
            out.append((t, "duplicate", "name is used by an earlier tensor"))
        seen.add(key)
        sizes = GGML_QUANT_SIZES.get(t.ggml_type)  # type: ignore[call-overload]
        if sizes is None:
            out.append((t, "unknown_type", f"unknown ggml type {t.ggml_type}"))
            continue
        block, type_size = sizes
        if any(d > _INT64_MAX for d in t.dims) or math.prod(t.dims) > _INT64_MAX:
            out.append((t, "overflow", f"dimensions {t.dims} overflow a 64-bit element count"))
            continue
        if t.dims and t.dims[0] % block:
            out.append(
                (
                    t,
                    "block",
                    f"first dimension {t.dims[0]} is not a multiple of the type's block size {block}",
                )
            )
            continue
        n_bytes = math.prod(t.dims) // block * type_size
        if t.offset % h.alignment:
            out.append(
                (t, "unaligned", f"data offset {t.offset} is not a multiple of the alignment {h.alignment}")
            )
        if t.offset > data_len or n_bytes > data_len - t.offset:
            out.append(
                (
                    t,
                    "out_of_range",
                    f"data [{t.offset}, {t.offset + n_bytes}) runs past the end of the {data_len}-byte data "
                    "section (truncated file or out-of-range offset)",
                )
            )
    return out


# ---------------------------------------------------------------------------------------------------
# inspect: the header as an ArtifactInfo
# ---------------------------------------------------------------------------------------------------

# Refusals inspect reports in its own words (unknown_dtype, absurd_shape, offset_out_of_range below);
# the others become invalid_gguf problems.
_INSPECT_OWN_CHECKS = frozenset({"unknown_type", "overflow", "out_of_range"})


def read(path: Path, rel: str, *, size: int) -> ArtifactInfo:
    """Inspect one GGUF file on disk (`size` is the caller's stat, kept for the reader interface)."""
    with LocalFile(path, name=rel) as src:
        return read_source(src, rel)


def read_source(src: ByteSource, rel: str) -> ArtifactInfo:
    """Inspect a GGUF through any byte source: header bytes only."""
    from modelwarden.model import ArtifactFormat, ArtifactInfo, Problem

    h = read_header(src)
    if h.fatal is not None:
        raise ArtifactProblem(h.fatal.code, h.fatal.message)
    info = ArtifactInfo(path=rel, format=ArtifactFormat.GGUF, size=h.size, bytes_read=h.header_end)
    info.metadata = {"GGUF.version": h.version, **h.metadata}
    info.problems.extend(Problem(file=rel, code=d.code, message=d.message) for d in h.defects)
    info.tensors = _tensors(h, rel, info.problems)
    for t, kind, problem in loader_checks(h):
        if kind not in _INSPECT_OWN_CHECKS and len(info.problems) < 50:
            info.problems.append(
                Problem(file=rel, code="invalid_gguf", message=f"tensor {t.name[:80]!r}: {problem}")
            )
    return info


def _tensors(h: GGUFHeader, rel: str, problems: list[Problem]) -> list[TensorInfo]:
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

    from modelwarden.model import Problem, TensorInfo, TensorKind

    tensors: list[TensorInfo] = []
    size = h.size
    for t in h.tensors:
        name, dims = t.name, t.dims
        try:
            qtype = GGMLQuantizationType(t.ggml_type)
            block, type_size = GGML_QUANT_SIZES[qtype]
        except (ValueError, KeyError):
            problems.append(
                Problem(
                    file=rel,
                    code="unknown_dtype",
                    message=f"tensor {name!r}: unknown ggml type {t.ggml_type}",
                )
            )
            continue
        count = math.prod(dims)
        n_bytes = count * type_size // block
        start = h.data_start + t.offset
        if n_bytes > size:
            problems.append(
                Problem(
                    file=rel,
                    code="absurd_shape",
                    message=f"tensor {name!r}: shape {dims} cannot fit in the file",
                )
            )
            continue
        if start + n_bytes > size and len(problems) < 50:
            problems.append(
                Problem(
                    file=rel,
                    code="offset_out_of_range",
                    message=f"tensor {name!r} ({qtype.name} {list(reversed(dims))}) ends at byte "
                    f"{start + n_bytes:,}, beyond the end of the {size:,}-byte file (truncated?)",
                )
            )
        tensors.append(
            TensorInfo.model_construct(
                name=name,
                dtype=qtype.name,
                shape=tuple(reversed(dims)),
                kind=TensorKind.PARAMETER,
                parameters=count,
                component=None,
                data_offsets=(start, start + n_bytes),
            )
        )
    return tensors
