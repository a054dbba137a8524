"""safetensors: 8-byte header length, JSON header, raw buffer (docs/reference/formats.md "safetensors").

`read_header` is the one parser of the header for inspect (`read`, below) and scan
(`scan/safetensors_files.py`): it reads 8 + N bytes through a `ByteSource` and applies the caps of
`modelwarden.limits` (header length, entry count, dimensions), so both judge the same parsed header.

We parse the header ourselves rather than through `safetensors.safe_open`: the library rejects a
file at the first problem with a generic error, while inspect must name the exact problem (which
tensor overlaps which, which offset leaves the file), keep reading what is sound, and treat an
unknown dtype as a finding rather than a crash. Only the header is read — O(header) bytes, never
tensor data — and its declared length is checked against the file size and the reference
implementation's 100 MB cap before anything is allocated.

The sharded index (`model.safetensors.index.json`) is read here too: its `weight_map` says which
shard holds which tensor, and its `metadata.total_size` is **bytes**, not parameters.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelwarden.artifacts.problems import ArtifactProblem
from modelwarden.artifacts.source import ByteSource, LocalFile
from modelwarden.limits import SAFETENSORS_MAX_DIMS, SAFETENSORS_MAX_HEADER, SAFETENSORS_MAX_TENSORS

if TYPE_CHECKING:
    from modelwarden.model import ArtifactInfo, Problem, TensorInfo

# Bits per element of every dtype the reference implementation accepts (its `Dtype` enum); sub-byte
# types pack several elements per byte. A dtype outside it is refused by the loader: a scan finding,
# an inspect warning (its size cannot be checked).
DTYPE_BITS = {
    "BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8, "I16": 16, "U16": 16,
    "F16": 16, "BF16": 16, "I32": 32, "U32": 32, "F32": 32, "I64": 64, "U64": 64, "F64": 64, "C64": 64,
    "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6,
}  # fmt: skip


@dataclass
class SafetensorsHeader:
    """What a safetensors header declares, parsed once for inspect and scan alike."""

    size: int
    """File size in bytes."""
    header_len: int = 0
    """The declared JSON header length N (the file's first 8 bytes)."""
    metadata: Any = None
    """The raw `__metadata__` value (a string-to-string map in a valid file), None when absent."""
    entries: dict[str, Any] = field(default_factory=dict)
    """Tensor name -> its raw entry (`dtype`, `shape`, `data_offsets`), in header order."""
    fatal: ArtifactProblem | None = None
    """The problem that stopped parsing (length, count, JSON, duplicate key); nothing else is set."""

    @property
    def data_start(self) -> int:
        """Where the tensor data buffer begins: after the length and the header."""
        return 8 + self.header_len


def read_header(src: ByteSource, *, max_tensors: int = SAFETENSORS_MAX_TENSORS) -> SafetensorsHeader:
    """Parse the header of `src`, reading 8 + N bytes and never tensor data; never raises for a bad file."""
    h = SafetensorsHeader(size=src.size)
    try:
        raw = _header_bytes(src, h)
        _check_entry_count(raw, max_tensors)
        doc = _parse_json(raw)
    except ArtifactProblem as exc:
        h.fatal = exc
        return h
    h.metadata = doc.pop("__metadata__", None)
    if len(doc) > max_tensors:
        h.fatal = ArtifactProblem("too_many_tensors", f"header declares {len(doc):,} tensors")
        return h
    h.entries = doc
    return h


def _header_bytes(src: ByteSource, h: SafetensorsHeader) -> bytes:
    size = h.size
    if size < 8:
        raise ArtifactProblem("truncated", f"file is {size} bytes, too short for a safetensors header length")
    (n,) = struct.unpack("<Q", src.read_at(0, 8))
    h.header_len = n
    if n > SAFETENSORS_MAX_HEADER:
        raise ArtifactProblem(
            "header_too_large",
            f"declared header length {n:,} bytes exceeds the {SAFETENSORS_MAX_HEADER:,}-byte cap",
        )
    if 8 + n > size:
        raise ArtifactProblem(
            "header_beyond_file",
            f"declared header length {n:,} bytes runs past the end of the {size:,}-byte file (truncated?)",
        )
    header = src.read_at(8, n)
    if len(header) != n:
        raise ArtifactProblem("truncated", f"header ends after {len(header):,} of {n:,} bytes")
    return header


def _check_entry_count(header: bytes, cap: int) -> None:
    """Refuse a header with more tensors than `cap` before json.loads builds an object per entry.

    Counted on the raw bytes (~50 ms for the 100 MB maximum): `"data_offsets"` once per tensor for
    the message, and `:` as the hard bound — every JSON member has one, however its key is escaped,
    and a tensor entry has four (name, dtype, shape, data_offsets).
    """
    tensors = header.count(b'"data_offsets"')
    members = header.count(b":")
    if tensors > cap or members > 4 * cap + 1024:
        raise ArtifactProblem(
            "too_many_tensors",
            f"header declares {f'{tensors:,} tensors' if tensors else f'{members:,} entries'}, more than "
            f"the {cap:,} read from one file (real checkpoints hold at most ~100,000 per file); not read",
        )


def _parse_json(header: bytes) -> dict[str, Any]:
    # UTF-8 only, as the reference implementation (json.loads would also accept UTF-16 and UTF-32), and
    # a key given twice is refused: two readers could take different entries for the same name.
    try:
        doc = json.loads(header.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except _Duplicate as exc:
        raise ArtifactProblem("invalid_header", f"header repeats the key {exc.args[0][:80]!r}") from None
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ArtifactProblem("invalid_json", f"header is not valid UTF-8 JSON ({_short(exc)})") from None
    if not isinstance(doc, dict):
        raise ArtifactProblem("invalid_header", "header JSON is not an object of tensor entries")
    return doc


class _Duplicate(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Duplicate(key)
            seen.add(key)
    return out


def check_shape(shape: Any) -> list[int] | str:
    """`shape` when it is a list of at most SAFETENSORS_MAX_DIMS non-negative integers, else why not."""
    if not isinstance(shape, list) or not all(_is_uint(d) for d in shape):
        return f"shape {str(shape)[:80]} is not a list of non-negative integers"
    if len(shape) > SAFETENSORS_MAX_DIMS:
        return f"shape has {len(shape)} dimensions, more than the {SAFETENSORS_MAX_DIMS} loaders accept"
    return shape


# ---------------------------------------------------------------------------------------------------
# inspect: the header as an ArtifactInfo
# ---------------------------------------------------------------------------------------------------


def read(path: Path, rel: str, *, size: int, head: bytes = b"") -> ArtifactInfo:
    """Inspect one safetensors file on disk (`size`, `head`: the caller's stat and detection window,
    kept for the reader interface; the header is read through the file's ByteSource)."""
    with LocalFile(path, name=rel) as src:
        return read_source(src, rel)


def read_source(src: ByteSource, rel: str) -> ArtifactInfo:
    """Inspect a safetensors file through any byte source: 8 + N header bytes only."""
    from modelwarden.model import ArtifactFormat, ArtifactInfo, Problem

    h = read_header(src)
    if h.fatal is not None:
        raise h.fatal
    info = ArtifactInfo(path=rel, format=ArtifactFormat.SAFETENSORS, size=h.size, bytes_read=h.data_start)
    meta_raw = h.metadata or {}
    if not isinstance(meta_raw, dict):
        raise ArtifactProblem("invalid_header", "__metadata__ is not a string-to-string map")
    info.metadata = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in meta_raw.items()}
    if not all(isinstance(v, str) for v in meta_raw.values()):
        info.problems.append(
            Problem(
                file=rel,
                code="invalid_header",
                message="__metadata__ has values that are not strings (the reference loader refuses it)",
            )
        )
    tensors, problems = _validate(h.entries, rel, data_start=h.data_start, size=h.size)
    info.tensors = tensors
    info.problems.extend(problems)
    return info


def _validate(
    entries: dict[str, Any], rel: str, *, data_start: int, size: int
) -> tuple[list[TensorInfo], list[Problem]]:
    from modelwarden.artifacts.tensors import numel
    from modelwarden.model import Problem, TensorInfo, TensorKind

    problems: list[Problem] = []
    tensors: list[TensorInfo] = []

    def add(code: str, message: str, *, warning: bool = False) -> None:
        if len(problems) < 50:
            problems.append(
                Problem(file=rel, code=code, message=message, severity="warning" if warning else "error")
            )

    for name, entry in entries.items():
        if not isinstance(entry, dict):
            add("invalid_header", f"tensor {name!r}: entry is not an object")
            continue
        dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
        if not isinstance(dtype, str):
            add("invalid_header", f"tensor {name!r}: dtype missing or not a string")
            continue
        checked = check_shape(shape)
        if isinstance(checked, str):
            add("absurd_shape", f"tensor {name!r}: {checked}")
            continue
        shape = checked
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_uint(o) for o in offsets)):
            add("invalid_header", f"tensor {name!r}: data_offsets {str(offsets)[:80]} is not [begin, end]")
            continue
        begin, end = offsets
        count = numel(shape)
        bits = DTYPE_BITS.get(dtype)
        if bits is None:
            add(
                "unknown_dtype",
                f"tensor {name!r}: unknown dtype {dtype!r} (size check skipped)",
                warning=True,
            )
        else:
            needed = (count * bits + 7) // 8
            if needed != end - begin and needed > size:
                add(
                    "absurd_shape",
                    f"tensor {name!r}: shape {shape} ({count:.3g} elements of {dtype}) cannot fit "
                    f"in a {size:,}-byte file",
                )
                continue
            if needed != end - begin:
                add(
                    "size_mismatch",
                    f"tensor {name!r}: {dtype} {shape} needs {needed:,} bytes but data_offsets span "
                    f"{end - begin:,}",
                )
        if end < begin:
            add("invalid_offsets", f"tensor {name!r}: data_offsets end {end} is before begin {begin}")
            continue
        tensors.append(
            TensorInfo.model_construct(
                name=name,
                dtype=dtype,
                shape=tuple(shape),
                kind=TensorKind.PARAMETER,
                parameters=count,
                component=None,
                data_offsets=(data_start + begin, data_start + end),
            )
        )
    problems.extend(_check_layout(tensors, rel, data_start=data_start, size=size))
    return tensors, problems


def _check_layout(tensors: list[TensorInfo], rel: str, *, data_start: int, size: int) -> list[Problem]:
    """Offsets must be inside the file and must not overlap; holes are reported as warnings."""
    from modelwarden.model import Problem

    problems: list[Problem] = []
    spans = sorted((t.data_offsets, t.name) for t in tensors if t.data_offsets is not None)
    cursor, previous = data_start, None
    for (begin, end), name in spans:
        if end > size:
            problems.append(
                Problem(
                    file=rel,
                    code="offset_out_of_range",
                    message=f"tensor {name!r} ends at byte {end:,}, beyond the end of the {size:,}-byte file "
                    "(truncated?)",
                )
            )
        if previous is not None and begin < cursor:
            problems.append(
                Problem(
                    file=rel,
                    code="overlapping_offsets",
                    message=f"tensors {previous!r} and {name!r} overlap (bytes {begin:,}-{cursor:,})",
                )
            )
        elif begin > cursor:
            problems.append(
                Problem(
                    file=rel,
                    code="gap_in_offsets",
                    message=f"{begin - cursor:,} unused bytes before tensor {name!r}",
                    severity="warning",
                )
            )
        if end >= cursor:
            cursor, previous = end, name
        if len(problems) >= 50:
            break
    return problems


def _is_uint(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) <= 120 else text[:117] + "..."


# ---------------------------------------------------------------------------------------------------
# Sharded checkpoints: model.safetensors.index.json (and pytorch_model.bin.index.json)
# ---------------------------------------------------------------------------------------------------


def read_index(doc: Any, rel: str) -> tuple[dict[str, str], int | None, list[Problem]]:
    """`weight_map` (tensor -> shard, relative to the index's folder) and `metadata.total_size` (bytes)."""
    problems: list[Problem] = []
    if not isinstance(doc, dict) or not isinstance(doc.get("weight_map"), dict):
        problems.append(Problem(file=rel, code="invalid_index", message="index has no weight_map object"))
        return {}, None, problems
    weight_map: dict[str, str] = {}
    checked: dict[str, bool] = {}  # a few hundred distinct shards behind up to ~100k entries
    for tensor, shard in doc["weight_map"].items():
        ok = checked.get(shard) if isinstance(shard, str) else False
        if ok is None:
            ok = checked[shard] = bool(shard) and not shard.startswith("/") and ".." not in Path(shard).parts
        if not ok:
            problems.append(
                Problem(
                    file=rel,
                    code="invalid_index",
                    message=f"weight_map entry {str(tensor)[:60]!r} -> {str(shard)[:60]!r} is not a shard "
                    "file inside the folder",
                )
            )
            continue
        weight_map[str(tensor)] = shard
    total = doc.get("metadata", {}).get("total_size") if isinstance(doc.get("metadata"), dict) else None
    total_size = int(total) if isinstance(total, int | float) and not isinstance(total, bool) else None
    return weight_map, total_size, problems
