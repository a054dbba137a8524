"""GGUF (llama.cpp): metadata and tensor infos, read from the header only (formats.md "GGUF").

Layout: magic `GGUF`, version, tensor count, key-value count, typed key-values, tensor infos (name,
dims, ggml type, offset), then aligned tensor data (`general.alignment`, default 32). Dimensions are
logical element counts even for block-quantised types, so product(dims) is a tensor's parameter
count. Shapes are reported row-major (ggml stores the innermost dimension first).

The `gguf` package supplies the format's vocabulary (value types, quantisation types and their
block sizes); the header walk is our own. `gguf.GGUFReader` builds a numpy view for every element of
every metadata array: for a Llama-3 vocabulary (128k tokens, 280k merges) that takes several seconds
and memory in proportion. Here arrays are stepped over by their declared lengths, every length is
checked against the file before it is used, and only small values are kept; long arrays (the
vocabulary) are summarised by their length, and `tokenizer.chat_template` is kept as text for `scan`
(it is code an inference server renders). Tests check this walk against `GGUFReader` on files written
by the `gguf` package.
"""

from __future__ import annotations

import math
import mmap
import struct
from pathlib import Path
from typing import Any

from modelwarden.artifacts.problems import MAX_DIMS, MAX_TENSORS, ArtifactProblem
from modelwarden.model import ArtifactFormat, ArtifactInfo, Problem, TensorInfo, TensorKind
from modelwarden.untrusted.io import open_regular

MAX_ARRAY_KEPT = 64
MAX_STRING_KEPT = 256 * 1024
MAX_KV = 1_000_000
DEFAULT_ALIGNMENT = 32

# GGUFValueType: struct code of each scalar type.
_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_STRING, _ARRAY = 8, 9


class _Header:
    """A bounds-checked cursor over the mapped file."""

    def __init__(self, buf: mmap.mmap, size: int) -> None:
        self.buf = buf
        self.size = size
        self.pos = 0
        self.order = "<"

    def take(self, n: int, what: str) -> int:
        if n < 0 or self.pos + n > self.size:
            raise ArtifactProblem(
                "truncated", f"{what} at byte {self.pos:,} runs past the end of the {self.size:,}-byte file"
            )
        start = self.pos
        self.pos += n
        return start

    def scalar(self, code: str, what: str) -> Any:
        n = struct.calcsize(code)
        return struct.unpack_from(self.order + code, self.buf, self.take(n, what))[0]

    def string(self, what: str, *, keep: bool = True) -> str | int:
        length = self.scalar("Q", what)
        start = self.take(length, what)
        if not keep:
            return int(length)
        return bytes(self.buf[start : start + length]).decode("utf-8", errors="replace")


def read(path: Path, rel: str, *, size: int) -> ArtifactInfo:
    if size < 24:
        raise ArtifactProblem("truncated", f"file is {size} bytes, too short for a GGUF header")
    with open_regular(path) as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        h = _Header(buf, size)
        if bytes(buf[:4]) != b"GGUF":
            raise ArtifactProblem("invalid_gguf", "not a GGUF file (bad magic)")
        h.pos = 4
        version = h.scalar("I", "version")
        if version & 0xFFFF == 0:  # written on a big-endian machine
            h.order = ">"
            version = struct.unpack(">I", struct.pack("<I", version))[0]
        if version not in (2, 3):
            raise ArtifactProblem(
                "unsupported_version", f"GGUF version {version} is not supported (2 and 3 are)"
            )
        n_tensors = h.scalar("Q", "tensor count")
        n_kv = h.scalar("Q", "key-value count")
        if n_tensors > MAX_TENSORS or n_kv > MAX_KV:
            raise ArtifactProblem(
                "too_many_entries", f"header declares {n_tensors:,} tensors and {n_kv:,} keys"
            )
        metadata = _metadata(h, n_kv)
        infos = [_tensor_info(h) for _ in range(n_tensors)]
        header_end = h.pos
    info = ArtifactInfo(path=rel, format=ArtifactFormat.GGUF, size=size, bytes_read=header_end)
    info.metadata = {"GGUF.version": version, **metadata}
    alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
        info.problems.append(
            Problem(file=rel, code="invalid_gguf", message=f"general.alignment {alignment!r} is invalid")
        )
        alignment = DEFAULT_ALIGNMENT
    data_start = -(-header_end // alignment) * alignment
    info.tensors = _tensors(infos, rel, data_start, size, info.problems)
    return info


def _metadata(h: _Header, count: int) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    for _ in range(count):
        key = str(h.string("metadata key"))
        vtype = h.scalar("I", f"type of {key!r}")
        meta[key] = _value(h, vtype, key)
    return meta


def _value(h: _Header, vtype: int, key: str) -> Any:
    if vtype in _SCALARS:
        return h.scalar(_SCALARS[vtype], f"value of {key!r}")
    if vtype == _STRING:
        length = h.scalar("Q", f"value of {key!r}")
        h.pos -= 8
        if length > MAX_STRING_KEPT:
            return {"string_length": h.string(f"value of {key!r}", keep=False)}
        return h.string(f"value of {key!r}")
    if vtype == _ARRAY:
        itype = h.scalar("I", f"item type of {key!r}")
        n = h.scalar("Q", f"length of {key!r}")
        if itype in _SCALARS:
            width = struct.calcsize(_SCALARS[itype])
            start = h.take(n * width, f"array {key!r}")
            if n > MAX_ARRAY_KEPT:
                return {"array_length": n}
            return list(struct.unpack_from(f"{h.order}{n}{_SCALARS[itype]}", h.buf, start))
        if itype == _STRING:
            if n * 8 > h.size - h.pos:
                raise ArtifactProblem(
                    "truncated", f"array {key!r} declares {n:,} strings, more than the file holds"
                )
            keep = n <= MAX_ARRAY_KEPT
            items = [h.string(f"item of {key!r}", keep=keep) for _ in range(n)]
            return items if keep else {"array_length": n}
        raise ArtifactProblem("invalid_gguf", f"array {key!r} has unsupported item type {itype}")
    raise ArtifactProblem("invalid_gguf", f"key {key!r} has unknown value type {vtype}")


def _tensor_info(h: _Header) -> tuple[str, list[int], int, int]:
    name = str(h.string("tensor name"))
    n_dims = h.scalar("I", f"dimensions of {name!r}")
    if n_dims > MAX_DIMS:
        raise ArtifactProblem("absurd_shape", f"tensor {name!r} declares {n_dims:,} dimensions")
    dims = [h.scalar("Q", f"shape of {name!r}") for _ in range(n_dims)]
    qtype = h.scalar("I", f"type of {name!r}")
    offset = h.scalar("Q", f"offset of {name!r}")
    return name, dims, qtype, offset


def _tensors(
    infos: list[tuple[str, list[int], int, int]],
    rel: str,
    data_start: int,
    size: int,
    problems: list[Problem],
) -> list[TensorInfo]:
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

    tensors: list[TensorInfo] = []
    for name, dims, raw_type, offset in infos:
        try:
            qtype = GGMLQuantizationType(raw_type)
            block, type_size = GGML_QUANT_SIZES[qtype]
        except (ValueError, KeyError):
            problems.append(
                Problem(
                    file=rel, code="unknown_dtype", message=f"tensor {name!r}: unknown ggml type {raw_type}"
                )
            )
            continue
        count = math.prod(dims)
        n_bytes = count * type_size // block
        start = data_start + offset
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
