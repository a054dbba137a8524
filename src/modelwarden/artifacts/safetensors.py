"""safetensors: 8-byte header length, JSON header, raw buffer (formats.md "safetensors").

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
from pathlib import Path
from typing import Any

from modelwarden.artifacts.problems import MAX_DIMS, MAX_TENSORS, SAFETENSORS_MAX_HEADER, ArtifactProblem
from modelwarden.artifacts.tensors import DTYPE_BITS, numel
from modelwarden.model import ArtifactFormat, ArtifactInfo, Problem, TensorInfo, TensorKind
from modelwarden.untrusted.io import open_regular


def read(path: Path, rel: str, *, size: int, head: bytes = b"") -> ArtifactInfo:
    header, bytes_read = _read_header(path, size, head)
    info = ArtifactInfo(path=rel, format=ArtifactFormat.SAFETENSORS, size=size, bytes_read=bytes_read)
    data_start = 8 + len(header)
    meta, entries = _parse_header(header)
    info.metadata = meta
    info.tensors, problems = _validate(entries, rel, data_start=data_start, size=size)
    info.problems.extend(problems)
    return info


def _read_header(path: Path, size: int, head: bytes) -> tuple[bytes, int]:
    if size < 8:
        raise ArtifactProblem("truncated", f"file is {size} bytes, too short for a safetensors header length")
    with open_regular(path) as fh:
        prefix = head if len(head) >= 8 else fh.read(8)
        (n,) = struct.unpack("<Q", prefix[:8])
        if n > SAFETENSORS_MAX_HEADER:
            raise ArtifactProblem(
                "header_too_large",
                f"declared header length {n:,} bytes exceeds the {SAFETENSORS_MAX_HEADER:,}-byte cap",
            )
        if 8 + n > size:
            raise ArtifactProblem(
                "header_beyond_file",
                f"declared header length {n:,} bytes runs past the end of the {size:,}-byte file "
                "(truncated?)",
            )
        if len(head) >= 8 + n:
            return head[8 : 8 + n], len(head)
        fh.seek(8)
        header = fh.read(n)
    if len(header) != n:
        raise ArtifactProblem("truncated", f"header ends after {len(header):,} of {n:,} bytes")
    return header, 8 + n + (len(head) if head else 0)


def _parse_header(header: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    _check_entry_count(header)
    try:
        doc = json.loads(header)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactProblem("invalid_json", f"header is not valid JSON ({_short(exc)})") from None
    if not isinstance(doc, dict):
        raise ArtifactProblem("invalid_header", "header JSON is not an object of tensor entries")
    meta_raw = doc.pop("__metadata__", None) or {}
    if not isinstance(meta_raw, dict):
        raise ArtifactProblem("invalid_header", "__metadata__ is not a string-to-string map")
    meta = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in meta_raw.items()}
    if len(doc) > MAX_TENSORS:
        raise ArtifactProblem("too_many_tensors", f"header declares {len(doc):,} tensors")
    return meta, doc


def _check_entry_count(header: bytes) -> None:
    """Refuse a header with more tensors than MAX_TENSORS before json.loads builds an object per entry.

    Counted on the raw bytes (~50 ms for the 100 MB maximum): `"data_offsets"` once per tensor for
    the message, and `:` as the hard bound — every JSON member has one, however its key is escaped,
    and a tensor entry has four (name, dtype, shape, data_offsets).
    """
    tensors = header.count(b'"data_offsets"')
    members = header.count(b":")
    if tensors > MAX_TENSORS or members > 4 * MAX_TENSORS + 1024:
        raise ArtifactProblem(
            "too_many_tensors",
            f"header declares {f'{tensors:,} tensors' if tensors else f'{members:,} entries'}, more than "
            f"the {MAX_TENSORS:,} read from one file (real checkpoints hold at most ~100,000 per file); "
            "not read",
        )


def _validate(
    entries: dict[str, Any], rel: str, *, data_start: int, size: int
) -> tuple[list[TensorInfo], list[Problem]]:
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
        if not isinstance(shape, list) or not _is_shape(shape):
            add(
                "absurd_shape",
                f"tensor {name!r}: shape {str(shape)[:80]} is not a list of non-negative integers",
            )
            continue
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


def _is_shape(shape: Any) -> bool:
    return isinstance(shape, list) and len(shape) <= MAX_DIMS and all(_is_uint(d) for d in shape)


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
